"""The telemetry actor in a real hub: recording finished attempts from the bus, noticing other
writers, budget thresholds, and a locked database."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest
import trio
from conftest import collect_events, wait_for_event, wait_until

from agentdeck.actors.bus import EventBus
from agentdeck.actors.config import HubConfig
from agentdeck.actors.mailbox import ask
from agentdeck.actors.messages import (
    BudgetThreshold,
    ExecutionResult,
    GetStats,
    Task,
    TaskCompleted,
    TaskDeadLettered,
    TaskRetried,
    TelemetryChanged,
)
from agentdeck.actors.telemetry.actor import Telemetry
from agentdeck.actors.telemetry.pricing import price_invocation


def make_task(task_id: str, generation: int = 1, agent: str = "alpha") -> Task:
    return Task(id=task_id, path=f"done/{agent}/{task_id}.yaml", lane="done", lane_agent=agent,
                title=task_id, status="completed", priority="medium", agent=agent, created=None,
                description="", dependencies=(), estimated_hours=None, tags=(),
                fields={"id": task_id, "generation": generation})


def completed(task_id: str, *, cost: float | None = None, model: str = "claude-sonnet-4-5",
              generation: int = 1, agent: str = "alpha", **result: Any) -> TaskCompleted:
    outcome = ExecutionResult(model_used=model, tokens_in=1000, tokens_out=200,
                              estimated_cost_usd=cost, execution_ms=1200, **result)
    return TaskCompleted(task=make_task(task_id, generation, agent), previous=None, agent_id=agent,
                         result=outcome)


async def stats_of(running) -> dict[str, Any]:
    response = await running.client.get("/api/stats")
    assert response.status_code == 200
    return response.json()


async def count_is(running, expected: int) -> bool:
    return (await stats_of(running))["all_time"]["invocations"] == expected


def rows(path) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT task_id, generation, status, agent, model, tokens_in, tokens_out, "
                          "tokens, cost, latency_ms, priced, equivalent_claude_cost FROM invocations "
                          "ORDER BY id").fetchall()
    finally:
        db.close()


async def test_finished_attempts_are_recorded_once(running_hub):
    sub = running_hub.subscribe("test", 0)
    bus = running_hub.bus
    bus.publish(completed("t1"))  # no cost given: priced by the hub
    bus.publish(completed("t1"))  # the same completion seen twice
    bus.publish(TaskCompleted(task=make_task("no-result"), previous=None, agent_id="alpha"))
    bus.publish(TaskRetried(task=make_task("t2"), agent_id="beta", error="boom", retry_count=1))
    bus.publish(TaskDeadLettered(task=make_task("t3", 2), agent_id="beta", error="gave up",
                                 retry_count=3, result=ExecutionResult(
                                     status="error", model_used="llama3:8b", tokens_in=10,
                                     tokens_out=5, execution_ms=90)))
    bus.publish(completed("t1", generation=2, cost=0.5))  # a new attempt is a new row
    event = await wait_for_event(sub, TelemetryChanged)
    assert event.source == "hub"
    await wait_until(lambda: count_is(running_hub, 4))
    stats = await stats_of(running_hub)
    expected_t1 = price_invocation("claude-sonnet-4-5", 1000, 200).cost_usd
    assert stats["all_time"]["cost_usd"] == pytest.approx(expected_t1 + 0.5, abs=1e-6)
    assert (stats["succeeded"], stats["failed"]) == (2, 2)
    assert {row["agent"]: row["invocations"] for row in stats["by_agent"]} == {"alpha": 2, "beta": 2}
    assert stats["saved_by_local_usd"] == pytest.approx(
        price_invocation("llama3:8b", 10, 5).equivalent_claude_cost_usd, abs=1e-6)
    written = rows(running_hub.hub.config.telemetry_path)
    assert written[0] == ("t1", 1, "success", "alpha", "claude-sonnet-4-5", 1000, 200, 1200,
                          pytest.approx(expected_t1), 1200, 1, None)
    assert [row[:3] for row in written] == [("t1", 1, "success"), ("t2", 1, "error"),
                                           ("t3", 2, "error"), ("t1", 2, "success")]
    assert written[2][10:] == (1, pytest.approx(price_invocation("llama3:8b", 10, 5)
                                                .equivalent_claude_cost_usd))


async def test_a_malformed_event_is_logged_and_skipped(running_hub, caplog):
    bad = TaskCompleted(task=None, previous=None, agent_id="alpha",  # type: ignore[arg-type]
                        result=ExecutionResult(model_used="gpt-4o", tokens_in="many"))  # type: ignore[arg-type]
    running_hub.bus.publish(bad)
    running_hub.bus.publish(completed("after-bad", cost=0.1))
    await wait_until(lambda: count_is(running_hub, 1))
    assert any("cannot record TaskCompleted" in record.message for record in caplog.records)
    assert [row[0] for row in rows(running_hub.hub.config.telemetry_path)] == ["after-bad"]
    assert all(actor.restarts == 0 for actor in running_hub.hub.supervisor.status()
               if actor.name == "telemetry")


async def test_unknown_model_is_unpriced_through_the_hub(running_hub):
    running_hub.bus.publish(completed("u1", model="totally-unknown-model"))
    running_hub.bus.publish(completed("u2", model="claude-sonnet-4-5", cost=1.0, priced=False))
    await wait_until(lambda: count_is(running_hub, 2))
    stats = await stats_of(running_hub)
    assert stats["unpriced_invocations"] == 2
    assert stats["all_time"]["cost_usd"] == 0.0
    assert stats["avg_cost_per_invocation_usd"] is None
    assert [row[8] for row in rows(running_hub.hub.config.telemetry_path)] == [None, None]


async def test_external_writer_is_noticed_within_a_second(running_hub):
    sub = running_hub.subscribe("test", 0)
    assert (await stats_of(running_hub))["all_time"]["invocations"] == 0
    db = sqlite3.connect(running_hub.hub.config.telemetry_path)
    db.execute("INSERT INTO invocations (timestamp, tool, model, tokens, cost, latency_ms, status) "
               "VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'other-tool', 'gpt-4o', 300, 0.75, "
               "640, 'success')")
    db.commit()
    db.close()
    inserted = time.monotonic()
    await wait_until(lambda: count_is(running_hub, 1), timeout=2.0, interval=0.02)
    assert time.monotonic() - inserted < 1.0
    stats = await stats_of(running_hub)
    assert stats["today"] == {"cost_usd": 0.75, "tokens": 300, "invocations": 1, "unpriced": 0}
    assert stats["by_model"][0]["model"] == "gpt-4o"
    assert (await wait_for_event(sub, TelemetryChanged)).source == "external"


async def test_budget_thresholds_fire_once_per_period(start_hub):
    first = await start_hub(budget_daily=1.0, budget_monthly=1000.0)
    sub = first.subscribe("test", 0)
    first.bus.publish(completed("b1", cost=0.85))
    alert = await wait_for_event(sub, BudgetThreshold)
    assert (alert.period, alert.level, alert.spent, alert.budget) == ("daily", 80, 0.85, 1.0)
    first.bus.publish(completed("b2", cost=0.1))
    await wait_until(lambda: count_is(first, 2))
    first.bus.publish(completed("b3", cost=0.1))
    alert = await wait_for_event(sub, BudgetThreshold)
    assert (alert.period, alert.level) == ("daily", 100)
    first.bus.publish(completed("b4", cost=0.3))
    await wait_until(lambda: count_is(first, 4))
    later = [event for event in await collect_events(sub, quiet=0.5)
             if isinstance(event, BudgetThreshold)]
    assert later == []
    budget = (await stats_of(first))["budget"]
    assert budget["daily"]["level"] == "critical" and budget["daily"]["percent"] == pytest.approx(135)
    assert budget["monthly"]["level"] == "ok"
    first.hub.stop()

    second = await start_hub(budget_daily=1.0, budget_monthly=1000.0)  # same file, new process state
    sub2 = second.subscribe("test", 0)
    assert (await stats_of(second))["budget"]["daily"]["level"] == "critical"
    assert [event for event in await collect_events(sub2, quiet=0.6)
            if isinstance(event, BudgetThreshold)] == []


async def test_no_budget_means_no_thresholds(running_hub):
    sub = running_hub.subscribe("test", 0)
    running_hub.bus.publish(completed("nb", cost=10_000.0))
    await wait_until(lambda: count_is(running_hub, 1))
    assert (await stats_of(running_hub))["budget"] == {"daily": None, "monthly": None}
    assert not [e for e in await collect_events(sub, quiet=0.4) if isinstance(e, BudgetThreshold)]


async def test_locked_database_serves_last_figures_then_recovers(tmp_path):
    config = HubConfig(work_dir=tmp_path, port=0, fsync=False)
    bus = EventBus()
    mailbox, inbox = trio.open_memory_channel(100)
    actor = Telemetry(config, bus, inbox, busy_timeout=0.5, poll_interval=0.05)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        bus.publish(completed("before", cost=1.0))
        await wait_until(lambda: actor.current_stats()["all_time"]["invocations"] == 1)

        other = sqlite3.connect(config.telemetry_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        bus.publish(completed("during", cost=2.0))
        await wait_until(lambda: actor.current_stats()["source"]["error"], timeout=3.0)
        for _ in range(3):  # answered at once from the cache while the writes wait
            started = trio.current_time()
            stats = await ask(mailbox, GetStats(), timeout=1.0)
            assert trio.current_time() - started < 0.2
            assert stats.all_time.cost_usd == 1.0
            assert stats.source["fresh"] is False and "locked" in stats.source["error"]
            assert stats.source["pending_writes"] == 1
            await trio.sleep(0.1)

        other.execute("ROLLBACK")
        other.close()
        await wait_until(lambda: actor.current_stats()["all_time"]["invocations"] == 2, timeout=3.0)
        stats = await ask(mailbox, GetStats())
        assert stats.all_time.cost_usd == 3.0
        assert stats.source == {"path": str(config.telemetry_path), "loaded": True, "fresh": True,
                                   "error": None, "pending_writes": 0}
        nursery.cancel_scope.cancel()


async def test_stats_wait_for_the_first_load(tmp_path):
    config = HubConfig(work_dir=tmp_path, port=0, fsync=False)
    config.state_dir.mkdir(parents=True)
    blocker = sqlite3.connect(config.telemetry_path, isolation_level=None)
    blocker.execute("PRAGMA locking_mode = EXCLUSIVE")
    blocker.execute("BEGIN EXCLUSIVE")
    bus = EventBus()
    mailbox, inbox = trio.open_memory_channel(100)
    actor = Telemetry(config, bus, inbox, busy_timeout=0.05, poll_interval=0.05, first_load_wait=0.3)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        stats = await ask(mailbox, GetStats(), timeout=2.0)  # the file can't even be opened
        assert stats.all_time.invocations == 0
        assert stats.source["loaded"] is False and stats.source["fresh"] is False
        blocker.execute("ROLLBACK")
        blocker.close()
        await wait_until(lambda: actor.current_stats()["source"]["fresh"], timeout=3.0)
        with pytest.raises(TypeError):
            await ask(mailbox, "not a query")
        nursery.cancel_scope.cancel()
