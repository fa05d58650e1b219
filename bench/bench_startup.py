"""Start-up with a big board: 10,000 task files -> time until /api/tasks serves every one of them.

Run: python bench/bench_startup.py [--files 10000] [--runs 3]
Prints the scan alone, the in-process figure (Hub created -> full /api/tasks answer) and the whole
`agentdeck serve` process (interpreter start, imports, scan, first full answer), each cold (first
start on this board: every file parsed) and warm (a restart: the scan cache in WORK/.agentdeck/
spares the files that did not change).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentdeck.actors.board.taskfile import scan_board
from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.web.server import run_hub

PYCACHE = Path(tempfile.gettempdir()) / "agentdeck-bench-pycache"
LANES = ("inbox", "assigned/backend-dev", "assigned/frontend-dev", "done/backend-dev", "done/writer", "dead")


def make_board(board: Path, count: int) -> None:
    for lane in LANES:
        (board / lane).mkdir(parents=True, exist_ok=True)
    for n in range(count):
        lane = LANES[n % len(LANES)]
        (board / lane / f"2026-11-20T{n // 60 % 24:02}{n % 60:02}-task-{n:05}.yaml").write_text(
            f"id: task-{n:05}\n"
            f"title: Task number {n} with a realistic title\n"
            f"priority: {('critical', 'high', 'medium', 'low')[n % 4]}\n"
            f"status: new\n"
            f"created: 2026-11-20T09:{n % 60:02}:00Z\n"
            f"description: |\n  Some words about what to do for task {n}.\n  A second line.\n"
            f"tags: [bench, lane-{n % 6}]\n"
            f"estimated_hours: {n % 8 + 1}\n"
        )


def count_tasks(body: dict) -> int:
    return (len(body["inbox"]) + len(body["dead"]) + sum(map(len, body["assigned"].values()))
            + sum(map(len, body["done"].values())))


async def in_process(work: Path, expected: int) -> float:
    started = time.perf_counter()
    hub = Hub(HubConfig(work_dir=work, port=0, fsync=False, log_level="WARNING"))
    async with trio.open_nursery() as nursery:
        addresses = await nursery.start(run_hub, hub)
        async with httpx.AsyncClient(base_url=addresses[0], timeout=30) as client:
            body = (await client.get("/api/tasks")).json()
        elapsed = time.perf_counter() - started
        hub.stop()
    if count_tasks(body) != expected:
        raise SystemExit(f"served {count_tasks(body)} tasks, expected {expected}")
    return elapsed


def whole_process(work: Path, expected: int) -> float:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = shutil.which("agentdeck")
    command = [exe] if exe else [sys.executable, "-m", "agentdeck.web.cli"]
    # Byte-code caches as on an ordinary install, kept out of the checkout (this machine sets
    # PYTHONDONTWRITEBYTECODE, which would recompile every module at every start).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    started = time.perf_counter()
    process = subprocess.Popen([*command, "serve", "--work", str(work), "--port", str(port),
                                "--log-level", "WARNING"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=env)
    try:
        while True:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/tasks", timeout=30).json()
                break
            except httpx.TransportError:
                time.sleep(0.01)
        elapsed = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait()
    if count_tasks(body) != expected:
        raise SystemExit(f"served {count_tasks(body)} tasks, expected {expected}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentdeck-bench-") as tmp:
        work = Path(tmp) / "work"
        make_board(work / "collaboration", args.files)
        time.sleep(2.1)  # a board that existed before the hub starts (see scan_cache's racy window)
        cache = work / ".agentdeck" / "scan-cache.json"

        def cold(measure, *measure_args) -> float:
            cache.unlink(missing_ok=True)
            return measure(*measure_args)

        scans = []
        for _ in range(args.runs):
            started = time.perf_counter()
            scan_board(work / "collaboration")
            scans.append(time.perf_counter() - started)
        whole_process(work, args.files)  # fills the byte-code cache; not counted
        figures = {
            "in process, cold": [cold(trio.run, in_process, work, args.files) for _ in range(args.runs)],
            "in process, warm": [trio.run(in_process, work, args.files) for _ in range(args.runs)],
            "process, cold": [cold(whole_process, work, args.files) for _ in range(args.runs)],
            "process, warm": [whole_process(work, args.files) for _ in range(args.runs)],
        }
    print(f"start-up with {args.files} task files ({args.runs} runs each, warm page cache)")
    print(f"  scan_board alone, no cache        median {statistics.median(scans):.3f} s  max {max(scans):.3f} s")
    for label, values in figures.items():
        print(f"  {label + ' -> /api/tasks served':<38}median {statistics.median(values):.3f} s  "
              f"max {max(values):.3f} s")
    worst = max(max(values) for values in figures.values())
    print(f"  target < 2 s: {'OK' if worst < 2.0 else 'over in at least one run (see above)'}")


if __name__ == "__main__":
    main()
