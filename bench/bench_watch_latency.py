"""File change -> event on the bus: latency over 1,000 changes with 1,000 tasks on the board.

Run: python bench/bench_watch_latency.py [--tasks 1000] [--changes 1000] [--poll]
One change at a time (write in place, atomic save, or rename between lanes), each timed from just
before the system call to the moment the queue created the event it published on the bus.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.web.server import run_hub

EXPECTED = {"write": "task.updated", "atomic": "task.updated", "rename": None}  # rename: assigned/moved/completed
MOVES = {"inbox": "assigned/bench", "assigned/bench": "done/bench", "done/bench": "inbox"}


def task_text(n: int, version: int) -> str:
    return (f"id: task-{n:04}\ntitle: Task {n} version {version}\npriority: high\n"
            f"created: 2026-11-20T09:00:00Z\ndescription: Benchmark task.\ntags: [bench]\n")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(work: Path, tasks: int, changes: int, poll: bool) -> dict[str, list[float]]:
    board = work / "collaboration"
    hub = Hub(HubConfig(work_dir=work, port=0, fsync=False, force_polling=poll, log_level="WARNING"))
    where = {n: "inbox" for n in range(tasks)}
    versions = {n: 0 for n in range(tasks)}
    latencies: dict[str, list[float]] = {"write": [], "atomic": [], "rename": []}
    async with trio.open_nursery() as nursery:
        await nursery.start(run_hub, hub)
        with hub.bus.subscribe("bench", buffer=0) as events:
            for i in range(changes):
                n = (i * 7919) % tasks  # spread over the board
                kind = ("write", "atomic", "rename")[i % 3]
                name = f"task-{n:04}.yaml"
                path = board / where[n] / name
                versions[n] += 1
                started = time.time()
                if kind == "write":
                    path.write_text(task_text(n, versions[n]))
                elif kind == "atomic":
                    tmp = path.with_name(f".{name}.tmp")
                    tmp.write_text(task_text(n, versions[n]))
                    os.replace(tmp, path)
                else:
                    where[n] = MOVES[where[n]]
                    os.replace(path, board / where[n] / name)
                with trio.fail_after(5):
                    async for event in events:
                        task = getattr(event, "task", None)
                        if task is None or task.id != f"task-{n:04}":
                            continue
                        if kind == "rename" and task.path != f"{where[n]}/{name}":
                            continue
                        if EXPECTED[kind] and event.kind != EXPECTED[kind]:
                            raise SystemExit(f"{kind}: expected {EXPECTED[kind]}, got {event.kind}")
                        if kind == "rename" and event.kind in ("task.created", "task.removed"):
                            raise SystemExit(f"a rename showed as {event.kind}")
                        latencies[kind].append((event.at - started) * 1000)
                        break
        hub.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--poll", action="store_true", help="measure the polling fallback instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentdeck-bench-") as tmp:
        work = Path(tmp) / "work"
        for lane in ("inbox", "assigned/bench", "done/bench", "dead"):
            (work / "collaboration" / lane).mkdir(parents=True)
        for n in range(args.tasks):
            (work / "collaboration" / "inbox" / f"task-{n:04}.yaml").write_text(task_text(n, 0))
        latencies = trio.run(measure, work, args.tasks, args.changes, args.poll)
    mode = "polling" if args.poll else "native (inotify)"
    print(f"file change -> bus event, {args.changes} changes, {args.tasks} tasks on the board, {mode}")
    every = [value for values in latencies.values() for value in values]
    for label, values in [*latencies.items(), ("all", every)]:
        print(f"  {label:<7} n={len(values):<5} p50 {percentile(values, 0.5):6.2f} ms  "
              f"p95 {percentile(values, 0.95):6.2f} ms  max {max(values):7.2f} ms  "
              f"mean {statistics.fmean(values):6.2f} ms")


if __name__ == "__main__":
    main()
