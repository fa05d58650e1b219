"""The dashboard state actor on a real Hub's actors: snapshot fields, every health condition, the ring, the hour.

The queue and dashboard actors of a real ``Hub`` run directly under trio's autojump clock, and the
tests publish events on ``hub.bus`` (the agent and task events the lifecycle publishes). The same
actor driven through real task files and HTTP: tests/integration/actors/dashboard/test_dashboard_over_http.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import make_task

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.actors.messages import (
    ActorRestarted,
    AgentJoined,
    AgentLeft,
    AgentStateChanged,
    BudgetThreshold,
    ExecutionEvent,
    ExecutionResult,
    GetDashboardSnapshot,
    InvalidTaskFile,
    SecurityWarning,
    TaskAssigned,
    TaskCompleted,
    TaskCreated,
    TaskDeadLettered,
    TaskInvalid,
    TaskMoved,
    TaskProgress,
    TaskRemoved,
    TaskRetried,
    WatcherModeChanged,
)


class DashboardUnderTest:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def publish(self, *events: Any) -> None:
        for event in events:
            self.hub.bus.publish(event)

    async def snapshot(self) -> dict[str, Any]:
        await trio.sleep(0.01)  # under the autojump clock: every task has run and is blocked again
        return await self.hub.ask_dashboard(GetDashboardSnapshot())

    async def conditions(self) -> list[str]:
        return (await self.snapshot())["health"]["conditions"]

    async def condition_names(self) -> list[str]:
        return [text.split(":")[0] for text in await self.conditions()]


@pytest.fixture
async def dash(tmp_path: Path, autojump_clock, nursery) -> DashboardUnderTest:
    hub = Hub(HubConfig(work_dir=tmp_path, port=0, fsync=False))
    await nursery.start(hub.queue.run)
    await nursery.start(hub.dashboard.run)
    return DashboardUnderTest(hub)


async def test_snapshot_has_every_field_in_the_documented_shape(dash, autojump_clock):
    snap = await dash.snapshot()
    assert list(snap) == ["uptime_ms", "timestamp", "health", "agents", "queue", "dead_letter_tasks",
                          "recent_completions", "throughput", "costs", "running"]
    assert snap["health"] == {"status": "ok", "conditions": [], "condition_tasks": []}
    assert snap["queue"] == {"by_status": {"inbox": 0, "assigned": 0, "done": 0, "dead": 0},
                             "by_priority": {"critical": 0, "high": 0, "medium": 0, "low": 0},
                             "dead_letter": 0}
    assert snap["costs"] == {"today": None, "month": None, "total": None,
                             "budget": {"daily": None, "monthly": None}}
    assert abs(snap["timestamp"] - time.time() * 1000) < 5000 and snap["uptime_ms"] >= 0


async def test_agents_tasks_completions_and_dead_letters(dash, autojump_clock):
    routing = {"effective_tier": "standard", "target_type": "ollama"}
    queued = make_task("t1", priority="high")
    assigned = make_task("t1", "assigned", priority="high", routing_decision=routing)
    done = make_task("t1", "done", priority="high", routing_decision=routing)
    dead = make_task("t2", "dead", last_error="boom", retry_count=3, created="2026-01-02T03:04:05")
    result = ExecutionResult(model_used="llama3", tokens_in=100, tokens_out=50, estimated_cost_usd=0.0,
                             equivalent_claude_cost_usd=0.0021, execution_ms=900)
    dash.publish(AgentJoined(agent_id="a1", name="Agent One", capabilities=("shell",), at=1000.0),
                 TaskCreated(task=queued), TaskCreated(task=make_task("t3", priority="low")))
    snap = await dash.snapshot()
    assert snap["queue"]["by_status"]["inbox"] == 2
    assert snap["queue"]["by_priority"] == {"critical": 0, "high": 1, "medium": 0, "low": 1}
    assert snap["agents"] == [{"agent_id": "a1", "name": "Agent One", "state": "idle",
                               "current_task_id": None, "capabilities": ["shell"],
                               "connected_at": 1_000_000, "last_state_change": 1_000_000}]

    dash.publish(TaskAssigned(task=assigned, previous=queued, agent_id="a1", generation=1),
                 AgentStateChanged(agent_id="a1", state="working", task_id="t1", at=1001.5))
    snap = await dash.snapshot()
    assert snap["queue"]["by_status"] == {"inbox": 1, "assigned": 1, "done": 0, "dead": 0}
    assert snap["agents"][0]["state"] == "working" and snap["agents"][0]["current_task_id"] == "t1"
    assert snap["agents"][0]["last_state_change"] == 1_001_500

    dash.publish(TaskCompleted(task=done, previous=assigned, agent_id="a1", result=result,
                               duration_ms=1234, at=1002.0),
                 TaskDeadLettered(task=dead, agent_id="a1", error="boom", retry_count=3))
    snap = await dash.snapshot()
    assert snap["queue"] == {"by_status": {"inbox": 1, "assigned": 0, "done": 1, "dead": 1},
                             "by_priority": {"critical": 0, "high": 0, "medium": 0, "low": 1},
                             "dead_letter": 1}
    assert snap["dead_letter_tasks"] == [{"id": "t2", "title": "Task t2", "last_error": "boom",
                                          "retry_count": 3, "created_at": "2026-01-02T03:04:05"}]
    assert snap["recent_completions"] == [{
        "task_id": "t1", "agent_id": "a1", "title": "Task t1", "duration_ms": 1234, "tokens": 150,
        "completed_at": 1_002_000, "routing_decision": routing,
        "execution_meta": {"model_used": "llama3", "tokens_in": 100, "tokens_out": 50,
                           "estimated_cost_usd": 0.0, "equivalent_claude_cost_usd": 0.0021,
                           "execution_ms": 900}}]
    assert snap["throughput"] == {"completed_last_hour": 1, "failed_last_hour": 1,
                                  "avg_completion_ms": 1234, "total_tokens_hour": 150}

    dash.publish(TaskMoved(task=make_task("t2"), previous=dead), TaskRemoved(task=make_task("t3")))
    snap = await dash.snapshot()
    assert snap["queue"]["dead_letter"] == 0 and snap["dead_letter_tasks"] == []
    assert snap["queue"]["by_status"]["inbox"] == 1
    assert snap["queue"]["by_priority"] == {"critical": 0, "high": 0, "medium": 1, "low": 0}


async def test_snapshot_parts_are_reused_until_something_changes(dash, autojump_clock):
    first = await dash.snapshot()
    second = await dash.snapshot()
    assert first["queue"] is second["queue"] and first["recent_completions"] is second["recent_completions"]
    dash.publish(TaskCreated(task=make_task("t1")))
    third = await dash.snapshot()
    assert third["queue"] is not second["queue"] and second["queue"]["by_status"]["inbox"] == 0
    assert third["recent_completions"] is second["recent_completions"]


async def test_recent_completions_keep_the_newest_hundred(dash, autojump_clock):
    for n in range(150):
        task = make_task(f"t{n}", "done")
        dash.publish(TaskCompleted(task=task, previous=None, agent_id="a1", duration_ms=n))
    completions = (await dash.snapshot())["recent_completions"]
    assert len(completions) == 100
    assert [c["task_id"] for c in completions] == [f"t{n}" for n in range(149, 49, -1)]


async def test_throughput_is_a_true_sliding_hour(dash, autojump_clock):
    result = ExecutionResult(tokens_in=10, tokens_out=0)
    dash.publish(TaskCompleted(task=make_task("a", "done"), previous=None, result=result, duration_ms=1000))
    await trio.sleep(1800)
    dash.publish(TaskCompleted(task=make_task("b", "done"), previous=None, result=result, duration_ms=3000),
                 TaskRetried(task=make_task("c"), agent_id="a1", error="x", retry_count=1))
    assert (await dash.snapshot())["throughput"] == {
        "completed_last_hour": 2, "failed_last_hour": 1, "avg_completion_ms": 2000, "total_tokens_hour": 20}
    await trio.sleep(1800)  # the first completion is now just over an hour old; nothing reset on the hour
    assert (await dash.snapshot())["throughput"] == {
        "completed_last_hour": 1, "failed_last_hour": 1, "avg_completion_ms": 3000, "total_tokens_hour": 10}
    await trio.sleep(1800)
    assert (await dash.snapshot())["throughput"] == {
        "completed_last_hour": 0, "failed_last_hour": 0, "avg_completion_ms": None, "total_tokens_hour": 0}


# ---------------------------------------------------------------------------- health conditions


async def test_agent_seen_recently_now_offline(dash, autojump_clock):
    dash.publish(AgentJoined(agent_id="a1", name="one"), AgentJoined(agent_id="a2", name="two"))
    assert await dash.conditions() == []
    dash.publish(AgentLeft(agent_id="a1", reason="socket closed"),
                 AgentStateChanged(agent_id="a1", state="offline"))
    snap = await dash.snapshot()
    assert snap["health"]["status"] == "warning"
    assert snap["health"]["conditions"] == ["agent_offline: agent a1 went offline 0 s ago"]
    assert {a["agent_id"]: a["state"] for a in snap["agents"]} == {"a1": "offline", "a2": "idle"}
    await trio.sleep(300)
    assert "5 min ago" in (await dash.conditions())[0]
    await trio.sleep(301)  # no longer "seen recently": the condition and the entry go
    snap = await dash.snapshot()
    assert snap["health"] == {"status": "ok", "conditions": [], "condition_tasks": []}
    assert [a["agent_id"] for a in snap["agents"]] == ["a2"]


async def test_agent_back_online_clears_the_condition(dash, autojump_clock):
    dash.publish(AgentJoined(agent_id="a1", name="one"), AgentLeft(agent_id="a1"))
    assert await dash.condition_names() == ["agent_offline"]
    dash.publish(AgentJoined(agent_id="a1", name="one"))
    assert await dash.conditions() == []


async def test_queue_growing_on_three_consecutive_checks(dash, autojump_clock):
    for n in range(3):
        dash.publish(TaskCreated(task=make_task(f"t{n}")))
        await trio.sleep(60)
        if n < 2:
            assert await dash.conditions() == [], f"after check {n + 1}"
    snap = await dash.snapshot()
    assert snap["health"]["conditions"] == [
        "queue_growing: queued tasks grew on 3 checks in a row (0 -> 1 -> 2 -> 3)"]
    await trio.sleep(60)  # a flat check ends it
    assert await dash.conditions() == []


async def test_assigned_task_without_progress_for_five_minutes(dash, autojump_clock):
    queued = make_task("t1")
    assigned = make_task("t1", "assigned")
    dash.publish(TaskCreated(task=queued), TaskAssigned(task=assigned, previous=queued, agent_id="a1"))
    await trio.sleep(200)
    dash.publish(TaskProgress(task_id="t1", agent_id="a1", progress=50))
    await trio.sleep(250)  # 450 s since assignment, 250 s since progress
    assert await dash.conditions() == []
    dash.publish(ExecutionEvent(task_id="t1", agent_id="a1", generation=1, event_type="stdout", text="x"))
    await trio.sleep(299)
    assert await dash.conditions() == []
    await trio.sleep(2)
    conditions = await dash.conditions()
    assert conditions[0].startswith("task_stuck: 1 assigned task(s) without progress") and "t1" in conditions[0]
    dash.publish(TaskCompleted(task=make_task("t1", "done"), previous=assigned, agent_id="a1"))
    assert await dash.conditions() == []


async def test_more_than_half_of_this_hours_finished_tasks_failed_is_critical(dash, autojump_clock):
    dash.publish(TaskCompleted(task=make_task("a", "done"), previous=None),
                 TaskRetried(task=make_task("b"), agent_id="a1", error="x", retry_count=1))
    assert (await dash.snapshot())["health"]["status"] == "ok"  # exactly half
    dash.publish(TaskDeadLettered(task=make_task("c", "dead"), agent_id="a1", error="x", retry_count=4))
    snap = await dash.snapshot()
    assert snap["health"]["status"] == "critical"
    assert snap["health"]["conditions"] == ["high_failure_rate: 2 of 3 tasks finished in the last hour failed (67%)"]
    await trio.sleep(3601)
    assert (await dash.snapshot())["health"]["status"] == "ok"


async def test_budget_thresholds_from_telemetry(dash, autojump_clock):
    dash.publish(BudgetThreshold(period="daily", level=80, spent=8.0, budget=10.0))
    snap = await dash.snapshot()
    assert snap["health"] == {"status": "warning",
                              "conditions": ["budget: daily budget at 80 % ($8.00 of $10.00)"],
                              "condition_tasks": [[]]}
    dash.publish(BudgetThreshold(period="daily", level=100, spent=10.5, budget=10.0))
    assert (await dash.snapshot())["health"]["status"] == "critical"
    dash.publish(BudgetThreshold(period="monthly", level=80, spent=80, budget=100,
                                 at=time.time() - 40 * 86400))  # last month's: over
    assert await dash.condition_names() == ["budget"]


async def test_invalid_task_files_present(dash, autojump_clock):
    invalid = InvalidTaskFile("inbox/bad.yaml", "invalid YAML")
    dash.publish(TaskInvalid(path="inbox/bad.yaml", invalid=invalid))
    snap = await dash.snapshot()
    assert snap["health"]["conditions"] == ["invalid_task_files: 1 task file(s) cannot be read: inbox/bad.yaml"]
    assert snap["health"]["status"] == "warning"
    dash.publish(TaskInvalid(path="inbox/bad.yaml", invalid=None))
    assert await dash.conditions() == []


async def test_actor_restarted_in_the_last_ten_minutes(dash, autojump_clock):
    dash.publish(ActorRestarted(name="queue", restarts=1, error="RuntimeError: x"))
    assert await dash.conditions() == ["actor_restarted: actor queue restarted 0 s ago (1 restart(s) in all)"]
    await trio.sleep(599)
    assert await dash.condition_names() == ["actor_restarted"]
    await trio.sleep(2)
    assert await dash.conditions() == []


async def test_watcher_fell_back_to_polling_and_security_warnings(dash, autojump_clock):
    dash.publish(WatcherModeChanged(mode="polling", reason="inotify watch limit reached"))
    assert await dash.conditions() == [
        "watcher_polling: the board is polled, not watched (inotify watch limit reached)"]
    dash.publish(WatcherModeChanged(mode="native"),
                 SecurityWarning(message="agents are accepted without tokens"))
    assert await dash.conditions() == ["security: agents are accepted without tokens"]


async def test_status_is_the_worst_of_several_conditions(dash, autojump_clock):
    dash.publish(WatcherModeChanged(mode="polling", reason="x"),
                 TaskRetried(task=make_task("b"), agent_id="a1", error="x", retry_count=1),
                 BudgetThreshold(period="daily", level=80, spent=8.0, budget=10.0))
    snap = await dash.snapshot()
    assert snap["health"]["status"] == "critical"
    assert sorted(c.split(":")[0] for c in snap["health"]["conditions"]) == [
        "budget", "high_failure_rate", "watcher_polling"]


async def test_a_lagging_dashboard_rereads_the_board(tmp_path, autojump_clock, nursery):
    hub = Hub(HubConfig(work_dir=tmp_path, port=0, fsync=False))
    hub.dashboard._bus_buffer = 5
    await nursery.start(hub.queue.run)
    await nursery.start(hub.dashboard.run)
    for n in range(50):  # far more than its buffer, published before it can read: it must resync
        hub.bus.publish(TaskCreated(task=make_task(f"ghost{n}")))
    await trio.sleep(0.1)
    snap = await hub.ask_dashboard(GetDashboardSnapshot())
    assert snap["queue"]["by_status"]["inbox"] == 0  # the ghosts were never on the board
