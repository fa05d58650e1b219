"""Soak: steady execution events through a real hub process for a long time; RSS and fds must stay flat.

    python bench/bench_soak.py [--duration 60] [--rate 1000] [--agents 4] [--sse 2] [--tasks 10000]
                               [--every 60] [--nice 10]

A hub runs as a child process (loopback, a temp work dir holding ``--tasks`` realistic task files
besides the agents' long tasks). Before it, a hub on a board of only the long tasks is started and
stopped: the difference in RSS after start-up is the memory per task. ``--agents`` protocol agents
each take a long shell task and stream ``task_progress`` execution events at ``rate / agents`` per
second (under the per-connection rate limit); ``--sse`` dashboard clients read ``/events`` the whole
time, so every event crosses the whole pipeline (bus, execution log, broadcaster, SSE). Every
``--every`` seconds one line is printed (and flushed): the hub's RSS, open file descriptors, CPU
used since the last line, ``/health`` status and actor restarts, events sent, the load average.
The load generator lowers its own priority by ``--nice`` once the hub runs (the hub keeps its own).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import trio
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from hub_process import HubProcess

LANES = ("inbox", "done/backend-dev", "done/writer", "dead")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_board(work: Path, agents: int, tasks: int) -> None:
    """The agents' long tasks (critical, so they are assigned first) and ``tasks`` ~1 KB task files
    spread over the inbox, two done lanes and dead (none assigned to an agent that is not there)."""
    board = work / "collaboration"
    for lane in LANES:
        (board / lane).mkdir(parents=True, exist_ok=True)
    for index in range(agents):
        (board / "inbox" / f"long-{index}.yaml").write_text(yaml.safe_dump(
            {"title": f"long task {index}", "shell_command": "sleep 86400", "complexity": "trivial",
             "priority": "critical"}))
    for n in range(tasks):
        lane = LANES[n % len(LANES)]
        (board / lane / f"2026-11-20T{n // 60 % 24:02}{n % 60:02}-task-{n:05}.yaml").write_text(
            f"id: task-{n:05}\n"
            f"title: Task number {n} with a realistic title\n"
            f"priority: {('high', 'medium', 'low')[n % 3]}\n"
            f"status: new\n"
            f"created: 2026-11-20T09:{n % 60:02}:00Z\n"
            f"description: |\n  Some words about what to do for task {n}.\n  A second line.\n"
            f"tags: [soak, lane-{n % 6}]\n"
            f"estimated_hours: {n % 8 + 1}\n"
        )


def settled_rss_kib(hub: HubProcess, expected: int, wait: float = 5.0) -> int:
    """RSS once ``/api/tasks`` lists every task and the hub had ``wait`` s to settle."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = hub.get("/api/tasks", timeout=60).json()
        listed = (len(body["inbox"]) + len(body["dead"]) + sum(map(len, body["assigned"].values()))
                  + sum(map(len, body["done"].values())))
        if listed >= expected:
            break
        time.sleep(0.5)
    time.sleep(wait)
    return hub.rss_kib()


