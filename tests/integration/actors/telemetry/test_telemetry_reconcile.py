"""Telemetry rows lost in a crash come back from the task files at the next start, exactly once.

The files are written by a real hub driven by a protocol-level agent (completions, a retry, a dead
letter, a cancel), so the rows rebuilt from them are compared with the rows that same hub wrote live:
the keys and figures must match exactly, or a restart would count an attempt twice.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import trio
from agent_client import AgentClient, accept_next, complete
from conftest import collect_events, wait_until, write_task

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.actors.messages import CancelTask, GetStats, TelemetryChanged
from agentdeck.web.server import run_hub

COLUMNS = ("task_id", "generation", "status", "agent", "model", "tokens_in", "tokens_out", "tokens",
           "cost", "latency_ms", "priced", "equivalent_claude_cost", "tool")
RESULTS = {  # what the agent reports for each task's successful attempt
    "ok": {"model_used": "claude-sonnet-4-5", "tokens_in": 1200, "tokens_out": 300, "execution_ms": 900},
    "flaky": {"model_used": "llama3:8b", "tokens_in": 50, "tokens_out": 20, "execution_ms": 40},
    "odd": {"model_used": "no-such-model-xyz", "tokens_in": 7, "tokens_out": 3, "execution_ms": 5,
            "status": "completed"},
}


@asynccontextmanager
async def hub_on(work: Path) -> AsyncIterator[tuple[Hub, str, Any]]:
    """A real hub on ``work``, with a bus subscription opened before its actors start; fully
    stopped (database closed) when the block ends."""
    hub = Hub(HubConfig(work_dir=work, port=0, fsync=False, retry_backoff=0.0))
    with hub.bus.subscribe("test", 0) as sub:
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(run_hub, hub)
            yield hub, next(a for a in addresses if a.startswith("http://")), sub
            hub.stop()


def table(path: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def invocations(path: Path) -> dict[tuple, tuple]:
    found = table(path, f"SELECT {', '.join(COLUMNS)}, timestamp, id FROM invocations")
    return {row[:3]: row for row in found}


def daily(path: Path) -> list[tuple]:
    return table(path, "SELECT date, round(total_cost, 9), total_tokens, invocation_count "
                       "FROM daily_costs ORDER BY date")


def seed(board: Path) -> None:
    for name in ("ok", "flaky", "doomed", "odd", "cancelled"):
        write_task(board, f"inbox/{name}.yaml", {"id": name, "title": name,
                                                   "max_retries": 0 if name == "doomed" else 2})


async def work_through(base_url: str, board: Path) -> None:
    """One agent takes every task: ``flaky`` fails once then succeeds, ``doomed`` fails for good."""
    failed_once = False
    async with AgentClient.connect(base_url, "a1") as agent:
        while len(list(board.glob("done/*/*.yaml"))) + len(list(board.glob("dead/*.yaml"))) < 5:
            assign = await accept_next(agent)
            task_id = assign["task_id"]
            if task_id == "doomed" or (task_id == "flaky" and not failed_once):
                failed_once |= task_id == "flaky"
                await agent.send("task_failed", task_id=task_id, generation=assign["generation"],
                                 error="boom")
                await agent.expect("task_ack", task_id=task_id)
            else:
                ack = await complete(agent, assign, **RESULTS[task_id])
                assert ack["status"] == "complete"


async def count_is(path: Path, expected: int) -> bool:
    try:
        return path.exists() and len(invocations(path)) == expected
    except sqlite3.OperationalError:  # created, not yet migrated
        return False


def same_rows(live: dict[tuple, tuple], rebuilt: dict[tuple, tuple]) -> None:
    assert rebuilt.keys() == live.keys()
    width = len(COLUMNS)
    for key, row in live.items():
        assert rebuilt[key][:width] == row[:width], key
        moved = abs(datetime.fromisoformat(rebuilt[key][width]) - datetime.fromisoformat(row[width]))
        assert moved.total_seconds() < 1.0, key


async def test_rows_lost_in_a_crash_are_rebuilt_from_the_task_files_once(work_dir, board_dir, caplog):
    seed(board_dir)
    db_path = work_dir / ".agentdeck" / "telemetry.db"
    async with hub_on(work_dir) as (hub, base_url, _):
        db_path = hub.config.telemetry_path
        await hub.ask_queue(CancelTask("cancelled"))
        await work_through(base_url, board_dir)
        # ok, flaky (error then success), doomed (error), odd (success), cancelled (error)
        await wait_until(lambda: count_is(db_path, 6))
    live, live_daily = invocations(db_path), daily(db_path)
    assert {key[::2] for key in live} == {("ok", "success"), ("flaky", "error"), ("flaky", "success"),
                                          ("doomed", "error"), ("odd", "completed"),
                                          ("cancelled", "error")}

    # a kill -9 before the sync: these rows and their daily totals were never written
    lost = [live[("ok", 1, "success")], live[("flaky", 1, "error")], live[("cancelled", 1, "error")]]
    db = sqlite3.connect(db_path)
    with db:
        for row in lost:
            cost, tokens = max(row[COLUMNS.index("cost")] or 0.0, 0.0), row[COLUMNS.index("tokens")]
            db.execute("DELETE FROM invocations WHERE id = ?", (row[-1],))
            db.execute("UPDATE daily_costs SET total_cost = total_cost - ?, total_tokens = "
                       "total_tokens - ?, invocation_count = invocation_count - 1", (cost, tokens))
    db.close()
    kept_ids = {key: row[-1] for key, row in invocations(db_path).items()}

    caplog.set_level(logging.WARNING, "agentdeck.telemetry")
    async with hub_on(work_dir) as (hub, base_url, sub):
        await wait_until(lambda: count_is(db_path, 6))
        assert any(isinstance(event, TelemetryChanged) for event in await collect_events(sub, 0.3))
        stats = await hub.ask_telemetry(GetStats())
    rebuilt = invocations(db_path)
    same_rows(live, rebuilt)
    assert {key: rebuilt[key][-1] for key in kept_ids} == kept_ids  # the others were not touched
    assert daily(db_path) == live_daily
    assert stats.all_time.invocations == 6 and (stats.figures["succeeded"], stats.figures["failed"]) == (3, 3)
    assert "3 finished attempt(s)" in caplog.text

    caplog.clear()
    async with hub_on(work_dir) as (hub, base_url, sub):  # nothing missing: nothing written
        await wait_until(lambda: hub.telemetry.current_stats()["source"]["loaded"])
        await trio.sleep(0.3)
        assert not any(isinstance(event, TelemetryChanged) for event in await collect_events(sub, 0.3))
    assert invocations(db_path) == rebuilt and daily(db_path) == live_daily
    assert "finished attempt(s)" not in caplog.text


async def test_a_lost_database_is_rebuilt_with_the_live_keys(work_dir, board_dir):
    seed(board_dir)
    async with hub_on(work_dir) as (hub, base_url, _):
        db_path = hub.config.telemetry_path
        await hub.ask_queue(CancelTask("cancelled"))
        await work_through(base_url, board_dir)
        await wait_until(lambda: count_is(db_path, 6))
    live, live_daily = invocations(db_path), daily(db_path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)

    for _ in range(2):  # the second start finds every row present
        async with hub_on(work_dir) as (hub, _, _):
            await wait_until(lambda: count_is(db_path, 6))
            await trio.sleep(0.2)
        same_rows(live, invocations(db_path))
        assert daily(db_path) == live_daily
