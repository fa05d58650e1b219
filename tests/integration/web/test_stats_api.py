"""GET /api/stats on a real hub whose telemetry file was written by an older tool."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from agentdeck.actors.telemetry.store import SCHEMA_VERSION

STAT_KEYS = {"generated_at", "timezone", "today", "month", "all_time", "by_model", "by_agent",
             "daily_trend", "avg_cost_per_invocation_usd", "cost_velocity_usd_per_day",
             "latency_ms", "success_rate", "succeeded", "failed", "saved_by_local_usd",
             "unpriced_invocations", "negative_cost_invocations", "undated_invocations", "budget",
             "rows", "source"}


def seed_legacy_file(path) -> None:
    now = datetime.now().astimezone()
    long_ago = now - timedelta(days=400)
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE invocations (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL,
            tool TEXT, model TEXT, tokens INTEGER DEFAULT 0, cost REAL DEFAULT 0, latency_ms INTEGER,
            status TEXT);
        CREATE TABLE daily_costs (date TEXT PRIMARY KEY, total_cost REAL, total_tokens INTEGER,
            invocation_count INTEGER);
    """)
    db.executemany(
        "INSERT INTO invocations (timestamp, tool, model, tokens, cost, latency_ms, status) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(now.isoformat(), "cli", "claude-sonnet-4-5", 1000, 0.5, 1000, "success"),
         (now.isoformat(), "cli", "gpt-4o", 500, 0.25, 3000, "error"),
         (now.isoformat(), "cli", "gpt-4o", 500, -1.0, 2000, "success"),
         (long_ago.isoformat(), "cli", "claude-sonnet-4-5", 2000, 4.0, 1000, "success")])
    db.commit()
    db.close()


async def test_stats_from_a_migrated_legacy_file(start_hub, tmp_path):
    path = tmp_path / "elsewhere" / "telemetry.db"
    path.parent.mkdir()
    seed_legacy_file(path)
    running = await start_hub(telemetry_db=path)
    response = await running.client.get("/api/stats")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    stats = response.json()
    assert set(stats) == STAT_KEYS
    assert stats["timezone"]["today"] == datetime.now().astimezone().date().isoformat()
    assert stats["timezone"]["utc_offset"] == datetime.now().astimezone().strftime("%z")[:3] + ":" + \
        datetime.now().astimezone().strftime("%z")[3:]
    assert stats["all_time"] == {"cost_usd": 4.75, "tokens": 4000, "invocations": 4, "unpriced": 0}
    assert stats["today"] == {"cost_usd": 0.75, "tokens": 2000, "invocations": 3, "unpriced": 0}
    assert stats["negative_cost_invocations"] == 1
    assert stats["success_rate"] == 0.75
    assert stats["latency_ms"]["avg"] == 1750.0
    assert [row["model"] for row in stats["by_model"]] == ["claude-sonnet-4-5", "gpt-4o"]
    assert stats["by_model"][0]["today_cost_usd"] == 0.5
    assert len(stats["daily_trend"]) == 30 and stats["daily_trend"][-1]["cost_usd"] == 0.75
    assert stats["source"]["path"] == str(path) and stats["source"]["fresh"] is True
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT count(*) FROM invocations").fetchone()[0] == 4
    db.close()


async def test_stats_only_answers_get(running_hub):
    response = await running_hub.client.post("/api/stats")
    assert response.status_code == 405
