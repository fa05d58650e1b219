"""The PostgreSQL telemetry store against a real server: schema, idempotent rows, hubs and the fleet,
fleet budgets claimed once, a lost connection, and a hub writing to it end to end."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from conftest import wait_until

from agentdeck.actors.config import redact_url
from agentdeck.actors.telemetry.backend import Invocation
from agentdeck.actors.telemetry.postgres import SCHEMA_VERSION, PostgresTelemetryStore

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def row(task: str, cost: float = 0.5, generation: int = 1, status: str = "success",
        agent: str = "a1", when: datetime = NOON) -> Invocation:
    return Invocation(timestamp=when, model="claude-sonnet-4-5", tokens_in=100, tokens_out=50,
                      cost=cost, latency_ms=1200, status=status, agent=agent, task_id=task,
                      generation=generation)


def opened(url: str, hub: str | None) -> PostgresTelemetryStore:
    store = PostgresTelemetryStore(url, hub, tz=UTC, verify_interval=0.0)
    store.open()
    return store


def test_schema_is_versioned_and_migrating_twice_changes_nothing(pg_url: str) -> None:
    first, second = opened(pg_url, "hub-a"), opened(pg_url, "hub-b")
    with psycopg.connect(pg_url) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM agentdeck_schema")]
        columns = {c for (c,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'invocations'")}
    assert versions == list(range(1, SCHEMA_VERSION + 1))
    assert {"hub", "timestamp", "model", "tokens", "cost", "latency_ms", "status", "agent", "task_id",
            "generation", "tokens_in", "tokens_out", "equivalent_claude_cost", "priced"} <= columns
    first.close()
    second.close()


def test_a_retried_write_never_counts_twice(pg_url: str) -> None:
    store = opened(pg_url, "hub-a")
    batch = [row("t1"), row("t2", cost=0.25), row("t2", generation=2, status="error", cost=0.0)]
    assert store.record(batch) == 3
    assert store.record(batch) == 0  # the same batch again, as after a connection lost at COMMIT
    store.refresh()
    stats = store.stats(NOON)
    assert stats["all_time"]["invocations"] == 3
    assert stats["all_time"]["cost_usd"] == pytest.approx(0.75)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT hub, invocation_count, total_cost FROM daily_costs").fetchall() == [
            ("hub-a", 3, pytest.approx(0.75))]
    store.close()


def test_each_hub_sees_its_own_rows_and_the_fleet_sees_all(pg_url: str) -> None:
    a, b = opened(pg_url, "hub-a"), opened(pg_url, "hub-b")
    a.record([row("t1", cost=1.0), row("t2", cost=2.0)])
    b.record([row("t1", cost=4.0, agent="b1")])  # same task id on another board: another row
    for store in (a, b):
        store.refresh()
    assert a.stats(NOON)["all_time"]["cost_usd"] == pytest.approx(3.0)
    assert b.stats(NOON)["all_time"]["cost_usd"] == pytest.approx(4.0)
    fleet = a.fleet_stats(NOON)
    assert fleet is not None
    assert fleet["all_time"]["cost_usd"] == pytest.approx(7.0)
    assert [(h["hub"], h["all_time"]["invocations"]) for h in fleet["by_hub"]] == [("hub-a", 2), ("hub-b", 1)]
    added, external = a.refresh()
    assert (added, external) == (0, False)
    b.record([row("t9", cost=1.0)])
    added, external = a.refresh()
    assert (added, external) == (1, True)  # another hub wrote: a's fleet figures move, its own do not
    assert a.stats(NOON)["all_time"]["invocations"] == 2
    reader = opened(pg_url, None)
    with pytest.raises(ValueError):
        reader.record([row("x")])
    assert reader.fleet_stats(NOON)["all_time"]["invocations"] == 4
    for store in (a, b, reader):
        store.close()


def test_a_fleet_budget_level_is_claimed_once_for_all_hubs(pg_url: str) -> None:
    a, b = opened(pg_url, "hub-a"), opened(pg_url, "hub-b")
    a.set_fleet_budgets({"daily": 10.0, "monthly": None})
    a.record([row("t1", cost=4.5)])
    b.record([row("t1", cost=4.0)])
    for store in (a, b):
        store.refresh()
    budget = a.fleet_stats(NOON)["budget"]
    assert budget["daily"]["percent"] == pytest.approx(85.0)
    assert budget["monthly"] is None
    key = budget["daily"]["period_key"]
    claims = [a.claim_fleet_alert("daily", key, 80, NOON), b.claim_fleet_alert("daily", key, 80, NOON),
              b.claim_fleet_alert("daily", key, 80, NOON)]
    assert claims == [True, False, False]
    assert b.claim_fleet_alert("daily", key, 100, NOON) is True
    # a hub's own alerts are separate from the fleet's and from the other hub's
    assert a.claim_alert("daily", key, 80, NOON) is True
    assert b.claim_alert("daily", key, 80, NOON) is True
    assert a.claim_alert("daily", key, 80, NOON) is False
    with pytest.raises(ValueError):
        a.set_fleet_budgets({"weekly": 1.0})
    a.close()
    b.close()


def test_a_lost_connection_is_an_unavailable_error_and_the_next_open_reconnects(pg_url: str) -> None:
    store = opened(pg_url, "hub-a")
    store.record([row("t1")])
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = 'agentdeck hub-a'")
    with pytest.raises(store.unavailable):
        store.record([row("t2")])
    store.open()
    assert store.record([row("t1"), row("t2")]) == 1
    store.refresh()
    assert store.stats(NOON)["all_time"]["invocations"] == 2
    store.close()


def test_rows_written_by_another_tool_below_the_watermark_are_found(pg_url: str) -> None:
    store = opened(pg_url, "hub-a")
    store.record([row("t1"), row("t2")])
    store.refresh()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO invocations (id, hub, timestamp, model, cost, status) "
                     "VALUES (-5, 'hub-a', now(), 'gpt-4o', 1.0, 'success')")
    store.refresh()  # verify_interval=0: the count check runs every time
    assert store.stats(NOON)["all_time"]["invocations"] == 3
    store.close()


def test_unreachable_database_is_reported_without_the_password() -> None:
    store = PostgresTelemetryStore("postgresql://me:secret@127.0.0.1:1/x", "hub-a", connect_timeout=1)
    assert "secret" not in store.location and "secret" not in redact_url("redis://:secret@h:1/0")
    assert redact_url("postgresql://127.0.0.1/x") == "postgresql://127.0.0.1/x"
    with pytest.raises(store.unavailable):
        store.open()


async def test_a_hub_writes_its_rows_to_the_shared_database(start_hub, pg_url: str) -> None:
    running = await start_hub(telemetry_url=pg_url, hub_id="hub-one")
    stats = (await running.client.get("/api/stats")).json()
    assert stats["source"]["path"].startswith("postgresql://")
    fleet = await running.client.get("/api/stats", params={"scope": "fleet"})
    assert fleet.status_code == 200
    other = opened(pg_url, "hub-two")
    other.record([row("elsewhere", cost=2.0)])
    other.close()

    async def fleet_sees_other() -> bool:
        figures = (await running.client.get("/api/stats", params={"scope": "fleet"})).json()
        by_hub = {part["hub"]: part["all_time"]["invocations"] for part in figures["by_hub"]}
        return figures["all_time"]["invocations"] == 1 and by_hub.get("hub-two") == 1

    await wait_until(fleet_sees_other, timeout=10)
    assert (await running.client.get("/api/stats")).json()["all_time"]["invocations"] == 0
    assert (await running.client.get("/api/stats", params={"scope": "x"})).status_code == 400


async def test_fleet_scope_on_a_sqlite_hub_is_404(running_hub) -> None:
    response = await running_hub.client.get("/api/stats", params={"scope": "fleet"})
    assert response.status_code == 404
    assert "postgresql" in response.json()["message"]
