"""The telemetry store on real SQLite files: schema, migration of the legacy file, idempotent
recording, and the aggregator's figures (time zones, month boundaries, negative and unpriced costs)."""

from __future__ import annotations

import logging
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agentdeck.actors.telemetry.store import SCHEMA_VERSION, Invocation, TelemetryStore

UTC = UTC
NEW_YORK = ZoneInfo("America/New_York")
LEGACY_SCHEMA = """
CREATE TABLE invocations (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, tool TEXT,
    model TEXT, tokens INTEGER DEFAULT 0, cost REAL DEFAULT 0, latency_ms INTEGER, status TEXT);
CREATE TABLE daily_costs (date TEXT, total_cost REAL, total_tokens INTEGER, invocation_count INTEGER);
"""


def legacy_db(path: Path, rows: list[tuple]) -> None:
    """A telemetry file as the older tools wrote it (no user_version, no extra columns)."""
    db = sqlite3.connect(path)
    db.executescript(LEGACY_SCHEMA)
    db.executemany("INSERT INTO invocations (timestamp, tool, model, tokens, cost, latency_ms, status)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def insert_external(path: Path, rows: list[tuple]) -> None:
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO invocations (timestamp, tool, model, tokens, cost, latency_ms, status)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def open_store(path: Path, tz=UTC) -> TelemetryStore:
    store = TelemetryStore(path, tz=tz, busy_timeout=0.2)
    store.open()
    return store


def inv(when: datetime, cost: float | None = 0.01, *, model: str | None = "claude-sonnet-4-5",
        task_id: str | None = "t1", generation: int = 1, status: str = "success",
        latency_ms: int | None = 1000, agent: str = "alpha", priced: bool = True,
        equivalent: float | None = None, tokens: tuple[int, int] = (100, 50)) -> Invocation:
    return Invocation(timestamp=when, model=model, tokens_in=tokens[0], tokens_out=tokens[1],
                      cost=cost, latency_ms=latency_ms, status=status, agent=agent, task_id=task_id,
                      generation=generation, equivalent_claude_cost=equivalent, priced=priced)


def test_fresh_database_has_schema_wal_and_busy_timeout(tmp_path):
    store = open_store(tmp_path / "sub" / "telemetry.db")
    db = store.db
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 200
    columns = {row[1] for row in db.execute("PRAGMA table_info(invocations)")}
    assert {"id", "timestamp", "tool", "model", "tokens", "cost", "latency_ms", "status", "agent",
            "task_id", "generation", "tokens_in", "tokens_out", "equivalent_claude_cost",
            "priced"} <= columns
    daily = {row[1] for row in db.execute("PRAGMA table_info(daily_costs)")}
    assert daily == {"date", "total_cost", "total_tokens", "invocation_count"}
    indexes = {row[1] for row in db.execute("PRAGMA index_list(invocations)")}
    assert {"ix_invocations_timestamp", "ix_invocations_model", "ux_invocations_completion"} <= indexes
    stats = store.stats(datetime(2026, 5, 1, tzinfo=UTC))
    assert stats["all_time"] == {"cost_usd": 0.0, "tokens": 0, "invocations": 0, "unpriced": 0}
    assert stats["success_rate"] is None and stats["latency_ms"]["p95"] is None
    store.close()


def test_old_schema_is_migrated_keeping_every_row(tmp_path):
    path = tmp_path / "telemetry.db"
    rows = [(f"2026-04-{day:02d}T10:00:00+00:00", "claude-code", "claude-sonnet-4-5", 1000, 0.25,
             2000, "success") for day in range(1, 31)]
    legacy_db(path, rows)
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO daily_costs VALUES (?, ?, ?, ?)",
                   [("2026-04-01", 0.1, 400, 1), ("2026-04-01", 0.15, 600, 1), ("2026-04-02", 0.25, 1000, 1)])
    db.commit()
    db.close()

    store = open_store(path)
    assert store.db.execute("SELECT count(*) FROM invocations").fetchone()[0] == 30
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.daily_costs() == {"2026-04-01": (0.25, 1000, 2), "2026-04-02": (0.25, 1000, 1)}
    stats = store.stats(datetime(2026, 4, 30, 12, tzinfo=UTC))
    assert stats["all_time"] == {"cost_usd": 7.5, "tokens": 30_000, "invocations": 30, "unpriced": 0}
    assert stats["month"]["invocations"] == 30
    assert stats["success_rate"] == 1.0
    store.record([inv(datetime(2026, 4, 30, 13, tzinfo=UTC), 0.5)])
    store.close()

    again = open_store(path)  # a second open is a no-op migration
    assert again.db.execute("SELECT count(*) FROM invocations").fetchone()[0] == 31
    assert again.stats(datetime(2026, 4, 30, 14, tzinfo=UTC))["all_time"]["cost_usd"] == 8.0
    again.close()


