"""Execution events through one hub: N agents on /ws -> M JSON dashboards on /ws/dashboard.

Three processes, so that only the hub's own work is charged to the hub:

- this one runs the real hub (Hypercorn on 127.0.0.1, every actor, temp work dir), or with
  ``--floor`` the floor: a bare trio-websocket relay that parses each agent frame's JSON and
  forwards the events to every dashboard socket, batched and encoded once as the hub does (no
  validation, no ownership check, no log, no other subscribers);
- an agents process: N agents, each with its own raw WebSocket (frames written one by one, one
  ``task_progress`` with an ~80-character stdout ``execution_event`` per frame, unbatched like the
  Node sidecar's), each holding its own task, paced to R events/s and stamped with the wall clock
  just before the write;
- a dashboards process: M ``/ws/dashboard`` clients (trio-websocket) noting when each event reaches
  them.

Reported per run: events/s offered and delivered (per dashboard), events lost, added latency
(stamp -> dashboard) p50/p95/p99 over every delivery, and the serving process's CPU per event and
share of a core over the sending window. ``--compare`` runs the floor and the hub one after the
other at the same offered load and prints the ratio. The hub's per-connection limit
(``agentdeck.actors.protocol.schema.MAX_FRAMES_PER_SECOND`` by default) caps R, so 20,000 events/s takes 40
agents at 500/s. Run: ``python bench/bench_agent_events.py --compare`` (the default case: 40 agents
x 500/s, 10 dashboards, 10 s), or e.g. ``--agents 10 --rate 100 --dashboards 1 --seconds 5``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.actors.protocol.schema import DEFAULT_FRAME_RATE
from agentdeck.web.server import run_hub

RATE_LIMIT = DEFAULT_FRAME_RATE.per_second
TICKS_PER_SECOND = 100  # each agent writes a few frames every 10 ms, one write per frame
LINE = "compiling module {seq}: " + "x" * 48  # a typical ~80 character stdout line
QUIET_SECONDS = 3.0  # a dashboard that heard nothing for this long after the end has all it gets
SETTLE_SECONDS = 1.0  # connections made, before the agents start


# ---------------------------------------------------------------------------------- agents (child)


async def agents_main(port: int, count: int, rate: float, seconds: float) -> None:
    """Connect ``count`` agents, take one task each, stream events, then print what was sent."""
    from raw_ws import RawSocket

    ready, go, end, all_sent = [0], trio.Event(), trio.Event(), trio.Event()
    sent = [0] * count
    window: list[float] = []

    async def frame(ws: RawSocket) -> dict[str, Any]:
        while True:
            opcode, payload = await ws.receive_frame()
            if opcode == 1:
                return json.loads(payload)

    async def agent(index: int) -> None:
        ws = await RawSocket.connect(port, "/ws")
        assert ws.status == 101, f"agent {index}: handshake answered {ws.status}"
        await ws.send_text(json.dumps({"type": "identify", "agent_id": f"bench-{index}", "token": None}))
        task_id = None
        while task_id is None:
            message = await frame(ws)
            if message["type"] == "task_assign":
                task_id = message["task_id"]
        await ws.send_text(json.dumps({"type": "task_accepted", "task_id": task_id}))
        while (await frame(ws))["type"] != "task_ack":
            pass
        ready[0] += 1
        if ready[0] == count:
            print("READY", flush=True)
        await go.wait()
        prefix = json.dumps({"type": "task_progress", "task_id": task_id})[:-1]
        per_tick = rate / TICKS_PER_SECOND
        start = trio.current_time() + (index / count) / TICKS_PER_SECOND  # spread the agents
        deadline, seq, owed = start + seconds, 0, 0.0
        await trio.sleep_until(start)
        tick = start
        while trio.current_time() < deadline:
            owed += per_tick
            while owed >= 1.0:
                owed -= 1.0
                text = json.dumps(LINE.format(seq=seq))
                await ws.send_text(f'{prefix},"execution_event":{{"event_type":"stdout","text":{text},'
                                   f'"timestamp":{time.time():.6f}}}}}')
                seq += 1
            tick += 1 / TICKS_PER_SECOND
            await trio.sleep_until(tick)
        sent[index] = seq
        window.append(time.time())
        if len(window) == count + 1:
            all_sent.set()
        await end.wait()  # connected until the dashboards have all they will get
        await ws.aclose()

    async with trio.open_nursery() as nursery:
        for index in range(count):
            nursery.start_soon(agent, index)
        line = await trio.to_thread.run_sync(sys.stdin.readline)
        assert line.strip() == "GO", line
        window.append(time.time())
        go.set()
        await all_sent.wait()
        print(f"DONE {sum(sent)} {max(window) - window[0]:.6f}", flush=True)
        await trio.to_thread.run_sync(sys.stdin.readline)
        end.set()


# ---------------------------------------------------------------------------------- dashboards (child)


async def dashboards_main(url: str, count: int) -> None:
    """``count`` dashboard sockets; prints how many events each got and every latency (ms)."""
    from trio_websocket import open_websocket_url

    latencies: list[list[float]] = [[] for _ in range(count)]
    first: list[float] = []
    last = [0.0]
    ready = [0]

    def note(index: int, event: dict[str, Any], now: float) -> None:
        stamp = event.get("timestamp")
        if event.get("type") == "execution_event" and isinstance(stamp, (int, float)):
            latencies[index].append((now - stamp) * 1000)
            if not first:
                first.append(now)
            last[0] = now

    async def dashboard(index: int) -> None:
        async with open_websocket_url(url, max_message_size=64 * 2**20) as ws:
            while json.loads(await ws.get_message())["type"] != "snapshot":
                pass
            ready[0] += 1
            if ready[0] == count:
                print("READY", flush=True)
            while True:
                message = json.loads(await ws.get_message())
                now = time.time()
                kind, data = message.get("type"), message.get("data")
                if kind == "execution_event":
                    note(index, data, now)
                elif kind in ("execution_events", "events") and isinstance(data, list):
                    for event in data:
                        note(index, event, now)

    async with trio.open_nursery() as nursery:
        for index in range(count):
            nursery.start_soon(dashboard, index)
        while not first or time.time() - last[0] < QUIET_SECONDS:  # noqa: ASYNC110 - quiet, not an event
            await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    print("RESULT " + json.dumps({"latencies": latencies, "first": first[0], "last": last[0]}), flush=True)


# ---------------------------------------------------------------------------------- the floor


async def floor_relay(*, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """A bare relay: each agent frame's JSON parsed, its event queued; one task sends what is
    queued as one frame, encoded once, to every dashboard socket (the hub's output protocol)."""
    from trio_websocket import ConnectionClosed, serve_websocket

    dashboards: list[Any] = []
    queued: list[dict[str, Any]] = []
    waiting = trio.Event()

    async def forward() -> None:
        nonlocal waiting
        while True:
            await waiting.wait()
            waiting = trio.Event()
            batch = queued[:]
            queued.clear()
            frame = json.dumps({"type": "execution_events", "data": batch})
            for dashboard in tuple(dashboards):
                with contextlib.suppress(ConnectionClosed):
                    await dashboard.send_message(frame)

    async def handler(request: Any) -> None:
        ws = await request.accept()
        try:
            if request.path == "/ws/dashboard":
                dashboards.append(ws)
                await ws.send_message(json.dumps({"type": "snapshot", "data": {}}))
                await ws.get_message()  # the bench's dashboards never send: wait for the close
                return
            while True:
                message = json.loads(await ws.get_message())
                kind = message.get("type")
                if kind == "identify":
                    await ws.send_message(json.dumps({"type": "task_assign",
                                                      "task_id": f"task-{message['agent_id']}"}))
                elif kind == "task_accepted":
                    await ws.send_message(json.dumps({"type": "task_ack", "task_id": message["task_id"]}))
                elif kind == "task_progress":
                    queued.append({"type": "execution_event", "task_id": message["task_id"],
                                   **message["execution_event"]})
                    waiting.set()
        except ConnectionClosed:
            pass
        finally:
            if ws in dashboards:
                dashboards.remove(ws)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(forward)
        server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        task_status.started(server.port)


# ---------------------------------------------------------------------------------- the run


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else math.nan


async def lines_of(stream: Any):
    buffer = b""
    async for chunk in stream:
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode().strip()


async def until(lines: Any, prefix: str) -> str:
    async for line in lines:
        if line.startswith(prefix):
            return line
    raise RuntimeError(f"a child process ended before saying {prefix}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of another process so far (Linux /proc), NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(*args: object) -> list[str]:
    return [sys.executable, __file__, "--child", *map(str, args)]


async def serve_and_drive(port: int, agents: int, dashboards: int, rate: float, seconds: float) -> dict:
    """Start both children against ``port``, run the load, and gather what they measured."""
    ws_base = f"ws://127.0.0.1:{port}"
    viewers = await trio.lowlevel.open_process(child("dashboards", f"{ws_base}/ws/dashboard", dashboards),
                                               stdout=subprocess.PIPE)
    viewer_lines = lines_of(viewers.stdout)
    senders = await trio.lowlevel.open_process(child("agents", port, agents, rate, seconds),
                                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    sender_lines = lines_of(senders.stdout)
    with trio.fail_after(120):
        await until(viewer_lines, "READY")
        await until(sender_lines, "READY")
    await trio.sleep(SETTLE_SECONDS)
    load_before = os.getloadavg()
    cpu_start, wall_start = time.process_time(), time.time()
    children_start = cpu_seconds(senders.pid), cpu_seconds(viewers.pid)
    assert senders.stdin is not None
    await senders.stdin.send_all(b"GO\n")
    with trio.fail_after(seconds + 120):
        _, sent_text, window_text = (await until(sender_lines, "DONE")).split()
        cpu, wall = time.process_time() - cpu_start, time.time() - wall_start
        children = [cpu_seconds(pid) - start
                    for pid, start in zip((senders.pid, viewers.pid), children_start, strict=True)]
        result = json.loads((await until(viewer_lines, "RESULT")).removeprefix("RESULT "))
    cpu_all, wall_all = time.process_time() - cpu_start, time.time() - wall_start
    await senders.stdin.send_all(b"END\n")
    await senders.wait()
    await viewers.wait()
    sent, window = int(sent_text), float(window_text)
    per_dashboard = [len(values) for values in result["latencies"]]
    every = [value for values in result["latencies"] for value in values]
    span = result["last"] - result["first"]
    return {
        "agents": agents, "dashboards": dashboards, "sent": sent,
        "offered_per_s": sent / window, "delivered_per_s": min(per_dashboard) / span if span else math.nan,
        "lost": sum(sent - n for n in per_dashboard),
        "p50_ms": percentile(every, 0.50), "p95_ms": percentile(every, 0.95),
        "p99_ms": percentile(every, 0.99), "max_ms": max(every, default=math.nan),
        "cpu_us_per_event": cpu_all / sent * 1e6 if sent else math.nan,
        "cpu_percent_sending": 100 * cpu / wall, "load": load_before, "wall_all": wall_all,
        "agents_cpu_percent": 100 * children[0] / wall, "dashboards_cpu_percent": 100 * children[1] / wall,
    }


async def run_hub_case(agents: int, dashboards: int, rate: float, seconds: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="agentdeck-bench-") as tmp:
        work = Path(tmp)
        inbox = work / "collaboration" / "inbox"
        inbox.mkdir(parents=True)
        for index in range(agents):
            (inbox / f"bench-{index}.yaml").write_text(
                f"id: bench-{index}\ntitle: stream output\nagent: bench-{index}\nshell_command: 'true'\n")
        hub = Hub(HubConfig(work_dir=work, port=0, fsync=False, log_level="WARNING"))
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(run_hub, hub)
            port = int(next(a for a in addresses if a.startswith("http://")).rsplit(":", 1)[1])
            result = await serve_and_drive(port, agents, dashboards, rate, seconds)
            hub.stop()
    return {"server": "agentdeck", **result}


async def run_floor_case(agents: int, dashboards: int, rate: float, seconds: float) -> dict:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(floor_relay)
        result = await serve_and_drive(port, agents, dashboards, rate, seconds)
        nursery.cancel_scope.cancel()
    return {"server": "floor", **result}


def show(result: dict) -> None:
    print(f"{result['server']:>9} | {result['agents']} agents -> {result['dashboards']} dashboards | "
          f"offered {result['offered_per_s']:>7,.0f}/s delivered {result['delivered_per_s']:>7,.0f}/s "
          f"lost {result['lost']} | added latency p50 {result['p50_ms']:.1f} p95 {result['p95_ms']:.1f} "
          f"p99 {result['p99_ms']:.1f} max {result['max_ms']:.0f} ms | CPU {result['cpu_us_per_event']:.0f} "
          f"us/event ({result['cpu_percent_sending']:.0f}% of a core while sending; agents "
          f"{result['agents_cpu_percent']:.0f}%, dashboards {result['dashboards_cpu_percent']:.0f}%) | load "
          f"{result['load'][0]:.1f}", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        role, *rest = sys.argv[2:]
        if role == "agents":
            trio.run(agents_main, int(rest[0]), int(rest[1]), float(rest[2]), float(rest[3]))
        else:
            trio.run(dashboards_main, rest[0], int(rest[1]))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--dashboards", type=int, default=10)
    parser.add_argument("--rate", type=float, default=500.0, help="events/s per agent")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--floor", action="store_true", help="only the floor")
    parser.add_argument("--compare", action="store_true", help="the floor, then the hub")
    args = parser.parse_args()
    if args.rate > RATE_LIMIT:
        raise SystemExit(f"--rate {args.rate} is over the hub's per-connection limit of {RATE_LIMIT}/s")
    case = (args.agents, args.dashboards, args.rate, args.seconds)
    results = []
    if args.floor or args.compare:
        results.append(trio.run(run_floor_case, *case))
        show(results[-1])
    if not args.floor:
        results.append(trio.run(run_hub_case, *case))
        show(results[-1])
    if len(results) == 2:
        floor, hub = results
        print(f"ratio hub/floor: CPU per event {hub['cpu_us_per_event'] / floor['cpu_us_per_event']:.2f}, "
              f"p99 {hub['p99_ms'] / floor['p99_ms']:.2f}, delivered "
              f"{hub['delivered_per_s'] / floor['delivered_per_s']:.2f}", flush=True)


if __name__ == "__main__":
    main()
