"""Telemetry at scale: /api/stats on a telemetry.db of 1,000,000 invocation rows.

Prints: time to build the file, the hub's first full load, /api/stats warm latency (p50/p95), the
first /api/stats read right after an insert, and how long a hub-written or externally written row
takes to show up in the figures. Usage: ``python bench/bench_telemetry.py [rows]``.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import trio

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.actors.messages import ExecutionResult, Task, TaskCompleted, TelemetryChanged
from agentdeck.actors.telemetry.store import TelemetryStore
from agentdeck.web.server import run_hub

MODELS = ["claude-sonnet-4-5", "claude-3-5-haiku-latest", "gpt-4o", "gpt-4o-mini", "o3",
          "llama3:8b", "qwen2.5-coder:7b", "mistral", "mystery-model", "shell"]


def build(path: Path, count: int) -> float:
    """A year of invocations from 20 agents over 10 models, written straight into the file."""
    TelemetryStore(path).open()
    rng = random.Random(1)
    start = datetime.now(UTC) - timedelta(days=365)
    began = time.perf_counter()
    db = sqlite3.connect(path)

    def rows():
        for i in range(count):
            model = rng.choice(MODELS)
            local = ":" in model or model == "mistral"
            cost = None if model == "mystery-model" else 0.0 if local else rng.uniform(0, 0.2)
            when = start + timedelta(seconds=rng.uniform(0, 365 * 86400))
            yield (when.isoformat(timespec="milliseconds"), "bench", model, rng.randint(10, 20_000),
                   cost, rng.randint(50, 120_000), "success" if rng.random() < 0.93 else "error",
                   f"agent-{rng.randint(1, 20)}", f"task-{i}", 1, 0 if cost is None else 1,
                   rng.uniform(0, 0.3) if local else None)

    db.executemany("INSERT INTO invocations (timestamp, tool, model, tokens, cost, latency_ms, status,"
                   " agent, task_id, generation, priced, equivalent_claude_cost)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
    db.commit()
    db.close()
    return time.perf_counter() - began


def completion(n: int) -> TaskCompleted:
    task = Task(id=f"bench-{n}", path=f"done/a/bench-{n}.yaml", lane="done", lane_agent="a",
                title="bench", status="completed", priority="low", agent="a", created=None,
                description="", dependencies=(), estimated_hours=None, tags=(),
                fields={"generation": 1})
    return TaskCompleted(task=task, previous=None, agent_id="a", result=ExecutionResult(
        model_used="claude-sonnet-4-5", tokens_in=500, tokens_out=100, execution_ms=800))


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms (n={len(ordered)})"


async def timed_get(client: httpx.AsyncClient) -> tuple[float, dict]:
    began = time.perf_counter()
    response = await client.get("/api/stats")
    elapsed = time.perf_counter() - began
    response.raise_for_status()
    return elapsed, response.json()


async def bench(count: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-telemetry-"))
    path = work / "telemetry.db"
    print(f"building {count:,} rows ... {build(path, count):.1f} s "
          f"({path.stat().st_size / 1e6:.0f} MB)")
    hub = Hub(HubConfig(work_dir=work, port=0, fsync=False, telemetry_db=path))
    async with trio.open_nursery() as nursery:
        began = time.perf_counter()
        addresses = await nursery.start(run_hub, hub)
        base = next(a for a in addresses if a.startswith("http://"))
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            while True:
                _, stats = await timed_get(client)
                if stats["source"]["fresh"]:
                    break
                await trio.sleep(0.05)
            print(f"hub start + first full load: {time.perf_counter() - began:.2f} s "
                  f"({stats['all_time']['invocations']:,} rows)")
            for _ in range(50):
                await timed_get(client)
            warm = [(await timed_get(client))[0] for _ in range(1000)]
            print(f"/api/stats warm: {percentiles(warm)}")

            sub = hub.bus.subscribe("bench", 0)
            after_insert, visible = [], []
            for n in range(100):
                published = time.perf_counter()
                hub.bus.publish(completion(n))
                async for event in sub:
                    if isinstance(event, TelemetryChanged):
                        break
                visible.append(time.perf_counter() - published)
                elapsed, stats = await timed_get(client)
                after_insert.append(elapsed)
            assert stats["all_time"]["invocations"] == count + 100
            print(f"first /api/stats after a hub insert: {percentiles(after_insert)}")
            print(f"hub insert -> figures updated: {percentiles(visible)}")

            external = []
            for _ in range(20):
                db = sqlite3.connect(path)
                db.execute("INSERT INTO invocations (timestamp, tool, model, tokens, cost, latency_ms,"
                           " status) VALUES (?, 'ext', 'gpt-4o', 10, 0.01, 5, 'ok')",
                           (datetime.now(UTC).isoformat(),))
                db.commit()
                db.close()
                inserted = time.perf_counter()
                async for event in sub:
                    if isinstance(event, TelemetryChanged):
                        break
                external.append(time.perf_counter() - inserted)
            print(f"external insert -> figures updated: {percentiles(external)}")
        hub.stop()

    store = TelemetryStore(path)
    began = time.perf_counter()
    store.open()
    print(f"store: full load of {store.aggregator.rows:,} rows {time.perf_counter() - began:.2f} s")
    computes = []
    for _ in range(50):
        began = time.perf_counter()
        store.stats()
        computes.append(time.perf_counter() - began)
    print(f"store: recompute stats from running totals: {percentiles(computes)}")
    store.close()


if __name__ == "__main__":
    trio.run(bench, int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