def test_same_completion_is_recorded_once(tmp_path):
    store = open_store(tmp_path / "t.db")
    when = datetime(2026, 6, 1, 9, tzinfo=UTC)
    assert store.record([inv(when, 0.2), inv(when, 0.2)]) == 1
    assert store.record([inv(when + timedelta(seconds=5), 0.2)]) == 0
    assert store.record([inv(when, 0.2, generation=2), inv(when, 0.0, status="error")]) == 2
    store.refresh(wrote=True)
    stats = store.stats(when)
    assert stats["all_time"]["invocations"] == 3
    assert stats["all_time"]["cost_usd"] == pytest.approx(0.4)
    assert store.daily_costs() == {"2026-06-01": (pytest.approx(0.4), 450, 3)}
    store.close()


def test_negative_cost_is_logged_and_counted_as_zero(tmp_path, caplog):
    store = open_store(tmp_path / "t.db")
    when = datetime(2026, 6, 1, 9, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="agentdeck.telemetry"):
        store.record([inv(when, -3.0, task_id="neg"), inv(when, 1.0, task_id="pos")])
        store.refresh(wrote=True)
    assert any("negative cost" in record.message for record in caplog.records)
    stats = store.stats(when)
    assert stats["all_time"]["cost_usd"] == 1.0
    assert stats["negative_cost_invocations"] == 1
    assert store.daily_costs()["2026-06-01"][0] == 1.0
    # the raw figure is kept in the file: nothing is lost
    assert store.db.execute("SELECT cost FROM invocations WHERE task_id = 'neg'").fetchone()[0] == -3.0
    store.close()


def test_unpriced_rows_are_counted_not_hidden(tmp_path):
    path = tmp_path / "t.db"
    store = open_store(path)
    when = datetime(2026, 6, 1, 9, tzinfo=UTC)
    store.record([inv(when, None, model="mystery-model", priced=False, task_id="u1"),
                  inv(when, 0.3, task_id="p1")])
    insert_external(path, [
        ("2026-06-01T10:00:00+00:00", "other", "claude-sonnet-4-5", 10, None, 5, "ok"),  # no cost
        ("2026-06-01T10:00:00+00:00", "other", "unknown-x", 10, 0.0, 5, "ok"),  # $0 for unknown model
        ("2026-06-01T10:00:00+00:00", "other", "llama3:8b", 10, 0.0, 5, "ok"),  # local: truly free
        ("2026-06-01T10:00:00+00:00", "other", "mystery-model", 10, 0.02, 5, "ok"),  # priced by its tool
    ])
    store.refresh()
    stats = store.stats(when)
    assert stats["unpriced_invocations"] == 3
    assert stats["all_time"]["invocations"] == 6
    assert stats["today"]["unpriced"] == 3
    assert stats["avg_cost_per_invocation_usd"] == pytest.approx(0.32 / 3, abs=1e-6)
    by_model = {row["model"]: row for row in stats["by_model"]}
    assert by_model["mystery-model"]["unpriced"] == 1 and by_model["mystery-model"]["invocations"] == 2
    assert by_model["llama3:8b"]["unpriced"] == 0 and by_model["llama3:8b"]["local"] is True
    store.close()