class RawAgentSocket:
    """A WebSocket client written out by hand, so the generator costs a few microseconds per event
    (a busy shared machine must not throttle the soak): frames are masked with the all-zero key
    (RFC 6455 allows any key; with zeros the payload goes out as is), no extensions offered."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    @classmethod
    async def connect(cls, url: str) -> RawAgentSocket:
        parts = urlsplit(url)
        stream = await trio.open_tcp_stream(parts.hostname or "127.0.0.1", parts.port or 80)
        key = base64.b64encode(os.urandom(16)).decode()
        await stream.send_all(
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        socket = cls(stream)
        head = await socket.read_until(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"no WebSocket upgrade: {head[:200]!r}")
        return socket

    async def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            await self.fill()
        end = self.buffer.index(marker) + len(marker)
        head = bytes(self.buffer[:end])
        del self.buffer[:end]
        return head

    async def fill(self, need: int = 1) -> None:
        while len(self.buffer) < need:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise EOFError("the hub closed the connection")
            self.buffer += chunk

    async def read_frame(self) -> tuple[int, bytes]:
        await self.fill(2)
        opcode, length, at = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
        if length == 126:
            await self.fill(4)
            length, at = struct.unpack(">H", self.buffer[2:4])[0], 4
        elif length == 127:
            await self.fill(10)
            length, at = struct.unpack(">Q", self.buffer[2:10])[0], 10
        await self.fill(at + length)
        payload = bytes(self.buffer[at:at + length])
        del self.buffer[:at + length]
        if opcode == 0x9:
            await self.stream.send_all(frame(payload, 0xA))
        return opcode, payload

    async def get_message(self) -> str:
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x1:
                return payload.decode()
            if opcode == 0x8:
                raise EOFError("the hub closed the WebSocket")


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One final client frame, masked with the all-zero key."""
    length = len(payload)
    if length < 126:
        head = struct.pack(">BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        head = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, length)
    return head + b"\0\0\0\0" + payload


async def agent(url: str, agent_id: str, rate: float, until: float, sent: list[int]) -> None:
    ws = await RawAgentSocket.connect(url)
    await ws.stream.send_all(frame(json.dumps({"type": "identify", "agent_id": agent_id, "token": None}).encode()))
    task_id = None
    while task_id is None:
        message = json.loads(await ws.get_message())
        if message["type"] == "task_assign":
            task_id = message["task_id"]
    await ws.stream.send_all(frame(json.dumps({"type": "task_accepted", "task_id": task_id}).encode()))

    async def drain() -> None:
        while True:
            await ws.read_frame()

    # the JSON written out around the two numbers that change (both ids are plain ASCII)
    head = json.dumps({"type": "task_progress", "task_id": task_id}).encode()[:-1] + (
        b', "execution_event": {"event_type": "stdout", "text": "line ')
    middle = f' of {agent_id}", "timestamp": '.encode()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain)
        start, count, skipped = trio.current_time(), 0, 0
        while trio.current_time() < until:
            due = int((trio.current_time() - start) * rate) - skipped
            if due - count > rate:  # more than a second behind (the hub or this process starved)
                skipped += due - count - int(rate)
                sent[2] += due - count - int(rate)
                due = count + int(rate)
            batch = []
            while count < due:
                count += 1
                batch.append(frame(b"%s%d%s%.6f}}" % (head, count, middle, time.time())))
            if batch:
                await ws.stream.send_all(b"".join(batch))
                sent[1] += len(batch)
            await trio.sleep(0.05)  # a chatty agent: a few frames every 50 ms
        sent[0] += count
        nursery.cancel_scope.cancel()
    await ws.stream.aclose()


