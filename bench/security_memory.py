"""Memory the hub holds under the attacks of issue 12 (items 2, 3, 14, 17), measured as RSS growth.

Runs a real hub in this process on a temp board and, one attack at a time, reports the RSS before,
at the peak and after, in MiB:
- ``deflate``: frames compressed to inflate to 1 GiB each, before identify (item 2);
- ``replay``: 80 task_progress frames of ~1 MB of '&' for an open panel, then every browser leaves (item 3);
- ``sockets``: as many idle never-identified /ws sockets as the fd limit allows, up to 3,000 (item 14);
- ``reports``: 150 agents sending resource_report with 200 junk keys each (item 17).

    python bench/security_memory.py            # all attacks
    python bench/security_memory.py replay     # one
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import resource
import sys
import tempfile
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from raw_ws import RawSocket, deflate_bomb

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.web.server import run_hub


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def trim() -> None:
    """Hand freed heap back to the system (glibc keeps it otherwise), so 'kept' means still in use."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Peak:
    def __init__(self) -> None:
        self.value = rss_mib()

    async def watch(self) -> None:
        while True:
            self.value = max(self.value, rss_mib())
            await trio.sleep(0.005)


async def deflate(port: int, base: str) -> None:
    bomb = deflate_bomb(1024 * 1024 * 1024)
    for _ in range(3):
        sock = await RawSocket.connect(port, "/ws", deflate=True)
        try:
            await sock.send_frame(bomb, compressed=True)  # the hub may hang up before it is all sent
            await sock.close_code(timeout=30)
        except trio.BrokenResourceError:
            pass
        await sock.aclose()
    print(f"  deflate: 3 frames of {len(bomb) / 2**20:.1f} MiB, each inflating to 1 GiB")


async def replay(port: int, base: str, board: Path) -> None:
    (board / "inbox" / "t.yaml").write_text("id: t\ntitle: big output\n")
    sock = await RawSocket.connect(port, "/ws")
    await sock.send_text(json.dumps({"type": "identify", "agent_id": "loud", "token": None}))
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        async with client.stream("GET", "/events", timeout=httpx.Timeout(30, read=30)) as stream:
            task = None
            while task is None:
                _opcode, data = await sock.receive_frame()
                message = json.loads(data)
                if message.get("type") == "task_assign":
                    task = message
            await sock.send_text(json.dumps({"type": "task_accepted", "task_id": "t"}))
            await (await client.get("/tasks/t", headers={"HX-Request": "true"})).aread()
            for _ in range(80):
                await sock.send_text(json.dumps({"type": "task_progress", "task_id": "t", "execution_event": {
                    "event_type": "stdout", "text": "&" * 1_000_000}}))
                await trio.sleep(0.12)
            del stream
    await sock.aclose()
    print("  replay: 80 outputs of 1 MB of '&' to an open stream, then it left")


async def sockets(port: int, base: str) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    count = min(3000, soft - 200)
    opened, refused = [], 0
    for _ in range(count):
        try:
            sock = await RawSocket.connect(port, "/ws")
        except OSError:
            break
        if sock.status == 101:
            opened.append(sock)
        else:
            refused += 1
            await sock.aclose()
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        health = (await client.get("/health")).status_code
    print(f"  sockets: {len(opened)} accepted, {refused} refused (cap), /health {health}")
    await trio.sleep(11)  # past the identify deadline: the hub closes them
    for sock in opened:
        await sock.aclose()


async def reports(port: int, base: str) -> None:
    junk = {f"junk_{i}": "x" * 4000 for i in range(200)}
    socks = []
    for n in range(150):
        sock = await RawSocket.connect(port, "/ws")
        await sock.send_text(json.dumps({"type": "identify", "agent_id": f"a{n}", "token": None}))
        await sock.send_text(json.dumps({"type": "resource_report", "cpu_percent": 1.0, **junk}))
        socks.append(sock)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        size = len((await client.get("/api/agents")).content)
    print(f"  reports: 150 agents x 200 junk keys of 4 KB; /api/agents is {size / 1024:.0f} KiB")
    for sock in socks:
        await sock.aclose()


async def main(which: list[str]) -> None:
    attacks = {"deflate": deflate, "replay": replay, "sockets": sockets, "reports": reports}
    with tempfile.TemporaryDirectory(prefix="agentdeck-mem-") as tmp:
        hub = Hub(HubConfig(work_dir=Path(tmp), port=0, fsync=False))
        async with trio.open_nursery() as nursery:
            base = next(a for a in await nursery.start(run_hub, hub) if a.startswith("http://"))
            port = int(base.rsplit(":", 1)[1])
            for name in which or list(attacks):
                gc.collect()
                before = rss_mib()
                peak = Peak()
                async with trio.open_nursery() as watching:
                    watching.start_soon(peak.watch)
                    attack = attacks[name]
                    args = (port, base, hub.config.board_dir) if name == "replay" else (port, base)
                    await attack(*args)
                    await trio.sleep(1.0)
                    watching.cancel_scope.cancel()
                gc.collect()
                after = rss_mib()
                trim()
                trimmed = rss_mib()
                print(f"{name}: RSS {before:.0f} -> peak {peak.value:.0f} -> after {after:.0f} MiB "
                      f"(+{peak.value - before:.0f} peak, +{after - before:.0f} kept, "
                      f"+{trimmed - before:.0f} once freed memory is returned to the system)")
            hub.stop()


if __name__ == "__main__":
    trio.run(main, sys.argv[1:])
