"""Why a task waits: the scheduler's rules in words (unit), on inbox cards and in the panel (real
hub), and the retry backoff that keeps a failing task from looping at once."""

from __future__ import annotations

import re
import time

import yaml
from agent_client import AgentClient, accept_next
from conftest import task_yaml, wait_until, write_task

from agentdeck.actors.board.board import Board
from agentdeck.actors.board.lifecycle import fail
from agentdeck.actors.board.taskfile import parse_task
from agentdeck.actors.messages import WhyWaiting
from agentdeck.actors.queue.waiting import AgentSeen, backoff_delay, why_waiting


def _board(*tasks: tuple[str, dict]) -> Board:
    board = Board()
    for path, fields in tasks:
        board.replace(parse_task(path, yaml.safe_dump(fields).encode()))
    return board


def test_each_rule_is_named_in_the_order_the_scheduler_applies_them():
    board = _board(("inbox/a.yaml", {"id": "a", "dependencies": ["dep", "gone"],
                                     "needed_capabilities": ["gpu"]}),
                   ("assigned/x/dep.yaml", {"id": "dep"}),
                   ("inbox/b.yaml", {"id": "b", "needed_capabilities": ["gpu", "shell"]}),
                   ("inbox/c.yaml", {"id": "c", "agent": "ann"}),
                   ("inbox/d.yaml", {"id": "d"}),
                   ("inbox/e.yaml", {"id": "e", "executor": "claude"}),
                   ("inbox/f.yaml", {"id": "f", "complexity": "complex"}))
    ann = AgentSeen("ann", False, ("shell",))
    bob = AgentSeen("bob", True, ("shell", "ollama"), "http://127.0.0.1:11434", ("shell", "ollama"))
    now = time.time()
    blocked = why_waiting(board.get("a"), [bob], board, now)
    assert blocked.code == "blocked" and blocked.task_ids == ("dep", "gone")
    assert blocked.text == "blocked by dependency dep (assigned) and 1 more"
    assert why_waiting(board.get("b"), [bob], board, now).text == "no connected agent has capability gpu"
    assert why_waiting(board.get("b"), [bob, AgentSeen("g", True, ("gpu",))], board, now).text == \
        "no connected agent has all of gpu, shell"
    assert why_waiting(board.get("c"), [ann, bob], board, now).text == \
        "assigned to agent ann, which is offline"
    assert why_waiting(board.get("d"), [ann], board, now).code == "no_agents"
    assert why_waiting(board.get("d"), [ann, bob], board, now).text == \
        "waiting for a free agent (1 connected agent can take it)"
    assert why_waiting(board.get("e"), [bob], board, now).text == "no agent can run claude"
    assert why_waiting(board.get("f"), [bob], board, now).text == \
        "no agent can run this complex task (needs claude or codex)"
    coder = AgentSeen("c", True, ("codex",), None, ("codex",))
    assert why_waiting(board.get("f"), [bob, coder], board, now).code == "queued"


def test_a_failed_task_waits_out_a_doubling_backoff_and_says_until_when():
    assert [backoff_delay(n, 5, 300) for n in (1, 2, 3, 7, 50)] == [5, 10, 20, 300, 300]
    assert backoff_delay(3, 0, 300) == 0
    task = parse_task("assigned/a1/t.yaml", yaml.safe_dump({"id": "t", "generation": 1}).encode())
    dst, fields, outcome = fail(task, "a1", "boom", 3, None, retry_delay=20)
    assert outcome == "retried" and dst == "inbox/t.yaml"
    retried = parse_task(dst, yaml.safe_dump(fields).encode())
    board = _board()
    board.replace(retried)
    reason = why_waiting(retried, [AgentSeen("a1", True, ())], board, time.time())
    assert reason.code == "backoff" and reason.text == "retry backoff after failure 1"
    assert 15 < reason.until - time.time() <= 20
    later = why_waiting(retried, [AgentSeen("a1", True, ())], board, time.time() + 21)
    assert later.code == "queued"


async def test_inbox_cards_and_the_panel_say_why_and_link_the_dependency(running_hub):
    write_task(running_hub.board, "inbox/needs.yaml", task_yaml(id="needs", title="needs gpu",
                                                               needed_capabilities=["gpu"]))
    write_task(running_hub.board, "inbox/later.yaml", task_yaml(id="later", title="after first",
                                                               dependencies=["first/step"]))
    write_task(running_hub.board, "assigned/zed/first.yaml", task_yaml(id="first/step", title="first"))
    async with AgentClient.connect(running_hub.base_url, "a1"):
        async def reasons():
            got = await running_hub.hub.ask_queue(WhyWaiting(("needs", "later", "first/step")))
            return got if set(got) == {"needs", "later"} and got["needs"].code == "no_capability" else None
        got = await wait_until(reasons)
        assert got["later"].task_ids == ("first/step",)
        page = await running_hub.client.get("/")
        assert "no connected agent has capability gpu" in page.text
        assert "blocked by dependency first/step (assigned)" in page.text
        panel = await running_hub.client.get("/tasks/later", headers={"HX-Request": "true"})
        assert "Why is this waiting?" in panel.text
        assert re.search(r'href="/tasks/first(%2F|/)step"', panel.text)
    async def offline():
        page = await running_hub.client.get("/")
        return "no agent is connected (needs gpu)" in page.text
    await wait_until(offline)


async def test_a_failing_task_is_not_handed_out_again_before_its_backoff(start_hub, board_dir):
    write_task(board_dir, "inbox/t.yaml", task_yaml(id="t", title="flaky", max_retries=5))
    running = await start_hub(retry_backoff=1.5)
    async with AgentClient.connect(running.base_url, "a1") as agent:
        assign = await accept_next(agent, task_id="t")
        failed_at = time.monotonic()
        await agent.send("task_failed", task_id="t", generation=assign["generation"], error="boom")

        async def says_backoff():
            page = await running.client.get("/")
            return "retry backoff after failure 1" in page.text
        await wait_until(says_backoff)
        again = await accept_next(agent, task_id="t")
        waited = time.monotonic() - failed_at
    assert again["generation"] > assign["generation"]
    assert waited >= 1.4
