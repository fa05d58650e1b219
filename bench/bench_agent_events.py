"""Execution events per second through the hub: N agents on /ws -> M bus subscribers.

A real hub (Hypercorn on 127.0.0.1, every actor, temp work dir) runs in this process with M bus
subscribers that stand in for dashboards. The agents run in a child process (so their JSON and
framing cost is not charged to the hub): each holds its own task and streams ``task_progress``
frames carrying a stdout ``execution_event`` at a paced rate, stamped with the wall clock at send.
Each subscriber notes when every ``ExecutionEvent`` reaches it, so the figures are:

- delivered events/s (per subscriber; x M for all deliveries) against the offered rate;
- latency send -> bus delivery, p50/p95/p99 (socket hop + session + queue actor + bus fan-out);
- hub CPU per 1,000 events, and whether any subscriber lagged (Resync) or lost an event.

The per-connection rate limit (``agentdeck.actors.protocol.session.RATE_LIMIT_PER_SECOND``) caps each agent, so
offered load grows with the number of agents. Run: ``python bench/bench_agent_events.py`` (the
default cases) or ``--agents 20 --subscribers 5 --rate 400 --seconds 5`` for one case.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.actors.messages import ExecutionEvent, Resync
from agentdeck.actors.protocol import session as agent_session
from agentdeck.web.server import run_hub

RATE_LIMIT = getattr(agent_session, "RATE_LIMIT_PER_SECOND", math.inf)
BURSTS_PER_SECOND = 20
SUBSCRIBER_BUFFER = 4096
LINE = "compiling module {seq}: " + "x" * 48  # a typical ~80 character stdout line
DEFAULT_CASES = [  # agents, subscribers, events/s per agent
    (10, 1, 100),  # light load: latency
    (10, 10, 100),  # fan-out to ten dashboards
    (20, 1, 100),  # moderate
    (40, 1, 200),  # offered well over capacity: the ceiling, and latency under overload
]


# ---------------------------------------------------------------------------------- agents (child)


async def agents_main(url: str, count: int, rate: float, seconds: float) -> None:
    """The child process: connect ``count`` agents, take one task each, then stream events."""
    from trio_websocket import ConnectionClosed, DisconnectionTimeout, open_websocket_url

    ready, go = [0], trio.Event()
    sent = [0] * count
    window: list[float] = []

    async def agent(index: int) -> None:
        try:
            await stream(index)
        except (ConnectionClosed, DisconnectionTimeout) as error:  # the hub is busy draining
            print(f"agent {index}: {type(error).__name__}", file=sys.stderr)

    async def stream(index: int) -> None:
        async with open_websocket_url(url, disconnect_timeout=60) as ws:
            await ws.send_message(json.dumps({"type": "identify", "agent_id": f"bench-{index}",
                                              "token": None}))
            task_id = None
            while task_id is None:
                message = json.loads(await ws.get_message())
                if message["type"] == "task_assign":
                    task_id = message["task_id"]
            await ws.send_message(json.dumps({"type": "task_accepted", "task_id": task_id}))
            while json.loads(await ws.get_message())["type"] != "task_ack":
                pass
            ready[0] += 1
            if ready[0] == count:
                print("READY", flush=True)
                window.append(time.time())
                go.set()
            await go.wait()
            burst = max(1, round(rate / BURSTS_PER_SECOND))
            interval = burst / rate
            start = trio.current_time() + (index / count) * interval  # spread the bursts
            deadline = start + seconds
            next_burst, seq = start, 0
            await trio.sleep_until(start)
            while trio.current_time() < deadline:
                for _ in range(burst):
                    await ws.send_message(json.dumps({
                        "type": "task_progress", "task_id": task_id,
                        "execution_event": {"event_type": "stdout", "text": LINE.format(seq=seq),
                                            "timestamp": time.time()}}))
                    seq += 1
                next_burst += interval
                await trio.sleep_until(next_burst)
            sent[index] = seq
            window.append(time.time())

    async with trio.open_nursery() as nursery:
        for index in range(count):
            nursery.start_soon(agent, index)
    print(f"DONE {sum(sent)} {max(window) - window[0]:.6f}", flush=True)


# ---------------------------------------------------------------------------------- hub (parent)


@attrs.define
class Delivery:
    count: int = 0
    first: float | None = None
    last: float = 0.0
    resyncs: int = 0
    missed: int = 0
    latencies: list[float] = attrs.field(factory=list)


async def consume(sub, delivery: Delivery, keep_latency: bool) -> None:
    async for event in sub:
        if isinstance(event, ExecutionEvent):
            now = time.time()
            delivery.count += 1
            if delivery.first is None:
                delivery.first = now
            delivery.last = now
            if keep_latency:
                delivery.latencies.append(now - float(event.timestamp))
        elif isinstance(event, Resync):
            delivery.resyncs += 1
            delivery.missed += event.missed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else math.nan


async def lines_of(stream):
    buffer = b""
    async for chunk in stream:
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode().strip()


async def run_case(agents: int, subscribers: int, rate: float, seconds: float) -> dict:
    if rate > RATE_LIMIT:
        raise SystemExit(f"--rate {rate} is over the hub's per-connection limit of {RATE_LIMIT}/s")
    with tempfile.TemporaryDirectory(prefix="agentdeck-bench-") as tmp:
        work = Path(tmp)
        inbox = work / "collaboration" / "inbox"
        inbox.mkdir(parents=True)
        for index in range(agents):
            (inbox / f"bench-{index}.yaml").write_text(
                f"id: bench-{index}\ntitle: stream output\nagent: bench-{index}\nshell_command: 'true'\n")
        hub = Hub(HubConfig(work_dir=work, port=0, fsync=False, log_level="WARNING"))
        deliveries = [Delivery() for _ in range(subscribers)]
        subs = [hub.bus.subscribe(f"bench-{index}", SUBSCRIBER_BUFFER) for index in range(subscribers)]
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(run_hub, hub)
            url = next(a for a in addresses if a.startswith("http://")).replace("http://", "ws://") + "/ws"
            for index, (sub, delivery) in enumerate(zip(subs, deliveries, strict=True)):
                nursery.start_soon(consume, sub, delivery, index == 0)
            process = await trio.lowlevel.open_process(
                [sys.executable, __file__, "--child", url, str(agents), str(rate), str(seconds)],
                stdout=subprocess.PIPE)
            lines = lines_of(process.stdout)
            sent = send_window = 0
            with trio.fail_after(60):
                async for line in lines:
                    if line == "READY":
                        break
                cpu_start, wall_start = time.process_time(), time.time()
                async for line in lines:
                    if line.startswith("DONE"):
                        _, sent_text, window_text = line.split()
                        sent, send_window = int(sent_text), float(window_text)
                        break
                else:
                    raise RuntimeError("the agents' process ended without reporting")
                with trio.move_on_after(30):
                    while any(d.count + d.missed < sent for d in deliveries):  # noqa: ASYNC110 - counts kept by other tasks
                        await trio.sleep(0.01)
            cpu = time.process_time() - cpu_start
            window = time.time() - wall_start
            await process.wait()
            await lines.aclose()
            hub.stop()
            for sub in subs:
                sub.close()
    first = deliveries[0]
    span = (first.last - first.first) if first.first is not None else math.nan
    return {
        "agents": agents, "subscribers": subscribers, "sent": sent,
        "offered_per_s": sent / send_window if send_window else math.nan,
        "delivered_per_s": first.count / span if span else math.nan,
        "deliveries_per_s": subscribers * first.count / span if span else math.nan,
        "lost": sum(sent - d.count for d in deliveries),
        "resyncs": sum(d.resyncs for d in deliveries),
        "p50_ms": percentile(first.latencies, 0.50) * 1000,
        "p95_ms": percentile(first.latencies, 0.95) * 1000,
        "p99_ms": percentile(first.latencies, 0.99) * 1000,
        "cpu_ms_per_1k": cpu / sent * 1e6 if sent else math.nan,
        "cpu_percent": 100 * cpu / window,
    }


def show(result: dict) -> None:
    print(f"{result['agents']:>4} agents {result['subscribers']:>3} subs | "
          f"offered {result['offered_per_s']:>8,.0f}/s  delivered {result['delivered_per_s']:>8,.0f}/s "
          f"({result['deliveries_per_s']:>9,.0f} deliveries/s) | latency p50 {result['p50_ms']:6.2f} ms "
          f"p95 {result['p95_ms']:7.2f} ms p99 {result['p99_ms']:7.2f} ms | "
          f"hub CPU {result['cpu_ms_per_1k']:5.1f} ms/1k events ({result['cpu_percent']:.0f}%) | "
          f"lost {result['lost']} "
          f"resyncs {result['resyncs']}", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        url, count, rate, seconds = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
        trio.run(agents_main, url, count, rate, seconds)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int)
    parser.add_argument("--subscribers", type=int, default=1)
    parser.add_argument("--rate", type=float, default=100.0, help="events/s per agent")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    cases = [(args.agents, args.subscribers, args.rate)] if args.agents else DEFAULT_CASES
    for agents, subscribers, rate in cases:
        show(trio.run(run_case, agents, subscribers, rate, args.seconds))


if __name__ == "__main__":
    main()
