"""Running work at a glance: live runs (last line, tokens, spend so far), running cards and the
agents table; an offline agent does not show a task it no longer holds."""

from __future__ import annotations

import re

from agent_client import AgentClient, accept_next
from conftest import task_yaml, wait_until, write_task

from agentdeck.actors.dashboard.live_runs import LiveRuns
from agentdeck.actors.messages import ExecutionEvent


def _event(text: str, kind: str = "stdout", generation: int = 1, **extra) -> ExecutionEvent:
    return ExecutionEvent(task_id="t", agent_id="a", generation=generation, event_type=kind, text=text,
                          **extra)


def test_the_last_line_follows_tokens_and_lines_and_ignores_older_attempts():
    runs = LiveRuns("claude-sonnet-4-5")
    runs.output(_event("Hel", "token"))
    runs.output(_event("lo wor", "token"))
    assert runs.json()["t"]["last_line"] == "Hello wor"
    runs.output(_event("ld\nnext", "token"))
    assert runs.json()["t"]["last_line"] == "next"
    runs.output(_event("first\nsecond\n\n"))
    assert runs.json()["t"]["last_line"] == "second"
    runs.output(_event("new attempt", generation=2))
    runs.output(_event("late from attempt 1", generation=1))
    assert runs.json()["t"]["last_line"] == "new attempt" and runs.json()["t"]["generation"] == 2
    assert runs.forget("t") and runs.json() == {}


def test_spend_so_far_is_priced_or_says_unpriced():
    runs = LiveRuns("claude-sonnet-4-5")
    runs.output(_event("x", tokens_so_far=1000, model="claude-sonnet-4-5"))
    priced = runs.json()["t"]
    assert priced["tokens"] == 1000 and priced["priced"] and priced["cost_usd"] > 0
    runs.output(_event("x", tokens_so_far=5, model="no-such-model-xyz"))
    assert runs.json()["t"]["priced"] is False and runs.json()["t"]["cost_usd"] is None


async def test_running_card_and_agent_row_show_live_work(start_hub, board_dir):
    write_task(board_dir, "inbox/t.yaml", task_yaml(id="t", title="streams"))
    running = await start_hub(reconnect_grace=0.3)
    async with AgentClient.connect(running.base_url, "a1") as agent:
        await accept_next(agent, task_id="t")
        await agent.send("task_progress", task_id="t", execution_event={
            "event_type": "stdout", "text": "compiling <module>\n", "tokens_so_far": 1200,
            "model": "claude-sonnet-4-5"})

        async def live():
            page = (await running.client.get("/")).text
            return page if "compiling &lt;module&gt;" in page and "is-live" in page else None
        page = await wait_until(live)
        lane = re.search(r'<section id="lane-assigned".*?</section>', page, re.S).group(0)
        assert "working" in lane and "≈$" in lane and 'data-kind="run"' in lane
        agents = re.search(r'<section id="agents".*?</section>', page, re.S).group(0)
        assert "1,200" in agents and "compiling &lt;module&gt;" in agents
    # the agent left; after the grace its task goes back to the inbox and the row shows no task

    async def released():
        page = (await running.client.get("/")).text
        agents = re.search(r'<section id="agents".*?</section>', page, re.S).group(0)
        return agents if "offline" in agents and 'href="/tasks/t"' not in agents else None
    await wait_until(released)

