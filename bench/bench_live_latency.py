"""File change -> SSE event at a browser, agentdeck against the floor, measured in the same run.

Run: python bench/bench_live_latency.py [--tasks 10,1000,10000] [--changes 150] [--rates lone,10,50]

Files are written as agents and editors write them: a plain open-and-write of a ~1.2 KB task (a
create in the inbox, an edit in place), or a rename into another lane (a move), in turn, spaced by
the rate with +-30 % jitter ("lone": 300 ms apart). The client is a raw SSE reader on a socket that
timestamps every chunk it receives; a change's latency is from just before the ``open`` (or the
rename) to the first chunk naming the task (its id, or its hash in agentdeck's ``task-changed``
event: a card past the first page of a lane is not drawn, the event that names it still goes out).
The floor is ``bench/floor_sse.py``: a bare inotify watcher writing one SSE event per change to its
client. Both servers are separate processes watching a board of the same size; the ratio is
agentdeck / floor per percentile. Also reports changes never seen (missed) by each.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentdeck.web.view.present import task_hash

HERE = Path(__file__).resolve().parent
LANES = ("inbox", "assigned/bench", "done/bench", "dead")
GAPS = {"lone": 0.3, "10": 0.1, "50": 0.02}
SETTLE_S = 1.0  # after the last change, before the reader stops
PADDING = ("Acceptance: the change is covered by a test that fails without it, the docs say what "
           "changed and why, and nothing else on the board moves. ") * 6


def task_text(task_id: str, n: int, version: int | str = 0) -> str:
    """A realistic task of about 1.2 KB."""
    return (f"id: {task_id}\n"
            f"title: Make the {n}th widget faster without breaking its callers (v{version})\n"
            f"priority: {('critical', 'high', 'medium', 'low')[n % 4]}\n"
            f"status: new\n"
            f"created: 2026-11-20T09:{n % 60:02}:{n % 59:02}Z\n"
            f"estimated_hours: {n % 8 + 1}\n"
            f"tags: [bench, backend, lane-{n % 6}]\n"
            f"description: |\n  {PADDING}\n  Task {n}, version {version}.\n")


def make_board(board: Path, count: int) -> None:
    for lane in LANES:
        (board / lane).mkdir(parents=True, exist_ok=True)
    for n in range(count):
        lane = ("inbox", "done/bench", "dead")[n % 3]
        (board / lane / f"task-{n:05}.yaml").write_text(task_text(f"task-{n:05}", n))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Reader:
    """A raw SSE client: a blocking socket read in a thread, every chunk kept with its arrival time."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                          f"Accept: text/event-stream\r\n\r\n".encode())
        self.chunks: list[tuple[float, bytes]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                return
            if not data:
                return
            self.chunks.append((time.perf_counter(), data))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(2)

    def first_naming(self, since: float, needles: tuple[bytes, ...], start: int) -> tuple[float | None, int]:
        """Arrival time of the first chunk after ``since`` naming a needle; and where to look next."""
        tail = b""
        for index in range(start, len(self.chunks)):
            at, data = self.chunks[index]
            if at < since:
                start = index
                tail = data[-64:]
                continue
            window = tail + data
            if any(needle in window for needle in needles):
                return at, start
            tail = data[-64:]
        return None, start


def run_changes(board: Path, reader: Reader, gap: float, count: int, seed: int, floor: bool,
                tag: str) -> tuple[list[float], int]:
    """Write ``count`` changes (create, edit, move in turn); returns latencies (ms) and misses."""
    rng = random.Random(seed)
    edits = sorted(board.glob("inbox/*.yaml"))
    created: list[tuple[str, Path]] = []
    changes: list[tuple[float, tuple[bytes, ...]]] = []
    for i in range(count):
        kind = i % 3
        n = 50_000 + i
        if kind == 0 or (kind == 2 and not created) or (kind == 1 and not edits):
            task_id = f"new-{tag}-{i:05}"
            path = board / "inbox" / f"{task_id}.yaml"
            text = task_text(task_id, n)
            started = time.perf_counter()
            with open(path, "w") as handle:
                handle.write(text)
            created.append((task_id, path))
        elif kind == 1:
            path = edits[(i // 3) % len(edits)]
            task_id = path.stem
            text = task_text(task_id, int(task_id.rsplit("-", 1)[1]) % 50_000, f"{tag}.{i}")
            started = time.perf_counter()
            with open(path, "w") as handle:
                handle.write(text)
        else:
            task_id, path = created.pop(0)
            started = time.perf_counter()
            os.rename(path, board / "done" / "bench" / path.name)
        needles = (f"{path.stem}.yaml".encode(),) if floor else (task_id.encode(), task_hash(task_id).encode())
        changes.append((started, needles))
        time.sleep(max(0.0, gap * rng.uniform(0.7, 1.3) - (time.perf_counter() - started)))
    time.sleep(SETTLE_S)
    latencies: list[float] = []
    missed = 0
    cursor = 0
    for started, needles in changes:
        at, cursor = reader.first_naming(started, needles, cursor)
        if at is None:
            missed += 1
        else:
            latencies.append((at - started) * 1000)
    return latencies, missed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def start_agentdeck(work: Path, port: int) -> subprocess.Popen:
    exe = shutil.which("agentdeck")
    command = [exe] if exe else [sys.executable, "-m", "agentdeck.web.cli"]
    process = subprocess.Popen([*command, "serve", "--work", str(work), "--port", str(port),
                                "--log-level", "WARNING"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/tasks", timeout=60).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("agentdeck did not start")


def start_floor(board: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, str(HERE / "floor_sse.py"), str(board), str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return process
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise SystemExit("the floor server did not start")


def measure(kind: str, tasks: int, rates: list[str], changes: int,
            tmp: Path) -> dict[str, tuple[list[float], int, float]]:
    work = tmp / f"{kind}-{tasks}"
    board = work / "collaboration"
    make_board(board, tasks)
    port = free_port()
    floor = kind == "floor"
    process = start_floor(board, port) if floor else start_agentdeck(work, port)
    results = {}
    try:
        reader = Reader(port, "/" if floor else "/events")
        time.sleep(1.0)  # the first resync, and the hub settled after its start-up
        for rate in rates:
            count = changes * (2 if rate == "50" else 1)
            cpu = cpu_seconds(process.pid)
            latencies, missed = run_changes(board, reader, GAPS[rate], count, seed=tasks, floor=floor,
                                            tag=f"{rate}")
            results[rate] = (latencies, missed, (cpu_seconds(process.pid) - cpu) / count * 1000)
        reader.close()
    finally:
        process.terminate()
        process.wait()
    shutil.rmtree(work, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="10,1000,10000")
    parser.add_argument("--changes", type=int, default=150, help="per rate (twice as many at 50/s)")
    parser.add_argument("--rates", default="lone,10,50")
    args = parser.parse_args()
    sizes = [int(size) for size in args.tasks.split(",")]
    rates = args.rates.split(",")
    print(f"file change -> SSE chunk naming the task; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores")
    print(f"{'tasks':>6} {'rate':>5} | {'agentdeck p50/p95/max ms':>26} | {'floor p50/p95 ms':>17} | "
          f"{'ratio p50/p95':>13} | missed a/f | CPU ms/change a/f")
    p50_by_size: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="agentdeck-bench-") as tmp:
        for tasks in sizes:
            floor = measure("floor", tasks, rates, args.changes, Path(tmp))
            ours = measure("agentdeck", tasks, rates, args.changes, Path(tmp))
            for rate in rates:
                (a, a_missed, a_cpu), (f, f_missed, f_cpu) = ours[rate], floor[rate]
                a50, a95, f50, f95 = (percentile(a, 0.5), percentile(a, 0.95), percentile(f, 0.5),
                                      percentile(f, 0.95))
                p50_by_size.setdefault(tasks, a50)
                print(f"{tasks:>6} {rate:>5} | {a50:7.2f} {a95:7.2f} {max(a, default=0):9.2f} | "
                      f"{f50:7.2f} {f95:7.2f}   | {a50 / f50:5.1f} {a95 / f95:6.1f}  | {a_missed:>4}/{f_missed:<4} | "
                      f"{a_cpu:5.2f} / {f_cpu:4.2f}",
                      flush=True)
    if len(sizes) > 1:
        print(f"p50 of lone changes at {sizes[-1]} tasks / at {sizes[0]} tasks: "
              f"{p50_by_size[sizes[-1]] / p50_by_size[sizes[0]]:.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
