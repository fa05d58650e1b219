"""A burst of 500 creates on a 1,000-task board: when are the counts and the cards right, and does a
``/ws/dashboard`` JSON client get every event (none missed, none doubled)? Against the floor.

Run: python bench/bench_burst.py [--tasks 1000] [--burst 500] [--runs 3]

The burst is 500 plain open-and-writes of ~1.2 KB tasks into the inbox, back to back. Timed from
the first write: (a) the first SSE chunk whose inbox count reads the new total; (b) the moment the
JSON client has one ``task.created`` for each new task; then (c) the inbox as the page shows it
(the cards a browser holds after applying every patch) is compared with the first 100 tasks of the
inbox in queue order, read from the files. The floor (``bench/floor_sse.py``) is timed until its
client has seen all 500 file names.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import trio
from trio_websocket import open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_live_latency import Reader, free_port, make_board, start_agentdeck, start_floor, task_text

from agentdeck.actors.board.lanes import queue_order
from agentdeck.actors.board.taskfile import parse_task

CARD = re.compile(r'data-task-id="([^"]+)"')
LIMIT_S = 0.5


def write_burst(board: Path, burst: int, tag: str) -> tuple[float, list[str]]:
    ids = [f"burst-{tag}-{n:04}" for n in range(burst)]
    started = time.perf_counter()
    for n, task_id in enumerate(ids):
        with open(board / "inbox" / f"{task_id}.yaml", "w") as handle:
            handle.write(task_text(task_id, 7 + n))
    return started, ids


def first_chunk_with(reader: Reader, since: float, pattern: bytes, timeout: float = 10) -> float | None:
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        chunks = reader.chunks
        for at, data in chunks[seen:]:
            if at >= since and pattern in data:
                return at
        seen = len(chunks)
        time.sleep(0.005)
    return None


def expected_inbox(board: Path, limit: int = 100) -> list[str]:
    tasks = [parse_task(f"inbox/{path.name}", path.read_bytes(), path.stat().st_mtime)
             for path in (board / "inbox").glob("*.yaml")]
    return [task.id for task in sorted(tasks, key=queue_order)[:limit]]


class JsonClient:
    """A ``/ws/dashboard`` client in its own thread, keeping every task.created it is sent."""

    def __init__(self, port: int) -> None:
        self.created: list[tuple[float, str]] = []
        self.snapshots = 0
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=trio.run, args=(self._run, port), daemon=True)
        self._thread.start()
        self._ready.wait(10)

    async def _run(self, port: int) -> None:
        url = f"ws://127.0.0.1:{port}/ws/dashboard"
        async with open_websocket_url(url, extra_headers=[("Origin", f"http://127.0.0.1:{port}")]) as ws:
            self._ready.set()
            while not self._stop.is_set():
                with trio.move_on_after(0.2):
                    message = json.loads(await ws.get_message())
                    if message["type"] == "snapshot":
                        self.snapshots += 1
                    elif message["type"] == "events":
                        at = time.perf_counter()
                        self.created.extend((at, e.get("task_id")) for e in message["data"]
                                            if e.get("type") == "task.created")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def run_agentdeck(tmp: Path, tasks: int, burst: int, runs: int) -> list[dict]:
    work = tmp / "agentdeck"
    board = work / "collaboration"
    make_board(board, tasks)
    port = free_port()
    process = start_agentdeck(work, port)
    results = []
    try:
        reader = Reader(port, "/events")
        client = JsonClient(port)
        time.sleep(1.0)
        for run in range(runs):
            total = len(list((board / "inbox").glob("*.yaml"))) + burst
            snapshots = client.snapshots
            started, ids = write_burst(board, burst, str(run))
            counted = first_chunk_with(reader, started, f'data-count="{total}"'.encode())
            deadline = time.monotonic() + 10
            wanted = set(ids)
            while time.monotonic() < deadline:
                got = [(at, task_id) for at, task_id in client.created if task_id in wanted]
                if {task_id for _, task_id in got} == wanted:
                    break
                time.sleep(0.005)
            got = [(at, task_id) for at, task_id in client.created if task_id in wanted]
            time.sleep(0.5)
            page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30).text
            inbox = page[page.index('id="lane-inbox"'):]
            inbox = inbox[:inbox.index("</section>")] if "</section>" in inbox else inbox
            shown = CARD.findall(inbox)[:100]
            results.append({
                "count_ms": (counted - started) * 1000 if counted else None,
                "json_ms": (max(at for at, _ in got) - started) * 1000 if got else None,
                "json_missed": len(wanted - {task_id for _, task_id in got}),
                "json_doubled": len(got) - len({task_id for _, task_id in got}),
                "json_snapshots": client.snapshots - snapshots,
                "cards_right": shown == expected_inbox(board),
            })
        client.close()
        reader.close()
    finally:
        process.terminate()
        process.wait()
    shutil.rmtree(work, ignore_errors=True)
    return results


def run_floor(tmp: Path, tasks: int, burst: int, runs: int) -> list[float]:
    work = tmp / "floor"
    board = work / "collaboration"
    make_board(board, tasks)
    port = free_port()
    process = start_floor(board, port)
    times = []
    try:
        reader = Reader(port, "/")
        time.sleep(0.5)
        for run in range(runs):
            started, ids = write_burst(board, burst, str(run))
            last = first_chunk_with(reader, started, f"{ids[-1]}.yaml".encode())
            times.append((last - started) * 1000 if last else float("nan"))
            time.sleep(0.5)
        reader.close()
    finally:
        process.terminate()
        process.wait()
    shutil.rmtree(work, ignore_errors=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="agentdeck-bench-") as tmp:
        floor = run_floor(Path(tmp), args.tasks, args.burst, args.runs)
        ours = run_agentdeck(Path(tmp), args.tasks, args.burst, args.runs)
    print(f"burst of {args.burst} creates on a {args.tasks}-task board, {args.runs} runs; load average "
          f"{load:.2f} -> {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for run, (result, floor_ms) in enumerate(zip(ours, floor, strict=True)):
        print(f"  run {run}: count right after {result['count_ms']:.0f} ms, JSON client complete after "
              f"{result['json_ms']:.0f} ms (missed {result['json_missed']}, doubled {result['json_doubled']}, "
              f"snapshots {result['json_snapshots']}), cards right: {result['cards_right']}; "
              f"floor saw all {args.burst} after {floor_ms:.0f} ms")
    counts = [r["count_ms"] for r in ours if r["count_ms"] is not None]
    print(f"  median: count {statistics.median(counts):.0f} ms vs floor {statistics.median(floor):.0f} ms "
          f"(ratio {statistics.median(counts) / statistics.median(floor):.1f}); target {LIMIT_S * 1000:.0f} ms: "
          f"{'OK' if max(counts) <= LIMIT_S * 1000 and all(r['cards_right'] for r in ours) else 'not met'}")


if __name__ == "__main__":
    main()