async def sse_reader(base_url: str, until: float, received: list[int]) -> None:
    """A dashboard holding ``/events`` open, reading everything (raw: counting bytes costs nothing)."""
    parts = urlsplit(base_url)
    stream = await trio.open_tcp_stream(parts.hostname or "127.0.0.1", parts.port or 80)
    async with stream:
        await stream.send_all(f"GET /events HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                              f"Accept: text/event-stream\r\n\r\n".encode())
        with trio.move_on_at(until):
            while chunk := await stream.receive_some(1 << 18):
                received[0] += len(chunk)


Sample = tuple[float, int, int, str, int]  # seconds, RSS KiB, fds, health status, actor restarts


async def sample(hub: HubProcess, client: httpx.AsyncClient, start: float, sent: list[int],
                 last: list[float]) -> Sample:
    assert hub.proc is not None
    try:
        health = (await client.get(hub.base_url + "/health")).json()
        status = str(health.get("status"))
        if status != "ok":
            status += " (" + ", ".join(sorted({str(c).split(":")[0][:40] for c in health.get("conditions", [])})) + ")"
        restarts = sum(a.get("restarts", 0) for a in health.get("actors", []))
    except (httpx.HTTPError, ValueError) as error:
        status, restarts = f"error {type(error).__name__}", -1
    now, cpu = trio.current_time() - start, cpu_seconds(hub.proc.pid)
    row = (now, hub.rss_kib(), fd_count(hub.proc.pid), status, restarts)
    span = max(1e-9, now - last[0])
    print(f"{now:7.0f} s  RSS {row[1] / 1024:6.1f} MiB  fds {row[2]:3}  health {status}  restarts {restarts}  "
          f"events {sent[1]} ({(sent[1] - last[2]) / span:.0f}/s, {sent[2]} behind)  "
          f"hub CPU {(cpu - last[1]) / span:.0%}  "
          f"load {Path('/proc/loadavg').read_text().split()[0]}  at {time.strftime('%H:%M:%S', time.gmtime())}",
          flush=True)
    last[:] = [now, cpu, sent[1]]
    return row


async def sampler(hub: HubProcess, until: float, every: float, sent: list[int], samples: list[Sample]) -> None:
    assert hub.proc is not None
    start = trio.current_time()
    last = [0.0, cpu_seconds(hub.proc.pid), float(sent[1])]
    async with httpx.AsyncClient(timeout=10) as client:
        while trio.current_time() < until:
            samples.append(await sample(hub, client, start, sent, last))
            await trio.sleep_until(min(until, trio.current_time() + every))
        samples.append(await sample(hub, client, start, sent, last))


async def soak(hub: HubProcess, args: argparse.Namespace) -> dict:
    until = trio.current_time() + args.duration
    sent, received, samples = [0, 0, 0], [0], []  # sent: finished agents' total, running count, not sent
    async with trio.open_nursery() as nursery:
        for _ in range(args.sse):
            nursery.start_soon(sse_reader, hub.base_url, until + 1, received)
        for index in range(args.agents):
            nursery.start_soon(agent, hub.ws_url, f"soak-{index}", args.rate / args.agents, until, sent)
        await trio.sleep(2)  # connected and working before the first sample
        nursery.start_soon(sampler, hub, until, args.every, sent, samples)
    return {"sent": sent[0], "behind": sent[2], "sse_bytes": received[0], "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of steady traffic")
    parser.add_argument("--rate", type=float, default=1000.0, help="execution events per second, all agents")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--sse", type=int, default=2, help="dashboard clients reading /events")
    parser.add_argument("--tasks", type=int, default=10000, help="task files on the board besides the long ones")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--nice", type=int, default=10, help="niceness of this load generator (not the hub)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentdeck-soak-") as tmp:
        empty = Path(tmp) / "empty" / "work"
        make_board(empty, args.agents, 0)
        bare = HubProcess(empty, args=("--log-level", "WARNING"))
        bare.start()
        try:
            rss_empty = settled_rss_kib(bare, args.agents)
        finally:
            bare.stop()
        work = Path(tmp) / "work"
        make_board(work, args.agents, args.tasks)
        hub = HubProcess(work, args=("--log-level", "WARNING"))
        hub.start(timeout=120)
        try:
            rss_board = settled_rss_kib(hub, args.agents + args.tasks)
            print(f"hub RSS after start-up: {rss_empty / 1024:.1f} MiB with {args.agents} tasks, "
                  f"{rss_board / 1024:.1f} MiB with {args.tasks + args.agents}: "
                  f"{(rss_board - rss_empty) * 1024 / max(1, args.tasks):.0f} bytes per task", flush=True)
            os.nice(args.nice)
            own = os.times()
            result = trio.run(soak, hub, args)
            own_cpu = os.times().user + os.times().system - own.user - own.system
        finally:
            hub.stop()
    samples = result["samples"]
    (_, rss0, fd0, _, _), (_, rss1, fd1, status, restarts) = samples[0], samples[-1]
    rss_max = max(s[1] for s in samples)
    print(f"duration {args.duration:.0f} s, {args.agents} agents, {args.sse} SSE clients, "
          f"{args.tasks + args.agents} tasks on the board")
    print(f"execution events sent {result['sent']} ({result['sent'] / args.duration:.0f}/s; "
          f"{result['behind']} not sent: more than a second behind), "
          f"SSE bytes received {result['sse_bytes']}")
    print(f"load generator CPU {own_cpu / args.duration:.0%} of a core (nice {args.nice})")
    print(f"hub RSS start {rss0 / 1024:.1f} MiB, end {rss1 / 1024:.1f} MiB, max {rss_max / 1024:.1f} MiB")
    print(f"hub open fds start {fd0}, end {fd1}, max {max(s[2] for s in samples)}")
    print(f"health at the end: {status}, actor restarts {restarts}; "
          f"samples not ok: {sum(s[3] != 'ok' for s in samples)} of {len(samples)}")


if __name__ == "__main__":
    main()
