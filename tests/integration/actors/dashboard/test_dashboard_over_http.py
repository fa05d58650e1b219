"""The dashboard state actor through the whole hub: real task files in, ``/api/dashboard/state`` out."""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest
from conftest import task_yaml, wait_until, write_task


async def test_state_over_http_follows_the_board_files(start_hub, board_dir):
    write_task(board_dir, "inbox/a.yaml", task_yaml(id="a", title="A", priority="critical"))
    write_task(board_dir, "dead/d.yaml", task_yaml(id="d", title="Dead one", last_error="exit 2",
                                                   retry_count=3))
    write_task(board_dir, "done/bot/c.yaml", task_yaml(
        id="c", title="Done one", completed_at="2026-11-20T10:00:00+00:00",
        result={"model_used": "llama3", "tokens_in": 5, "tokens_out": 7, "execution_ms": 40}))
    write_task(board_dir, "inbox/broken.yaml", "title: [unclosed")
    now = time.time()  # one reading: two would put a millisecond tick between start and end
    recent = _iso(now - 600)
    write_task(board_dir, "done/bot/e.yaml", task_yaml(
        id="e", title="Done lately", assigned_at=_iso(now - 660), completed_at=recent,
        result={"tokens_in": 30, "tokens_out": 12},
        attempts=[{"outcome": "failed", "finished_at": _iso(now - 7200)},
                  {"outcome": "failed", "finished_at": _iso(now - 900)},
                  {"outcome": "done", "finished_at": recent}]))
    running = await start_hub()
    response = await running.client.get("/api/dashboard/state")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    snap = response.json()
    assert snap["queue"]["by_status"] == {"inbox": 1, "assigned": 0, "done": 2, "dead": 1}
    assert snap["queue"]["by_priority"]["critical"] == 1
    # the last hour's attempts, as the files record them (a restarted hub does not start at zero)
    assert snap["throughput"] == {"completed_last_hour": 1, "failed_last_hour": 1,
                                  "avg_completion_ms": 60_000, "total_tokens_hour": 42}
    assert snap["dead_letter_tasks"][0]["id"] == "d" and snap["dead_letter_tasks"][0]["last_error"] == "exit 2"
    assert [c["task_id"] for c in snap["recent_completions"]] == ["e", "c"]  # rebuilt from done/
    assert snap["recent_completions"][1]["execution_meta"]["tokens_out"] == 7
    assert snap["recent_completions"][1]["completed_at"] == 1_795_168_800_000
    assert snap["recent_completions"][0]["duration_ms"] == 60_000
    assert snap["health"]["status"] == "warning"
    assert snap["health"]["conditions"][0].startswith("invalid_task_files: 1 task file(s)")

    write_task(board_dir, "inbox/b.yaml", task_yaml(id="b", title="B", priority="low"))
    (board_dir / "inbox" / "broken.yaml").unlink()

    async def updated():
        snap = (await running.client.get("/api/dashboard/state")).json()
        return snap if snap["queue"]["by_status"]["inbox"] == 2 and not snap["health"]["conditions"] else None

    snap = await wait_until(updated)
    assert snap["queue"]["by_priority"]["low"] == 1 and snap["health"]["status"] == "ok"


async def test_a_real_agent_run_shows_up_in_the_snapshot(start_hub, board_dir):
    from agent_client import AgentClient, accept_next, complete

    write_task(board_dir, "inbox/r1.yaml", task_yaml(id="r1", title="Real run", shell_command="true"))
    running = await start_hub(budget_daily=0.0001)

    async def state() -> dict[str, Any]:
        return (await running.client.get("/api/dashboard/state")).json()

    async with AgentClient.connect(running.base_url, "bot-1", name="Bot One",
                                   capabilities=["shell"]) as agent:
        assign = await accept_next(agent, task_id="r1")
        await agent.send("task_progress", task_id="r1",
                         execution_event={"event_type": "stdout", "text": "working"})
        working = await wait_until(lambda: _agent_in(state, "bot-1", "working"))
        assert working["current_task_id"] == "r1" and working["capabilities"] == ["shell"]
        await complete(agent, assign, model_used="claude-sonnet-4-5", tokens_in=2000, tokens_out=1000,
                       execution_ms=321)

        async def completed():
            snap = await state()
            return snap if snap["recent_completions"] and snap["costs"]["today"] else None

        snap = await wait_until(completed)
        entry = snap["recent_completions"][0]
        assert entry["task_id"] == "r1" and entry["agent_id"] == "bot-1" and entry["tokens"] == 3000
        assert entry["routing_decision"]["effective_tier"] == "trivial"
        assert entry["execution_meta"]["model_used"] == "claude-sonnet-4-5"
        assert entry["execution_meta"]["estimated_cost_usd"] > 0
        assert snap["throughput"]["completed_last_hour"] == 1
        assert snap["throughput"]["total_tokens_hour"] == 3000
        assert snap["queue"]["by_status"]["done"] == 1
        assert snap["costs"]["today"] == pytest.approx(entry["execution_meta"]["estimated_cost_usd"])
        assert snap["costs"]["budget"]["daily"]["level"] == "critical"
        budget = await wait_until(lambda: _condition(state, "budget"))
        assert "daily budget at 100 %" in budget

    offline = await wait_until(lambda: _condition(state, "agent_offline"))
    assert "bot-1" in offline


def _iso(wall: float) -> str:
    return datetime.datetime.fromtimestamp(wall, datetime.UTC).isoformat(timespec="milliseconds")


async def _agent_in(state, agent_id: str, wanted: str) -> dict[str, Any] | None:
    for agent in (await state())["agents"]:
        if agent["agent_id"] == agent_id and agent["state"] == wanted:
            return agent
    return None


async def _condition(state, name: str) -> str | None:
    snap = await state()
    return next((c for c in snap["health"]["conditions"] if c.startswith(name + ":")), None)


async def test_an_agent_known_only_from_its_task_files_is_not_reported_as_gone_offline(start_hub, board_dir):
    write_task(board_dir, "assigned/ghost/g.yaml", task_yaml(id="g", title="Held by an absent agent"))
    running = await start_hub()
    snap = (await running.client.get("/api/dashboard/state")).json()
    assert [(a["agent_id"], a["state"]) for a in snap["agents"]] == [("ghost", "offline")]
    assert not [c for c in snap["health"]["conditions"] if c.startswith("agent_offline")]
