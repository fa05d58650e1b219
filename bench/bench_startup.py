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
from dataclasses import dataclass
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far (less at the mercy of the machine's load
    than wall time, which is what the goal is stated in)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def whole_process(work: Path, expected: int, floor: bool = False) -> float:
    return serve_and_measure(work, expected, floor).seconds


@dataclass(frozen=True)
class Start:
    seconds: float  # process start -> the first full /api/tasks answer
    cpu: float  # CPU seconds the process had used by then
    rss: int  # bytes, once serving


def serve_and_measure(work: Path, expected: int, floor: bool = False) -> Start:
    """Start the process, poll /api/tasks until it answers in full, and read its clock and memory."""
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
    # one client made before the clock starts: a new client per attempt loads the CA bundle each
    # time (tens of ms), which both costs the measured process CPU and coarsens the polling
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            while True:
                try:
                    response = client.get("/api/tasks")
                    break
                except httpx.TransportError:
                    time.sleep(0.005)
            elapsed = time.perf_counter() - started
            cpu, rss = cpu_seconds(process.pid), rss_bytes(process.pid)
            body = response.json()
        finally:
            process.terminate()
            process.wait()
    if count_tasks(body) != expected:
        raise SystemExit(f"served {count_tasks(body)} tasks, expected {expected}")
    return Start(elapsed, cpu, rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--in-process", action="store_true", help="also time the hub inside this process")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="agentdeck-bench-") as tmp:
        work = Path(tmp) / "work"
        make_board(work / "collaboration", args.files)
        time.sleep(2.1)  # a board that existed before the hub starts (see scan_cache's racy window)
        cache = work / ".agentdeck" / "scan-cache.json"

        def cold(measure, *measure_args):
            cache.unlink(missing_ok=True)
            return measure(*measure_args)

        scans = []
        for _ in range(args.runs):
            started = time.perf_counter()
            scan_board(work / "collaboration")
            scans.append(time.perf_counter() - started)
        serve_and_measure(work, args.files)  # fills the byte-code cache; not counted
        serve_and_measure(work, args.files, floor=True)
        # floor, cold and warm side by side in each round, so each ratio compares like with like
        rounds = [(serve_and_measure(work, args.files, floor=True), cold(serve_and_measure, work, args.files),
                   serve_and_measure(work, args.files)) for _ in range(args.runs)]
        in_proc = {}
        if args.in_process:
            in_proc = {
                "in process, cold": [cold(trio.run, in_process, work, args.files) for _ in range(args.runs)],
                "in process, warm": [trio.run(in_process, work, args.files) for _ in range(args.runs)],
            }
    median = statistics.median
    floor, cold_runs, warm_runs = ([r[i] for r in rounds] for i in range(3))
    print(f"start-up with {args.files} task files ({args.runs} rounds of floor, cold, warm; warm page cache)")
    print(f"  scan_board alone, no cache        median {median(scans):.3f} s  max {max(scans):.3f} s")
    for label, values in in_proc.items():
        print(f"  {label + ' -> /api/tasks served':<38}median {median(values):.3f} s  max {max(values):.3f} s")
    for label, runs in (("floor", floor), ("agentdeck cold", cold_runs), ("agentdeck warm", warm_runs)):
        print(f"  {label:<15} process start -> all served: median {median(r.seconds for r in runs):.3f} s "
              f"(max {max(r.seconds for r in runs):.3f}), CPU {median(r.cpu for r in runs):.3f} s, "
              f"RSS {median(r.rss for r in runs) / 2**20:.1f} MiB")
    for label, runs in (("cold", cold_runs), ("warm", warm_runs)):
        wall = median(r.seconds / f.seconds for r, f in zip(runs, floor, strict=True))
        cpu = median(r.cpu / f.cpu for r, f in zip(runs, floor, strict=True))
        print(f"  {label} / floor, same round: wall {wall:.2f}, CPU {cpu:.2f}")
    rss, floor_rss = median(r.rss for r in cold_runs), median(f.rss for f in floor)
    print(f"  RSS cold / floor {rss / floor_rss:.2f}; {rss / args.files / 1024:.1f} KiB per task "
          f"(floor {floor_rss / args.files / 1024:.1f})")
    print(f"  load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after, on {os.cpu_count()} cores")
    warm_s = median(r.seconds for r in warm_runs)
    cold_ratio = median(r.seconds / f.seconds for r, f in zip(cold_runs, floor, strict=True))
    print(f"  goals: cold <= floor {'met' if cold_ratio <= 1 else 'NOT met'}; warm < 0.5 s "
          f"{'met' if warm_s < 0.5 else 'NOT met'}; RSS <= 2 x floor {'met' if rss <= 2 * floor_rss else 'NOT met'}")


if __name__ == "__main__":
    main()
