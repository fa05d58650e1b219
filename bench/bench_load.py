"""Load: many agents working and many dashboards watching one real hub; is it still responsive?

    python bench/bench_load.py [--agents 200] [--dashboards 200] [--duration 30] [--tasks 3000]

A hub runs as a child process (loopback, a temp work dir seeded with ``--tasks`` shell tasks).
``--agents`` protocol agents take tasks, work ``--task-seconds`` on each (an execution event every
0.5 s) and complete them;
``--dashboards`` clients hold ``/events`` (SSE) open and read everything. Meanwhile one probe times
``GET /api/dashboard/state`` (the snapshot) and ``GET /`` (the page) every 100 ms. Printed: latency
percentiles, tasks completed, events streamed, and every error seen (there should be none).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio
import yaml
from trio_websocket import open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from hub_process import HubProcess


class Tally:
    def __init__(self) -> None:
        self.completed = 0
        self.progress = 0
        self.sse_bytes = 0
        self.sse_reads = 0
        self.sse_open = 0
        self.errors: list[str] = []
        self.error_times: list[float] = []  # trio time of each error, to tell start-up from steady state
        self.latency: dict[str, list[float]] = {"/api/dashboard/state": [], "/": []}


async def agent(url: str, agent_id: str, until: float, tally: Tally, work_seconds: float) -> None:
    try:
        async with open_websocket_url(url) as ws:
            await ws.send_message(json.dumps({"type": "identify", "agent_id": agent_id, "token": None}))
            with trio.move_on_at(until):
                while True:
                    message = json.loads(await ws.get_message())
                    if message["type"] == "error":
                        tally.errors.append(f"{agent_id}: {message}")
                        tally.error_times.append(trio.current_time())
                    if message["type"] != "task_assign":
                        continue
                    task_id, generation = message["task_id"], message["generation"]
                    await ws.send_message(json.dumps({"type": "task_accepted", "task_id": task_id}))
                    lines = max(1, int(work_seconds / 0.5))
                    for line in range(lines):  # one execution event every 0.5 s of "work"
                        await trio.sleep(work_seconds / lines)
                        await ws.send_message(json.dumps({
                            "type": "task_progress", "task_id": task_id,
                            "execution_event": {"event_type": "stdout", "text": f"{task_id} line {line}"}}))
                        tally.progress += 1
                    await ws.send_message(json.dumps({
                        "type": "task_complete", "task_id": task_id, "generation": generation,
                        "result": {"status": "success", "output": "ok", "model_used": "shell",
                                   "tokens_in": 0, "tokens_out": 0, "execution_ms": int(work_seconds * 1000)}}))
                    tally.completed += 1
    except Exception as error:
        tally.errors.append(f"{agent_id}: {type(error).__name__}: {error}")


async def dashboard(client: httpx.AsyncClient, base_url: str, until: float, tally: Tally) -> None:
    try:
        with trio.move_on_at(until):
            async with client.stream("GET", base_url + "/events") as response:
                if response.status_code != 200:
                    tally.errors.append(f"/events: HTTP {response.status_code}")
                    return
                tally.sse_open += 1
                async with contextlib.aclosing(response.aiter_bytes()) as chunks:
                    async for chunk in chunks:
                        tally.sse_bytes += len(chunk)
                        tally.sse_reads += 1
    except Exception as error:
        tally.errors.append(f"/events: {type(error).__name__}: {error}")


async def probe(base_url: str, until: float, tally: Tally) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        while trio.current_time() < until:
            for path, times in tally.latency.items():
                start = time.perf_counter()
                try:
                    response = await client.get(base_url + path)
                    if response.status_code != 200:
                        tally.errors.append(f"{path}: HTTP {response.status_code}")
                except httpx.HTTPError as error:
                    tally.errors.append(f"{path}: {type(error).__name__}")
                    continue
                times.append(time.perf_counter() - start)
            await trio.sleep(0.1)


async def load(hub: HubProcess, args: argparse.Namespace) -> Tally:
    tally = Tally()
    idle = Tally()
    await probe(hub.base_url, trio.current_time() + 3, idle)  # the same probe on the idle hub first
    tally.idle = idle  # type: ignore[attr-defined]
    tally.started = trio.current_time()  # type: ignore[attr-defined]
    until = tally.started + args.duration  # type: ignore[attr-defined]
    limits = httpx.Limits(max_connections=args.dashboards + 10)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None), limits=limits) as client:
        async with trio.open_nursery() as nursery:
            for _ in range(args.dashboards):
                nursery.start_soon(dashboard, client, hub.base_url, until, tally)
            for index in range(args.agents):
                nursery.start_soon(agent, hub.ws_url, f"load-{index:03d}", until, tally,
                                   args.task_seconds)
            await trio.sleep(min(5.0, args.duration / 4))  # everyone connected and busy
            await probe(hub.base_url, until, tally)
    return tally


def percentiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return (f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {pick(0.95):.0f} ms, "
            f"max {ordered[-1] * 1000:.0f} ms ({len(ordered)} samples)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--dashboards", type=int, default=200)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--task-seconds", type=float, default=5.0,
                        help="how long each task's work lasts (an event every 0.5 s meanwhile)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentdeck-load-") as tmp:
        work = Path(tmp) / "work"
        inbox = work / "collaboration" / "inbox"
        inbox.mkdir(parents=True)
        for index in range(args.tasks):
            (inbox / f"load-{index:05d}.yaml").write_text(yaml.safe_dump(
                {"title": f"load task {index}", "shell_command": f"echo {index}",
                 "complexity": "trivial"}))
        hub = HubProcess(work, args=("--log-level", "WARNING"))
        hub.start()
        try:
            tally = trio.run(load, hub, args)
            rss = hub.rss_kib()
            health = hub.get("/health").json()
        finally:
            hub.stop()
    print(f"{args.agents} agents ({args.task_seconds:g} s per task), {args.dashboards} SSE dashboards, "
          f"{args.duration:.0f} s, {args.tasks} tasks on the board")
    for path, times in tally.latency.items():
        print(f"GET {path:22} idle: {percentiles(tally.idle.latency[path])}")
        print(f"GET {path:22} load: {percentiles(times)}")
    print(f"tasks completed {tally.completed} ({tally.completed / args.duration:.0f}/s), "
          f"execution events {tally.progress}, SSE streams opened {tally.sse_open}, "
          f"SSE bytes {tally.sse_bytes} ({tally.sse_bytes / args.duration / max(1, tally.sse_open) / 1024:.1f} "
          f"KiB/s per stream) in {tally.sse_reads} reads "
          f"({tally.sse_reads / args.duration / max(1, tally.sse_open):.1f}/s per stream)")
    print(f"hub RSS at the end {rss / 1024:.0f} MiB; health {health.get('status')}; "
          f"actor restarts {sum(a.get('restarts', 0) for a in health.get('actors', []))}")
    print(f"errors: {len(tally.errors)}")
    if tally.error_times:
        after = sorted(t - tally.started for t in tally.error_times)  # type: ignore[attr-defined]
        print(f"   agent errors between {after[0]:.1f} s and {after[-1]:.1f} s after the start; "
              f"{sum(t < 10 for t in after)} in the first 10 s")
    for error in tally.errors[:20]:
        print("  ", error)


if __name__ == "__main__":
    main()
