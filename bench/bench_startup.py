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


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def whole_process(work: Path, expected: int, floor: bool = False) -> float:
    return serve_and_measure(work, expected, floor)[0]


def serve_and_measure(work: Path, expected: int, floor: bool = False) -> tuple[float, int]:
    """Seconds from process start until every task is served, and the process's RSS then."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = shutil.which("agentdeck")
    command = [exe] if exe else [sys.executable, "-m", "agentdeck.web.cli"]
    if floor:
        command = [sys.executable, str(Path(__file__).resolve().parent / "floor_startup.py"),
                   str(work / "collaboration"), str(port)]
    else:
        command = [*command, "serve", "--work", str(work), "--port", str(port), "--log-level", "WARNING"]
    # Byte-code caches as on an ordinary install, kept out of the checkout (this machine sets
    # PYTHONDONTWRITEBYTECODE, which would recompile every module at every start).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        while True:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/tasks", timeout=30).json()
                break
            except httpx.TransportError:
                time.sleep(0.01)
        elapsed = time.perf_counter() - started
        rss = rss_bytes(process.pid)
    finally:
        process.terminate()
        process.wait()
    if count_tasks(body) != expected:
        raise SystemExit(f"served {count_tasks(body)} tasks, expected {expected}")
    return elapsed, rss


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
        floors = [serve_and_measure(work, args.files, floor=True) for _ in range(args.runs)]
        cache.unlink(missing_ok=True)
        cold_rss = serve_and_measure(work, args.files)[1]
        warm_rss = serve_and_measure(work, args.files)[1]
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
    floor_s = statistics.median(f[0] for f in floors)
    floor_rss = statistics.median(f[1] for f in floors)
    print(f"  floor (bench/floor_startup.py: parse every file, serve JSON) median {floor_s:.3f} s; "
          f"agentdeck process cold / floor = {statistics.median(figures['process, cold']) / floor_s:.2f}, "
          f"warm / floor = {statistics.median(figures['process, warm']) / floor_s:.2f}")
    print(f"  RSS once serving: agentdeck cold {cold_rss / 2**20:.0f} MiB, warm {warm_rss / 2**20:.0f} MiB, "
          f"floor {floor_rss / 2**20:.0f} MiB (ratio {cold_rss / floor_rss:.2f}); "
          f"{cold_rss / args.files / 1024:.1f} KiB per task (floor {floor_rss / args.files / 1024:.1f})")
    print(f"  load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    worst = max(max(values) for values in figures.values())
    print(f"  target < 2 s: {'OK' if worst < 2.0 else 'over in at least one run (see above)'}")


if __name__ == "__main__":
    main()
