"""Idle cost: CPU of a hub with a 1,000-task board and one live browser while nothing changes.

Run: python bench/bench_idle_cpu.py [--tasks 1000] [--seconds 60]

``agentdeck serve`` and the floor (``bench/floor_sse.py``: a bare inotify watcher holding one SSE
client) each run with a board of ``--tasks`` realistic files and one SSE client connected (a raw
reader on ``/events``, as the page's EventSource). After a settling pause, user + system CPU time
is read from /proc/<pid>/stat at the start and the end of ``--seconds``; printed as a percentage
of one core, with the wake-ups (voluntary context switches) per second.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_live_latency import Reader, cpu_seconds, free_port, make_board, start_agentdeck, start_floor

SETTLE_S = 5.0


def wakeups(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches"):
            return int(line.split()[1])
    return 0


def threads_wakeups(pid: int) -> int:
    """Voluntary context switches summed over every thread of the process."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                total += int(line.split()[1])
    return total


def measure(kind: str, tasks: int, seconds: float, tmp: Path) -> tuple[float, float]:
    work = tmp / kind
    board = work / "collaboration"
    make_board(board, tasks)
    port = free_port()
    process = start_floor(board, port) if kind == "floor" else start_agentdeck(work, port)
    try:
        reader = Reader(port, "/" if kind == "floor" else "/events")
        time.sleep(SETTLE_S)
        cpu, woke, started = cpu_seconds(process.pid), threads_wakeups(process.pid), time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - started
        used = cpu_seconds(process.pid) - cpu
        woken = threads_wakeups(process.pid) - woke
        reader.close()
    finally:
        process.terminate()
        process.wait()
    shutil.rmtree(work, ignore_errors=True)
    return used / elapsed * 100, woken / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="agentdeck-bench-") as tmp:
        floor = measure("floor", args.tasks, args.seconds, Path(tmp))
        ours = measure("agentdeck", args.tasks, args.seconds, Path(tmp))
    print(f"idle CPU over {args.seconds:.0f} s, {args.tasks} tasks, one SSE client; load average "
          f"{load:.2f} -> {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"  agentdeck  {ours[0]:6.3f} % of a core   {ours[1]:7.1f} wake-ups/s")
    print(f"  floor      {floor[0]:6.3f} % of a core   {floor[1]:7.1f} wake-ups/s")
    print(f"  target < 0.2 %: {'OK' if ours[0] < 0.2 else 'over'}")


if __name__ == "__main__":
    main()