def test_today_and_month_follow_the_local_time_zone(tmp_path):
    path = tmp_path / "t.db"
    legacy_db(path, [
        ("2026-01-31T23:30:00-05:00", "t", "claude-sonnet-4-5", 1, 1.0, 10, "ok"),  # Feb 1 in UTC
        ("2026-02-01T00:10:00-05:00", "t", "claude-sonnet-4-5", 1, 2.0, 10, "ok"),
        ("2026-02-01 03:00:00", "t", "claude-sonnet-4-5", 1, 4.0, 10, "ok"),  # naive = UTC: Jan 31 NY
        ("2026-03-08T01:59:00-05:00", "t", "claude-sonnet-4-5", 1, 8.0, 10, "ok"),  # DST starts
        ("2026-03-08T03:01:00-04:00", "t", "claude-sonnet-4-5", 1, 16.0, 10, "ok"),
    ])
    new_york = open_store(path, NEW_YORK)
    stats = new_york.stats(datetime(2026, 2, 1, 12, tzinfo=NEW_YORK))
    assert stats["timezone"] == {"name": "America/New_York", "utc_offset": "-05:00",
                                 "today": "2026-02-01", "month": "2026-02"}
    assert stats["today"]["cost_usd"] == 2.0
    assert stats["month"]["cost_usd"] == 2.0
    trend = {row["date"]: row["cost_usd"] for row in stats["daily_trend"]}
    assert trend["2026-01-31"] == 5.0 and trend["2026-02-01"] == 2.0 and len(trend) == 30
    march = new_york.stats(datetime(2026, 3, 8, 23, 59, tzinfo=NEW_YORK))
    assert march["today"]["cost_usd"] == 24.0 and march["timezone"]["utc_offset"] == "-04:00"
    new_york.close()

    utc = open_store(path, UTC)  # the same file seen from a UTC server
    stats = utc.stats(datetime(2026, 2, 1, 12, tzinfo=UTC))
    assert stats["today"]["cost_usd"] == 7.0
    assert stats["month"]["cost_usd"] == 7.0
    assert stats["all_time"]["cost_usd"] == 31.0
    utc.close()


def test_month_boundary_at_local_midnight(tmp_path):
    store = open_store(tmp_path / "t.db", NEW_YORK)
    store.record([inv(datetime(2026, 4, 30, 23, 59, 59, tzinfo=NEW_YORK), 1.0, task_id="april"),
                  inv(datetime(2026, 5, 1, 0, 0, 0, tzinfo=NEW_YORK), 2.0, task_id="may")])
    store.refresh(wrote=True)
    assert store.stats(datetime(2026, 4, 30, 23, 59, 59, tzinfo=NEW_YORK))["month"]["cost_usd"] == 1.0
    stats = store.stats(datetime(2026, 5, 1, 0, 0, 1, tzinfo=NEW_YORK))
    assert stats["month"]["cost_usd"] == 2.0 and stats["today"]["cost_usd"] == 2.0
    assert store.daily_costs() == {"2026-04-30": (1.0, 150, 1), "2026-05-01": (2.0, 150, 1)}
    store.close()


def test_unreadable_and_epoch_timestamps(tmp_path):
    path = tmp_path / "t.db"
    legacy_db(path, [("not a time", "t", "gpt-4o", 5, 1.0, 10, "ok"),
                     (1_780_000_000, "t", "gpt-4o", 5, 2.0, 10, "ok")])  # 2026-05-28 UTC
    store = open_store(path)
    stats = store.stats(datetime(2026, 5, 28, 22, tzinfo=UTC))
    assert stats["all_time"]["cost_usd"] == 3.0
    assert stats["today"]["cost_usd"] == 2.0
    assert stats["undated_invocations"] == 1
    store.close()


