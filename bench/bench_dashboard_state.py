"""``GET /api/dashboard/state`` latency with 10,000 tasks and 100 agents on a real hub.

A real hub (every actor, Hypercorn on 127.0.0.1, httpx in the same process) starts on a temp board
of N task files spread over the lanes (5 % dead, so the dead-letter list is full). 100 agents join
and change state, and 100 completions with execution metadata fill the ring, all as bus events.
Then it measures:

- GET latency, quiet: nothing changes between requests (every part of the snapshot is cached);
- GET latency, busy: 50 task events land between two requests (parts are rebuilt on the next GET);
- the actor's own cost: ``ask_dashboard(GetDashboardSnapshot())`` in process, quiet and busy;
- the size of the JSON answer.

Run: ``python bench/bench_dashboard_state.py [tasks] [agents] [requests]`` (defaults 10000 100 500).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import trio.lowlevel

from agentdeck.actors.board.taskfile import parse_task
from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.actors.messages import (
    AgentJoined,
    AgentStateChanged,
    ExecutionResult,
    GetDashboardSnapshot,
    TaskCompleted,
    TaskUpdated,
)
from agentdeck.web.server import run_hub

PRIORITIES = ("critical", "high", "medium", "low")


def write_board(board: Path, count: int, agents: int) -> None:
    for n in range(count):
        share = n % 20
        if share == 0:
            where = "dead"
        elif share < 8:
            where = "inbox"
        elif share < 10:
            where = f"assigned/agent-{n % agents}"
        else:
            where = f"done/agent-{n % agents}"
        fields = {"id": f"task-{n:05d}", "title": f"Task number {n}", "priority": PRIORITIES[n % 4],
                  "description": "Build the thing. " * 5, "created": "2026-11-01T10:00:00"}
        if where == "dead":
            fields.update(retry_count=3, last_error="exit status 1: tests failed")
        path = board / where / f"task-{n:05d}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(fields), encoding="utf-8")


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered) * 1000:6.2f} ms   p95 {p95 * 1000:6.2f} ms   (n={len(ordered)})"


def churn(hub: Hub, round_no: int, events: int = 50) -> None:
    """Task events that change counts, as a busy board would."""
    for k in range(events):
        n = (round_no * events + k) % 1000
        body = {"id": f"task-{n * 20 + 1:05d}", "title": "moved", "priority": PRIORITIES[(round_no + k) % 4]}
        task = parse_task(f"inbox/task-{n * 20 + 1:05d}.yaml", yaml.safe_dump(body).encode())
        hub.bus.publish(TaskUpdated(task=task, previous=task))


async def main(tasks: int, agents: int, requests: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="agentdeck-bench-dash-"))
    write_board(work / "collaboration", tasks, agents)
    hub = Hub(HubConfig(work_dir=work, port=0, fsync=False))
    async with trio.open_nursery() as nursery:
        started = time.perf_counter()
        addresses = await nursery.start(run_hub, hub)
        print(f"hub up on {tasks} task files in {time.perf_counter() - started:.2f} s")
        for n in range(agents):
            hub.bus.publish(AgentJoined(agent_id=f"agent-{n}", name=f"Agent {n}",
                                        capabilities=("shell", "ollama")))
            hub.bus.publish(AgentStateChanged(agent_id=f"agent-{n}", state="working",
                                              task_id=f"task-{n:05d}"))
        result = ExecutionResult(model_used="llama3.2:latest", tokens_in=1200, tokens_out=800,
                                 estimated_cost_usd=0.0, equivalent_claude_cost_usd=0.0156, execution_ms=4200)
        for n in range(100):
            body = {"id": f"done-{n}", "title": f"Finished {n}",
                    "routing_decision": {"effective_tier": "standard", "target_type": "ollama"}}
            task = parse_task(f"done/agent-{n % agents}/done-{n}.yaml", yaml.safe_dump(body).encode())
            hub.bus.publish(TaskCompleted(task=task, previous=None, agent_id=f"agent-{n % agents}",
                                          result=result, duration_ms=4300))
        await trio.sleep(0.5)
        base = next(a for a in addresses if a.startswith("http://"))
        async with httpx.AsyncClient(base_url=base) as client:
            first = await client.get("/api/dashboard/state")
            snap = first.json()
            print(f"answer: {len(first.content) / 1024:.1f} KiB; queue {snap['queue']['by_status']}, "
                  f"{len(snap['agents'])} agents, {len(snap['dead_letter_tasks'])} dead listed, "
                  f"{len(snap['recent_completions'])} completions")
            for _ in range(20):
                await client.get("/api/dashboard/state")

            quiet = []
            for _ in range(requests):
                t0 = time.perf_counter()
                response = await client.get("/api/dashboard/state")
                quiet.append(time.perf_counter() - t0)
                assert response.status_code == 200
            print(f"GET /api/dashboard/state, quiet:          {percentiles(quiet)}")

            busy = []
            for round_no in range(requests):
                churn(hub, round_no)
                await trio.lowlevel.checkpoint()
                t0 = time.perf_counter()
                await client.get("/api/dashboard/state")
                busy.append(time.perf_counter() - t0)
            print(f"GET /api/dashboard/state, 50 events/GET:  {percentiles(busy)}")

        in_process_quiet, in_process_busy = [], []
        for round_no in range(requests):
            t0 = time.perf_counter()
            await hub.ask_dashboard(GetDashboardSnapshot())
            in_process_quiet.append(time.perf_counter() - t0)
            churn(hub, round_no)
            await trio.sleep(0.001)
            t0 = time.perf_counter()
            await hub.ask_dashboard(GetDashboardSnapshot())
            in_process_busy.append(time.perf_counter() - t0)
        print(f"ask_dashboard in process, quiet:          {percentiles(in_process_quiet)}")
        print(f"ask_dashboard in process, after changes:  {percentiles(in_process_busy)}")
        hub.stop()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    trio.run(main, *(args + [10_000, 100, 500][len(args):]))
