"""Dashboard speed on a 1,000-task board: server render, file -> card in Chromium, SSE latency, 200 clients.

Runs the hub as a separate process (``python -m web.cli serve``) so the browser and the measuring
clients do not share its interpreter. Prints one line per figure; the numbers go to
docs/benchmarks.md (Dashboard section).

    python bench/bench_dashboard_render.py [--tasks 1000] [--samples 30] [--clients 200]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_hub import CHROMIUM, CHROMIUM_ARGS

AGENTS = ("ann", "bob", "cat", "dan", "eve")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, values: list[float], unit: str = "ms") -> None:
    print(f"{name:<52} n={len(values):<4} p50={pct(values, .5):8.2f} {unit}  p95={pct(values, .95):8.2f} {unit}"
          f"  max={max(values):8.2f} {unit}", flush=True)


def write(board: Path, relpath: str, fields: dict) -> None:
    path = board / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(fields, sort_keys=False))


def populate(board: Path, count: int) -> None:
    for index in range(count):
        lane = ("inbox", "assigned", "done", "done", "dead")[index % 5] if index % 7 else "inbox"
        agent = AGENTS[index % len(AGENTS)]
        relpath = {"inbox": "inbox", "dead": "dead"}.get(lane, f"{lane}/{agent}") + f"/task-{index:04}.yaml"
        fields = {"id": f"task-{index:04}", "title": f"Task number {index} with a reasonably long title",
                  "priority": ("critical", "high", "medium", "low")[index % 4],
                  "description": "Some words about the work. " * 5,
                  "dependencies": [f"task-{index - 1:04}"] if index % 3 == 0 and index else []}
        if lane == "done":
            fields["result"] = {"model_used": "llama3.2", "tokens_in": 900, "tokens_out": 120,
                                "estimated_cost_usd": 0.0, "equivalent_claude_cost_usd": 0.012}
        write(board, relpath, fields)


@contextlib.contextmanager
def hub_process(work: Path):
    process = subprocess.Popen([sys.executable, "-m", "agentdeck.web.cli", "serve", "--work", str(work), "--port", "0",
                                "--log-level", "WARNING"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"(http://\S+?)/?$", line.strip())
        if not match:
            raise RuntimeError(f"hub did not start: {line!r}")
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(10)


def bench_server_render(base: str, rounds: int = 20) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        client.get("/")
        page_times, graph_times = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            response = client.get("/")
            page_times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
            started = time.perf_counter()
            client.get("/graph")
            graph_times.append((time.perf_counter() - started) * 1000)
        print(f"{'page size':<52} {len(response.text) / 1024:.0f} KiB")
    summary("GET / (full render, 1,000 tasks)", page_times)
    summary("GET /graph (dependency SVG)", graph_times)


async def _sse_clients(base: str, clients: int, board: Path, samples: int, prefix: str) -> list[float]:
    """Open ``clients`` streams, write ``samples`` files; latency of every client seeing each one."""
    latencies: list[float] = []
    written: dict[str, float] = {}
    ready = trio.Semaphore(0)
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, read=None), limits=limits) as http:
        async def listen() -> None:
            seen: set[str] = set()
            async with http.stream("GET", "/events") as response:
                ready.release()
                async for line in response.aiter_lines():
                    if "probe" not in line:
                        continue
                    for key in [k for k in written if k not in seen and f'data-task-id="{k}"' in line]:
                        seen.add(key)
                        latencies.append((time.time() - written[key]) * 1000)

        async with trio.open_nursery() as nursery:
            for _ in range(clients):
                nursery.start_soon(listen)
            for _ in range(clients):
                await ready.acquire()
            await trio.sleep(1.0)
            for index in range(samples):
                key = f"{prefix}-{index:03}"
                written[key] = time.time()
                write(board, f"inbox/{key}.yaml", {"id": key, "title": f"sse probe {index}", "priority": "critical",
                                                   "created": "2000-01-01T00:00:00Z"})
                await trio.sleep(0.25)
            with trio.move_on_after(10):
                while len(latencies) < clients * samples:  # noqa: ASYNC110 - filled by the client tasks
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    return latencies


SINK = """
import sys, trio, httpx
async def main(base, n):
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, read=None),
                                 limits=httpx.Limits(max_connections=n + 10)) as http:
        async def one():
            async with http.stream("GET", "/events") as response:
                async for _ in response.aiter_raw():
                    pass
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(one)
trio.run(main, sys.argv[1], int(sys.argv[2]))
"""


def bench_sse(base: str, board: Path, samples: int, clients: int) -> None:
    one = trio.run(_sse_clients, base, 1, board, samples, "probe-a")
    summary("file write -> SSE event, 1 client", one)
    sink = subprocess.Popen([sys.executable, "-c", SINK, base, str(clients - 1)])
    try:
        time.sleep(3)
        watched = trio.run(_sse_clients, base, 1, board, samples, "probe-s")
        summary(f"  same, 1 client while {clients - 1} others stream", watched)
    finally:
        sink.terminate()
        sink.wait(10)
    many = trio.run(_sse_clients, base, clients, board, samples, "probe-b")
    summary(f"  same, every one of {clients} clients in one process", many)


def bench_browser(base: str, board: Path, samples: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        loads = []
        for _ in range(5):
            started = time.perf_counter()
            page.goto(base + "/")
            page.wait_for_selector("#conn.conn-connected")
            loads.append((time.perf_counter() - started) * 1000)
        summary("page load -> connected (1,000 tasks)", loads)
        page.evaluate("""() => { window.__seen = {};
            new MutationObserver(() => {
              document.querySelectorAll('#lane-inbox .card[data-task-id^="probe-"]').forEach(c => {
                if (!(c.dataset.taskId in window.__seen)) window.__seen[c.dataset.taskId] = Date.now(); }); })
            .observe(document.getElementById('lane-inbox'), {childList: true, subtree: true}); }""")
        visible = []
        for index in range(samples):
            key = f"probe-c{index:03}"
            started = time.time() * 1000
            write(board, f"inbox/{key}.yaml", {"id": key, "title": f"probe {index}", "priority": "critical",
                                               "created": "2000-01-01T00:00:00Z"})
            page.wait_for_function(f"() => '{key}' in window.__seen", timeout=5000)
            visible.append(page.evaluate(f"window.__seen['{key}']") - started)
            time.sleep(0.2)
        summary("file write -> card visible in Chromium", visible)

        page.evaluate("""() => { window.__swaps = 0;
            document.body.addEventListener('htmx:sseMessage', e => {
              if (/lane-inbox/.test(e.detail.type)) window.__swaps++; }); }""")
        before = int(page.locator("#lane-inbox .lane-head .count").inner_text())
        started = time.perf_counter()
        for index in range(500):
            write(board, f"inbox/burst-{index:03}.yaml", {"id": f"burst-{index:03}", "title": f"burst {index}"})
        rtts = []
        while int(page.locator("#lane-inbox .lane-head .count").inner_text()) < before + 500:
            tick = time.perf_counter()
            page.evaluate("1")
            rtts.append((time.perf_counter() - tick) * 1000)
            if time.perf_counter() - started > 30:
                raise TimeoutError("burst never fully arrived")
        done = (time.perf_counter() - started) * 1000
        print(f"{'burst of 500 files -> all cards shown':<52} {done:.0f} ms, "
              f"{page.evaluate('window.__swaps')} inbox swaps, page round-trip p95 {pct(rtts, .95):.1f} ms "
              f"max {max(rtts):.1f} ms", flush=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentdeck-bench-") as tmp:
        work = Path(tmp) / "work"
        board = work / "collaboration"
        populate(board, args.tasks)
        print(f"board: {args.tasks} tasks, cpu count {os.cpu_count()}", flush=True)
        with hub_process(work) as base:
            time.sleep(1.0)
            bench_server_render(base)
            bench_sse(base, board, args.samples, args.clients)
            if not args.no_browser:
                bench_browser(base, board, args.samples)
        print(f"total board after run: {sum(1 for _ in board.rglob('*.yaml'))} files")


if __name__ == "__main__":
    main()