def test_latency_success_velocity_and_local_savings(tmp_path):
    store = open_store(tmp_path / "t.db")
    day = datetime(2026, 7, 4, tzinfo=UTC)
    rows = [inv(day + timedelta(minutes=i), 0.0, task_id=f"l{i}", latency_ms=i + 1, model="llama3:8b",
                equivalent=0.05) for i in range(1000)]
    rows += [inv(day, 3.0, task_id="fail", status="error", latency_ms=None)]
    store.record(rows)
    store.refresh(wrote=True)
    stats = store.stats(day + timedelta(hours=12))
    assert stats["latency_ms"]["avg"] == pytest.approx(500.5)
    assert stats["latency_ms"]["p95"] == pytest.approx(950, rel=0.02)
    assert stats["latency_ms"]["samples"] == 1000
    assert stats["success_rate"] == pytest.approx(1000 / 1001, abs=1e-4)
    assert stats["failed"] == 1
    assert stats["saved_by_local_usd"] == pytest.approx(50.0)
    assert stats["cost_velocity_usd_per_day"] == pytest.approx(6.0)  # $3 by noon
    early = store.stats(day + timedelta(minutes=10))
    assert early["cost_velocity_usd_per_day"] == pytest.approx(72.0)  # projected from a 1 h floor
    store.close()


def test_incremental_folds_match_a_full_reload(tmp_path):
    path = tmp_path / "t.db"
    store = open_store(path, NEW_YORK)
    rng = random.Random(7)
    start = datetime(2026, 1, 20, tzinfo=UTC)
    models = ["claude-sonnet-4-5", "gpt-4o", "llama3:8b", "mystery", None]
    for batch in range(8):
        rows = [inv(start + timedelta(hours=rng.uniform(0, 24 * 30)),
                    rng.choice([None, -1.0, 0.0, rng.uniform(0, 2)]), model=rng.choice(models),
                    task_id=f"b{batch}-{i}", status=rng.choice(["success", "error"]),
                    latency_ms=rng.choice([None, rng.randint(0, 90_000)]), agent=rng.choice("abc"),
                    equivalent=rng.choice([None, 0.3]), priced=rng.random() > 0.1)
                for i in range(50)]
        store.record(rows)
        store.refresh(wrote=True)
        insert_external(path, [(f"2026-02-0{batch + 1}T12:00:00Z", "x", "gpt-4o", 10, 0.5, 7, "ok")])
        assert store.refresh() == (1, True)
    now = datetime(2026, 2, 10, 8, tzinfo=NEW_YORK)
    incremental = store.stats(now)
    store.close()
    fresh = open_store(path, NEW_YORK)
    assert fresh.stats(now) == incremental
    assert incremental["all_time"]["invocations"] == 8 * 51
    fresh.close()


def test_rows_deleted_by_another_tool_trigger_a_reload(tmp_path):
    path = tmp_path / "t.db"
    store = open_store(path)
    when = datetime(2026, 6, 1, tzinfo=UTC)
    store.record([inv(when, 1.0, task_id=f"t{i}") for i in range(5)])
    store.refresh(wrote=True)
    db = sqlite3.connect(path)
    db.execute("DELETE FROM invocations WHERE task_id IN ('t0', 't1')")
    db.commit()
    db.close()
    store.refresh()
    assert store.stats(when)["all_time"]["invocations"] == 3
    store.close()


def test_rows_inserted_below_the_watermark_trigger_a_reload(tmp_path):
    path = tmp_path / "t.db"
    store = open_store(path)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO invocations (id, timestamp, model, tokens, cost, status)"
               " VALUES (100, '2026-06-01T10:00:00Z', 'gpt-4o', 1, 1.0, 'ok')")
    db.commit()
    assert store.refresh() == (1, True)
    db.execute("INSERT INTO invocations (id, timestamp, model, tokens, cost, status)"
               " VALUES (50, '2026-06-01T11:00:00Z', 'gpt-4o', 1, 2.0, 'ok')")
    db.commit()
    db.close()
    assert store.refresh() == (2, True)
    stats = store.stats(datetime(2026, 6, 1, 12, tzinfo=UTC))
    assert stats["all_time"]["invocations"] == 2 and stats["all_time"]["cost_usd"] == 3.0
    assert store.refresh() == (0, False)
    store.close()
