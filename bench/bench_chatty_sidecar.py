"""A chatty task through the hub, as the Elixir sidecar sends it: one frame per stdout chunk.

A real hub (Hypercorn on 127.0.0.1, every actor, temp work dir) runs in this process; the agent is
``tests/sidecar_client.Sidecar`` (the Node sidecar's wire behaviour) running a command that prints
N lines, ``--pause`` seconds apart. Figures: wall time from start to the done file, against the
floor of the same command run alone with its output read the same way (ratio); frames the agent
sent and frames per second; ``rate_limited`` notices; output events the hub kept (joined over the
rate) and lines delivered or counted as dropped; whether the connection ever closed.

Run: ``python bench/bench_chatty_sidecar.py`` (8,000 lines at 1 ms, as in issue 13) or
``--lines 20000 --pause 0``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import trio
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from sidecar_client import Sidecar

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.actors.messages import GetOutput
from agentdeck.web.server import run_hub

SCRIPT = "import time\nfor i in range({lines}):\n    print('line', i, flush=True)\n    time.sleep({pause})\n"


async def floor(command: str) -> float:
    """The command alone, its stdout read chunk by chunk as the sidecar reads it."""
    started = time.perf_counter()
    process = await trio.lowlevel.open_process(["sh", "-c", command], stdout=-1)
    assert process.stdout is not None
    async for _ in process.stdout:
        pass
    await process.wait()
    return time.perf_counter() - started


async def through_hub(work: Path, command: str) -> dict:
    board = work / "collaboration"
    for lane in ("inbox", "assigned", "done", "dead"):
        (board / lane).mkdir(parents=True, exist_ok=True)
    (board / "inbox" / "chatty.yaml").write_text(yaml.safe_dump(
        {"id": "chatty", "title": "chatty", "shell_command": command, "timeout_seconds": 600}))
    hub = Hub(HubConfig(work_dir=work, port=0, fsync=False))
    async with trio.open_nursery() as nursery:
        addresses = await nursery.start(run_hub, hub)
        base_url = next(a for a in addresses if a.startswith("http://"))
        sidecar = Sidecar(base_url, "sc", work / "sidecar")
        started = time.perf_counter()
        await nursery.start(sidecar.run)
        done = board / "done" / "sc" / "chatty.yaml"
        await sidecar.wait_for("task_ack", timeout=600, task_id="chatty", status="complete")
        took = time.perf_counter() - started
        events = await hub.ask_output(GetOutput("chatty"))
        sidecar.stop()
        hub.stop()
    text = "".join(e.text for e in events)
    dropped = sum(int(e.text.split()[2]) for e in events
                  if e.event_type == "status" and e.text.startswith("[output truncated:"))
    frames = len(sidecar.sent_frames("task_progress"))
    return {"took": took, "frames": frames, "frames_per_s": frames / took,
            "notices": len(sidecar.frames("error", error="rate_limited")), "events": len(events),
            "lines": sum(1 for line in text.splitlines() if line.startswith("line ")),
            "dropped_events": dropped, "closes": sidecar.closes,
            "result": yaml.safe_load(done.read_text())["result"]["status"]}


async def main(lines: int, pause: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "chatty.py"
        script.write_text(SCRIPT.format(lines=lines, pause=pause))
        command = f"{sys.executable} {script}"
        alone = await floor(command)
        hub = await through_hub(Path(tmp) / "work", command)
    print(f"{lines} lines, pause {pause * 1000:g} ms")
    print(f"  floor (command alone)     {alone:7.2f} s")
    print(f"  through the hub           {hub['took']:7.2f} s  (x{hub['took'] / alone:.2f} of the floor)")
    print(f"  frames sent               {hub['frames']:7d}  ({hub['frames_per_s']:.0f}/s)")
    print(f"  rate_limited notices      {hub['notices']:7d}")
    print(f"  output events kept        {hub['events']:7d}  (lines {hub['lines']}, "
          f"dropped events {hub['dropped_events']})")
    print(f"  connection closes         {hub['closes']}  result {hub['result']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=8000)
    parser.add_argument("--pause", type=float, default=0.001)
    args = parser.parse_args()
    trio.run(main, args.lines, args.pause)
