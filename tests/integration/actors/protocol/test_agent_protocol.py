"""Agents over /ws against a real hub: real sockets, real task files moving through the lanes.

Each test drives the hub with ``AgentClient`` (raw protocol frames) and checks three things: what the
agent is told, which files end where with which fields, and which events reach the bus. Deadline
tests run the hub with tiny timeouts and a fast deadline tick.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import yaml
from agent_client import AgentClient, accept_next, complete, ws_url
from conftest import board_files, collect_events, wait_for_event, wait_until, write_task

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.actors.messages import CancelTask, ExecutionEvent, GetOutput, ListAgents, RetryTask
from agentdeck.actors.queue.coordinator import HUB_RESTARTED
from agentdeck.web.server import run_hub

FAST = {"deadline_check": 0.05}  # check deadlines every 50 ms, so tiny timeouts fire promptly


def read(board: Path, relpath: str) -> dict[str, Any]:
    return yaml.safe_load((board / relpath).read_text())


def iso(value: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


async def agent_state(hub, agent_id: str) -> str | None:
    agents = {a["agent_id"]: a for a in await hub.ask_queue(ListAgents())}
    return agents[agent_id]["state"] if agent_id in agents else None


async def api_shows(running, agent_id: str, state: str, task_id: str | None) -> bool:
    """Both HTTP views of agents (the dashboard's state and /api/agents) show the agent in
    ``state`` holding ``task_id``."""
    for route in ("/api/dashboard/state", "/api/agents"):
        answer = (await running.client.get(route)).json()
        if not any((a["agent_id"], a["state"], a["current_task_id"]) == (agent_id, state, task_id)
                   for a in answer.get("agents") or []):
            return False
    return True


async def state_is(hub, agent_id: str, state: str) -> bool:
    return await agent_state(hub, agent_id) == state


# ---------------------------------------------------------------------------------- happy path


async def test_two_agents_do_ten_tasks_and_every_file_ends_done(start_hub, board_dir) -> None:
    for i in range(10):
        fields = {"id": f"t{i}", "title": f"Task {i}", "shell_command": f"echo {i}",
                  "created": f"2026-01-01T00:00:{i:02d}", "custom": {"keep": i},
                  "metadata": {"ticket": i}}
        if i % 2:
            fields["description"] = f"print the number {i}"
        write_task(board_dir, f"inbox/t{i}.yaml", fields)
    running = await start_hub()
    assignments: dict[str, tuple[str, dict[str, Any]]] = {}
    completed: list[str] = []

    async def work(agent: AgentClient, nursery: trio.Nursery) -> None:
        while True:
            assign = await accept_next(agent)
            task_id = assign["task_id"]
            assignments[task_id] = (agent.agent_id, assign)
            await agent.send("task_progress", task_id=task_id, progress=50,
                             execution_event={"event_type": "stdout", "text": f"{task_id} ran\n"})
            ack = await complete(agent, assign, output=f"{task_id} ok", model_used="none",
                                 tokens_in=0, tokens_out=0, execution_ms=7)
            assert ack["status"] == "complete"
            completed.append(task_id)
            if len(completed) == 10:
                nursery.cancel_scope.cancel()

    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1", capabilities=["shell"]) as a1, \
                AgentClient.connect(running.base_url, "a2", name="Second") as a2:
            with trio.fail_after(15):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(work, a1, nursery)
                    nursery.start_soon(work, a2, nursery)
        events = await collect_events(sub, quiet=0.2)

    assert sorted(completed) == [f"t{i}" for i in range(10)]
    assert {agent for agent, _ in assignments.values()} == {"a1", "a2"}
    files = board_files(board_dir)
    assert set(files) == {f"done/{agent}/{task_id}.yaml" for task_id, (agent, _) in assignments.items()}
    for task_id, (agent, assign) in assignments.items():
        number = int(task_id[1:])
        fields = files[f"done/{agent}/{task_id}.yaml"]
        assert fields["status"] == "done" and fields["generation"] == 1
        assert iso(fields["completed_at"]) >= iso(fields["assigned_at"])
        assert fields["result"]["status"] == "success" and fields["result"]["output"] == f"{task_id} ok"
        assert fields["custom"] == {"keep": number} and fields["shell_command"] == f"echo {number}"
        assert fields["routing_decision"]["target_type"] == "sidecar"

        assert assign["description"] == (f"print the number {number}" if number % 2 else f"Task {number}")
        assert assign["metadata"]["shell_command"] == f"echo {number}"
        # the task's metadata mapping with the command folded in, not every field of the file
        assert assign["metadata"] == {"ticket": number, "shell_command": f"echo {number}"}
        assert assign["generation"] == 1 and isinstance(assign["assigned_at"], int)
        assert assign["assigned_at"] == int(iso(fields["assigned_at"]).timestamp() * 1000)
        assert assign["complexity"]["effective_tier"] == "trivial"
        assert assign["complexity"]["source"] == "inferred"
        assert assign["routing_decision"]["effective_tier"] == "trivial"
        assert assign["routing_decision"]["estimated_cost_tier"] == "free"
    kinds = Counter(event.kind for event in events)
    assert (kinds["task.assigned"], kinds["task.completed"], kinds["execution_event"]) == (10, 10, 10)
    assert kinds["task.progress"] == 10 and kinds["agent.joined"] == 2


@pytest.mark.parametrize(("sent", "cost", "equivalent", "priced"), [
    ({"model_used": "claude-sonnet-4-5", "tokens_in": 1000, "tokens_out": 500}, "positive", None, True),
    ({"model_used": "llama3.2:latest", "tokens_in": 1000, "tokens_out": 500}, 0.0, "positive", True),
    ({"model_used": "mystery-model-x", "tokens_in": 1000, "tokens_out": 500}, None, None, False),
    ({"model_used": "mystery-model-x", "tokens_in": 10, "estimated_cost_usd": 0.25}, 0.25, None, True),
    ({"model_used": None}, 0.0, None, True),  # a shell step ran no model
])
async def test_the_hub_prices_what_the_agent_did_not(start_hub, board_dir, sent, cost, equivalent,
                                                     priced) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    running = await start_hub()
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as a1:
            assign = await accept_next(a1)
            assert (await complete(a1, assign, **sent))["status"] == "complete"
        event = await wait_for_event(sub, "task.completed")
    stored = read(board_dir, "done/a1/t.yaml")["result"]

    def check(value: Any, expected: Any) -> None:
        if expected == "positive":
            assert isinstance(value, float) and value > 0
        else:
            assert value == expected and (expected is None or isinstance(value, float))

    for result in (stored, attrs.asdict(event.result)):
        check(result["estimated_cost_usd"], cost)  # never a silent 0.0 for an unknown model
        check(result["equivalent_claude_cost_usd"], equivalent)
        assert result["priced"] is priced
    assert event.result.model_used == sent["model_used"] and event.duration_ms is not None


async def test_agent_state_machine_is_visible(running_hub, board_dir) -> None:
    hub = running_hub.hub
    with running_hub.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running_hub.base_url, "a1") as a1:
            assert await agent_state(hub, "a1") == "idle"
            write_task(board_dir, "inbox/t.yaml", {"id": "t", "title": "T"})
            assign = await a1.expect("task_assign")
            assert await agent_state(hub, "a1") == "assigned"
            await a1.send("task_accepted", task_id="t")
            await a1.expect("task_ack", status="accepted")
            assert await agent_state(hub, "a1") == "working"
            await wait_until(lambda: api_shows(running_hub, "a1", "working", "t"))
            await complete(a1, assign)
            assert await agent_state(hub, "a1") == "idle"
            await a1.send("ping")
            pong = await a1.expect("pong")
            assert abs(pong["timestamp"] / 1000 - time.time()) < 5
        await wait_until(lambda: state_is(hub, "a1", "offline"), timeout=3)
        states = [e.state for e in await collect_events(sub, quiet=0.1) if e.kind == "agent.state_changed"]
    assert states == ["idle", "assigned", "working", "idle", "offline"]


async def test_task_assign_carries_the_optional_fields_and_an_explicit_tier(start_hub, board_dir) -> None:
    extras = {"repo": "git@example.org:team/app.git", "branch": "fix/login",
              "file_hints": ["app/login.py"], "success_criteria": ["tests pass"],
              "verification_steps": ["pytest -q"]}
    write_task(board_dir, "inbox/t.yaml", {"id": "t", "title": "Fix login", "complexity": "complex",
                                           "shell_command": "make fix", **extras})
    running = await start_hub()
    async with AgentClient.connect(running.base_url, "a1",
                                   ollama_url="http://127.0.0.1:11434") as a1:
        assign = await a1.expect("task_assign")
    assert {key: assign[key] for key in extras} == extras
    assert assign["description"] == "Fix login"
    assert (assign["complexity"]["effective_tier"], assign["complexity"]["source"]) == ("complex", "explicit")
    assert assign["complexity"]["inferred_tier"] == "trivial"
    routing = assign["routing_decision"]
    assert (routing["target_type"], routing["estimated_cost_tier"], routing["fallback_used"]) == (
        "claude", "api", False)
    written = read(board_dir, "assigned/a1/t.yaml")
    assert written["routing_decision"] == routing and written["branch"] == "fix/login"


async def test_priority_first_then_oldest_and_a_new_urgent_task_jumps_the_queue(start_hub, board_dir) -> None:
    for task_id, priority, created in [("low", "low", "01"), ("med-new", "medium", "05"),
                                       ("med-old", "medium", "02"), ("high", "high", "09")]:
        write_task(board_dir, f"inbox/{task_id}.yaml",
                   {"id": task_id, "priority": priority, "created": f"2026-01-01T00:00:{created}"})
    running = await start_hub()
    order = []
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as a1:
            first = await accept_next(a1)
            order.append(first["task_id"])
            write_task(board_dir, "inbox/urgent.yaml", {"id": "urgent", "priority": "critical",
                                                        "created": "2026-06-01T00:00:00"})
            await wait_for_event(sub, lambda e: e.kind == "task.created" and e.task.id == "urgent")
            await complete(a1, first)
            for _ in range(4):
                assign = await accept_next(a1)
                order.append(assign["task_id"])
                await complete(a1, assign)
    assert order == ["high", "urgent", "med-old", "med-new", "low"]


async def test_capabilities_named_agents_and_dependencies(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/gpu-job.yaml", {"id": "gpu-job", "priority": "critical",
                                                 "needed_capabilities": ["gpu"]})
    write_task(board_dir, "inbox/for-other.yaml", {"id": "for-other", "priority": "critical",
                                                   "assign_to": "other"})
    write_task(board_dir, "inbox/child.yaml", {"id": "child", "priority": "critical",
                                               "dependencies": ["parent"]})
    write_task(board_dir, "inbox/parent.yaml", {"id": "parent", "priority": "low"})
    running = await start_hub()
    async with AgentClient.connect(running.base_url, "plain", capabilities=["shell"]) as plain:
        parent = await accept_next(plain)
        assert parent["task_id"] == "parent"
        await plain.expect_silence(0.3)  # the child waits for its parent
        await complete(plain, parent)
        child = await accept_next(plain)
        assert child["task_id"] == "child"
        await complete(plain, child)
        await plain.expect_silence(0.3)  # neither the gpu job nor another agent's task
        async with AgentClient.connect(running.base_url, "gpu1", capabilities=["gpu", "shell"]) as gpu:
            assert (await accept_next(gpu))["task_id"] == "gpu-job"
        async with AgentClient.connect(running.base_url, "other") as other:
            assert (await accept_next(other))["task_id"] == "for-other"
        await plain.expect_silence(0.1)


# ---------------------------------------------------------------------------------- stale and failure


async def test_a_stale_or_foreign_report_is_acked_stale_and_changes_nothing(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t", "title": "T"})
    running = await start_hub()
    path = board_dir / "assigned" / "a1" / "t.yaml"
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as a1, \
                AgentClient.connect(running.base_url, "a2") as a2:
            assign = await accept_next(a1)
            generation = assign["generation"]
            before = path.read_bytes()
            await a1.send("task_complete", task_id="t", generation=generation + 1,
                          result={"status": "success"})
            assert (await a1.expect("task_ack", task_id="t"))["status"] == "stale"
            await a1.send("task_failed", task_id="t", generation=generation - 1, error="old")
            assert (await a1.expect("task_ack", task_id="t"))["status"] == "stale"
            await a2.send("task_complete", task_id="t", generation=generation)
            assert (await a2.expect("task_ack", task_id="t"))["status"] == "stale"
            await a2.send("task_accepted", task_id="t")
            assert (await a2.expect("task_ack", task_id="t"))["status"] == "stale"
            await a1.send("task_complete", task_id="ghost", generation=1)
            assert (await a1.expect("task_ack", task_id="ghost"))["status"] == "stale"
            assert path.read_bytes() == before
            assert await agent_state(running.hub, "a1") == "working"
            stale_events = {e.kind for e in await collect_events(sub, quiet=0.2)}
            assert not stale_events & {"task.completed", "task.retried", "task.dead_letter",
                                       "task.reclaimed", "task.moved"}
            assert (await complete(a1, assign))["status"] == "complete"
    assert set(board_files(board_dir)) == {"done/a1/t.yaml"}


@pytest.mark.parametrize("status", ["failed", "error"])
async def test_complete_with_a_failed_result_is_a_failure(start_hub, board_dir, status) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t", "shell_command": "exit 3"})
    running = await start_hub()
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as a1:
            assign = await accept_next(a1)
            await a1.send("task_complete", task_id="t", generation=assign["generation"],
                          result={"status": status, "output": "some output\nexit code 3",
                                  "error": "exit code 3"})
            assert (await a1.expect("task_ack", task_id="t"))["status"] == "retried"
            retried = await wait_for_event(sub, "task.retried")
            assert retried.error == "exit code 3" and retried.retry_count == 1
            assert retried.result.output == "some output\nexit code 3"
            again = await a1.expect("task_assign", task_id="t")
    assert again["generation"] == 2
    fields = board_files(board_dir)["assigned/a1/t.yaml"]
    assert fields["retry_count"] == 1 and fields["last_error"] == "exit code 3"
    assert fields["last_output"] == "some output\nexit code 3"


# max_retries is the number of attempts, as on the Elixir hub (default 3)
@pytest.mark.parametrize(("override", "attempts"), [(None, 3), (2, 2), (1, 1), (0, 1)])
async def test_failures_retry_then_dead_letter(start_hub, board_dir, override, attempts) -> None:
    fields = {"id": "t", "title": "flaky"}
    if override is not None:
        fields["max_retries"] = override
    write_task(board_dir, "inbox/t.yaml", fields)
    running = await start_hub()
    acks, generations = [], []
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as a1:
            for n in range(attempts):
                assign = await accept_next(a1, task_id="t")
                generations.append(assign["generation"])
                reason = {"reason": f"boom {n}"} if n % 2 else {"error": f"boom {n}"}
                await a1.send("task_failed", task_id="t", generation=assign["generation"], **reason)
                acks.append((await a1.expect("task_ack", task_id="t"))["status"])
            await a1.expect_silence(0.2)
        dead = await wait_for_event(sub, "task.dead_letter")
    assert acks == ["retried"] * (attempts - 1) + ["dead_letter"]
    assert generations == list(range(1, attempts + 1))
    assert dead.retry_count == attempts and dead.error == f"boom {attempts - 1}"
    files = board_files(board_dir)
    assert set(files) == {"dead/t.yaml"}
    assert files["dead/t.yaml"]["status"] == "dead"
    assert files["dead/t.yaml"]["retry_count"] == attempts
    assert files["dead/t.yaml"]["last_error"] == f"boom {attempts - 1}"
    assert [a["outcome"] for a in files["dead/t.yaml"]["attempts"]] == ["failed"] * attempts


async def test_rapid_retries_are_never_mistaken_for_stale(start_hub, board_dir) -> None:
    """The watcher reports each move a moment late; applied as read, an old report of the task's
    file undid the queue's newer write and the agent's next report was acked stale."""
    write_task(board_dir, "inbox/t.yaml", {"id": "t", "max_retries": 100})
    running = await start_hub()
    async with AgentClient.connect(running.base_url, "a1") as a1:
        for attempt in range(1, 21):
            assign = await accept_next(a1, task_id="t")
            assert assign["generation"] == attempt
            await a1.send("task_failed", task_id="t", generation=attempt, error=f"try {attempt}")
            assert (await a1.expect("task_ack", task_id="t"))["status"] == "retried"


async def test_the_hub_default_max_retries_is_configurable(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    running = await start_hub(max_retries=0)
    async with AgentClient.connect(running.base_url, "a1") as a1:
        assign = await accept_next(a1)
        await a1.send("task_failed", task_id="t", generation=assign["generation"], error="no")
        assert (await a1.expect("task_ack"))["status"] == "dead_letter"


async def test_dead_letter_retry_and_cancel_through_the_queue(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t", "max_retries": 0})
    write_task(board_dir, "inbox/parked.yaml", {"id": "parked", "agent": "nobody"})
    running = await start_hub()
    hub = running.hub
    async with AgentClient.connect(running.base_url, "a1") as a1:
        assign = await accept_next(a1, task_id="t")
        assert await hub.ask_queue(RetryTask("t")) == "not_found"  # not dead yet
        await a1.send("task_failed", task_id="t", generation=assign["generation"], error="boom")
        assert (await a1.expect("task_ack"))["status"] == "dead_letter"

        assert await hub.ask_queue(RetryTask("t")) == "requeued"
        again = await accept_next(a1, task_id="t")
        requeued = board_files(board_dir)["assigned/a1/t.yaml"]
        assert requeued["retry_count"] == 0 and requeued["requeued_at"]
        assert again["generation"] == assign["generation"] + 1

        assert await hub.ask_queue(CancelTask("t")) == "cancelled"
        cancelled = await a1.expect("task_cancelled", task_id="t")
        assert cancelled["reason"] == "cancelled" and isinstance(cancelled["timestamp"], int)
        await a1.send("task_complete", task_id="t", generation=again["generation"])
        assert (await a1.expect("task_ack", task_id="t"))["status"] == "stale"
        assert await agent_state(hub, "a1") == "idle"

        assert await hub.ask_queue(CancelTask("parked")) == "cancelled"
        assert await hub.ask_queue(CancelTask("parked")) == "not_found"
        assert await hub.ask_queue(CancelTask("ghost")) == "not_found"
        assert await hub.ask_queue(RetryTask("ghost")) == "not_found"
    files = board_files(board_dir)
    assert set(files) == {"dead/t.yaml", "dead/parked.yaml"}
    assert files["dead/t.yaml"]["last_error"] == "cancelled from the dashboard"


# ---------------------------------------------------------------------------------- busy, recovery


async def test_busy_rejection_puts_the_task_back_at_once(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t", "retry_count": 1})
    running = await start_hub()
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "busy") as busy:
            offered = await busy.expect("task_assign", task_id="t")
            async with AgentClient.connect(running.base_url, "free") as free:
                await busy.send("task_rejected", task_id="t", reason="busy")
                with trio.fail_after(1):  # at once, not after a deadline tick
                    taken = await accept_next(free, task_id="t")
                await busy.expect_silence(0.2)
        reclaimed = await wait_for_event(sub, "task.reclaimed")
    assert reclaimed.reason == "rejected: busy" and reclaimed.agent_id == "busy"
    assert taken["generation"] == offered["generation"] + 2  # one for the return, one to assign
    # a busy agent is not the task's failure
    assert board_files(board_dir)["assigned/free/t.yaml"]["retry_count"] == 1


async def test_task_recovering_continues_only_what_a_state_report_showed_running(start_hub,
                                                                               board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    running = await start_hub()
    # the task is on the board at start, so the first agent to identify gets it
    async with AgentClient.connect(running.base_url, "a1") as holder, \
            AgentClient.connect(running.base_url, "a2") as other:
        assign = await accept_next(holder, task_id="t")
        await holder.send("task_recovering", task_id="t")  # assigned on this connection: ignored
        await holder.expect_silence(0.2)
        await holder.send("state_report", task_id="t", generation=assign["generation"],
                          status="working")
        await holder.expect("state_report_ack", task_id="t", action="continue")
        await holder.send("task_recovering", task_id="t")
        assert await holder.expect("task_continue", task_id="t") == {
            "type": "task_continue", "task_id": "t", "generation": assign["generation"]}
        await other.send("task_recovering", task_id="t")
        await other.expect("task_reassign", task_id="t")
        await holder.send("task_recovering", task_id="ghost")
        await holder.expect("task_reassign", task_id="ghost")
        assert (await complete(holder, assign))["status"] == "complete"


async def test_reconnect_with_state_report_keeps_the_task(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    running = await start_hub()
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as a1:
            assign = await accept_next(a1)
        await wait_for_event(sub, "agent.left")
        assert await agent_state(running.hub, "a1") == "offline"
        async with AgentClient.connect(running.base_url, "a1") as a1:
            await a1.send("state_report", task_id="t", status="working", generation=assign["generation"])
            assert (await a1.expect("state_report_ack"))["action"] == "continue"
            assert await agent_state(running.hub, "a1") == "working"
            await a1.expect_silence(0.2)  # nothing new offered while it holds its task
            assert (await complete(a1, assign))["status"] == "complete"
        kinds = [e.kind for e in await collect_events(sub, quiet=0.1)]
    assert "task.reclaimed" not in kinds
    assert set(board_files(board_dir)) == {"done/a1/t.yaml"}


async def test_a_state_report_for_another_generation_is_told_to_abort(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    running = await start_hub(reconnect_grace=0.3, **FAST)
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as a1:
            assign = await accept_next(a1)
        async with AgentClient.connect(running.base_url, "a1") as a1:
            await a1.send("state_report", task_id="t", generation=assign["generation"] + 5)
            assert (await a1.expect("state_report_ack"))["action"] == "abort"
            reclaimed = await wait_for_event(sub, "task.reclaimed")
            again = await a1.expect("task_assign", task_id="t")
    assert reclaimed.reason == "no state_report after reconnect"
    assert again["generation"] == assign["generation"] + 2


# ---------------------------------------------------------------------------------- deadlines


async def test_accept_timeout_reclaims_with_a_new_generation(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    running = await start_hub(accept_timeout=0.2, **FAST)
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as a1:
            first = await a1.expect("task_assign")
            reassign = await a1.expect("task_reassign", task_id="t")
            reclaimed = await wait_for_event(sub, "task.reclaimed")
            second = await accept_next(a1, task_id="t")  # offered again, as a new attempt
            await complete(a1, second)
    assert reassign["reason"] == reclaimed.reason == "not accepted within 0.2 s"
    assert reclaimed.task.lane == "inbox" and reclaimed.task.generation == first["generation"] + 1
    assert reclaimed.task.fields["reclaimed_reason"] == reclaimed.reason
    assert second["generation"] == first["generation"] + 2
    assert set(board_files(board_dir)) == {"done/a1/t.yaml"}


async def test_stuck_sweep_reclaims_only_without_progress(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    running = await start_hub(stuck_timeout=0.4, **FAST)
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as a1:
            assign = await accept_next(a1)
            for n in range(8):  # 0.8 s of regular output: twice the timeout, still alive
                if n % 2:
                    await a1.send("task_progress", task_id="t", progress="working")
                else:
                    await a1.send("task_progress", task_id="t",
                                  execution_event={"event_type": "stdout", "text": f"{n}\n"})
                await trio.sleep(0.1)
            so_far = []
            with contextlib.suppress(trio.WouldBlock):
                while True:
                    so_far.append(sub.receive_nowait().kind)
            assert "task.reclaimed" not in so_far
            assert await agent_state(running.hub, "a1") == "working"
            reassign = await a1.expect("task_reassign", task_id="t", timeout=3)
            reclaimed = await wait_for_event(sub, "task.reclaimed")
    assert reassign["reason"] == reclaimed.reason == "no progress for 0.4 s"
    assert reclaimed.task.generation == assign["generation"] + 1 and reclaimed.agent_id == "a1"


async def test_disconnect_grace_reclaims_to_inbox(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    running = await start_hub(reconnect_grace=0.3, **FAST)
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as a1:
            assign = await accept_next(a1)
            await a1.abort()
        left = await wait_for_event(sub, "agent.left")
        reclaimed = await wait_for_event(sub, "task.reclaimed")
    assert reclaimed.at - left.at >= 0.25
    assert reclaimed.reason == "agent disconnected" and reclaimed.agent_id == "a1"
    files = board_files(board_dir)
    assert set(files) == {"inbox/t.yaml"}
    assert files["inbox/t.yaml"]["generation"] == assign["generation"] + 1
    assert files["inbox/t.yaml"]["status"] == "queued"
    assert files["inbox/t.yaml"]["reclaimed_reason"] == "agent disconnected"
    assert await agent_state(running.hub, "a1") == "offline"
    async with AgentClient.connect(running.base_url, "a2") as a2:
        assert (await accept_next(a2, task_id="t"))["generation"] == assign["generation"] + 2


async def hold_a_task_then_stop_the_hub(work_dir: Path) -> dict[str, Any]:
    """A first hub assigns the task to a1 and stops (its agent's socket with it); the assignment."""
    hub = Hub(HubConfig(work_dir=work_dir, port=0, fsync=False))
    async with trio.open_nursery() as nursery:
        [base_url] = [a for a in await nursery.start(run_hub, hub) if a.startswith("http://")]
        async with AgentClient.connect(base_url, "a1") as a1:
            assign = await accept_next(a1)
            hub.stop()
    return assign


async def test_after_a_hub_restart_the_returning_agent_keeps_its_task(start_hub, work_dir, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    assign = await hold_a_task_then_stop_the_hub(work_dir)
    running = await start_hub()
    async with AgentClient.connect(running.base_url, "a1") as a1:
        await a1.send("state_report", task_id="t", generation=assign["generation"])
        assert (await a1.expect("state_report_ack"))["action"] == "continue"
        assert (await complete(a1, assign))["status"] == "complete"
    assert set(board_files(board_dir)) == {"done/a1/t.yaml"}


async def test_after_a_hub_restart_a_task_whose_agent_stays_away_is_reclaimed(
        start_hub, work_dir, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    assign = await hold_a_task_then_stop_the_hub(work_dir)
    running = await start_hub(reconnect_grace=0.3, **FAST)

    def back_in_the_inbox() -> dict[str, Any] | None:  # the board, not an event: the grace may end first
        return board_files(board_dir).get("inbox/t.yaml")

    task = await wait_until(back_in_the_inbox)
    assert [(a["agent"], a["outcome"], a["reason"]) for a in task["attempts"]] == [
        ("a1", "reclaimed", HUB_RESTARTED)]
    assert not task.get("retry_count")  # the hub's own restart is not the task's fault
    async with AgentClient.connect(running.base_url, "a2") as a2:
        assert (await accept_next(a2, task_id="t"))["generation"] == assign["generation"] + 2


KILLABLE_AGENT = """
import json, sys, trio
from trio_websocket import open_websocket_url

async def main(url, agent_id):
    async with open_websocket_url(url) as ws:
        await ws.send_message(json.dumps({"type": "identify", "agent_id": agent_id, "token": None}))
        while True:
            message = json.loads(await ws.get_message())
            if message["type"] == "task_assign":
                task_id = message["task_id"]
                await ws.send_message(json.dumps({"type": "task_accepted", "task_id": task_id}))
                await ws.send_message(json.dumps({"type": "task_progress", "task_id": task_id,
                    "execution_event": {"event_type": "stdout", "text": "half way\\n"}}))

trio.run(main, sys.argv[1], sys.argv[2])
"""


async def test_killing_the_agent_process_mid_task_loses_no_task(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t", "shell_command": "sleep 100"})
    running = await start_hub(reconnect_grace=0.3, **FAST)
    with running.subscribe("test", buffer=0) as sub:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-c", KILLABLE_AGENT, ws_url(running.base_url), "victim"])
        try:
            event = await wait_for_event(sub, ExecutionEvent, timeout=10)
            assert (event.agent_id, event.text) == ("victim", "half way\n")
            assert (board_dir / "assigned/victim/t.yaml").exists()
        finally:
            process.kill()
            await process.wait()
        async with AgentClient.connect(running.base_url, "survivor") as survivor:
            reclaimed = await wait_for_event(sub, "task.reclaimed")
            assign = await accept_next(survivor, task_id="t")
            await complete(survivor, assign)
    assert reclaimed.agent_id == "victim" and reclaimed.reason == "agent disconnected"
    files = board_files(board_dir)
    assert set(files) == {"done/survivor/t.yaml"}
    outcomes = [(a["agent"], a["outcome"]) for a in files["done/survivor/t.yaml"]["attempts"]]
    assert outcomes == [("victim", "reclaimed"), ("survivor", "done")]


CHATTY_AGENT = """
import json, sys, trio
from trio_websocket import open_websocket_url

async def main(url, lines):
    async with open_websocket_url(url) as ws:
        await ws.send_message(json.dumps({"type": "identify", "agent_id": "chatty", "token": None}))
        while (assign := json.loads(await ws.get_message()))["type"] != "task_assign":
            pass
        task_id = assign["task_id"]
        await ws.send_message(json.dumps({"type": "task_accepted", "task_id": task_id}))
        for n in range(lines):
            await ws.send_message(json.dumps({"type": "task_progress", "task_id": task_id,
                "execution_event": {"event_type": "stdout", "text": f"line {n}"}}))
        await ws.send_message(json.dumps({"type": "task_complete", "task_id": task_id,
            "generation": assign["generation"], "result": {"status": "success", "output": "all"}}))

trio.run(main, sys.argv[1], int(sys.argv[2]))
"""


async def test_frames_sent_just_before_the_agent_closes_are_not_lost(start_hub, board_dir) -> None:
    """A separate process streams faster than the hub reads, completes, and closes at once: the
    frames still buffered when the close arrives must reach the queue (the last is the result)."""
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    running = await start_hub()
    with running.subscribe("test", buffer=0) as sub:
        await trio.run_process([sys.executable, "-c", CHATTY_AGENT, ws_url(running.base_url), "300"])
        completed = await wait_for_event(sub, "task.completed")
        left = await wait_for_event(sub, "agent.left")
    assert completed.at <= left.at  # handled before the agent was marked gone
    assert set(board_files(board_dir)) == {"done/chatty/t.yaml"}
    assert read(board_dir, "done/chatty/t.yaml")["result"]["output"] == "all"
    output = await running.hub.ask_output(GetOutput("t"))
    assert [e.text for e in output] == [f"line {n}" for n in range(300)]


async def test_a_second_connection_replaces_the_first(start_hub, work_dir) -> None:
    """With a token the newer connection proves it is the agent and takes over (without tokens a
    live id is refused instead: tests/test_connection_limits.py)."""
    from agentdeck.actors.protocol.auth import TokenStore

    token = TokenStore.in_state_dir(work_dir / ".agentdeck").add("a1")
    running_hub = await start_hub()
    async with AgentClient.connect(running_hub.base_url, "a1", token=token) as old:
        async with AgentClient.connect(running_hub.base_url, "a1", token=token) as new:
            assert await old.expect_close() == 1000
            await old.expect_error("replaced_by_new_connection")
            await new.send("ping")
            await new.expect("pong")
            assert await agent_state(running_hub.hub, "a1") == "idle"


# ---------------------------------------------------------------------------------- output


async def test_execution_events_reach_the_bus_and_the_output_log(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t", "max_retries": 2})
    running = await start_hub()
    hub = running.hub
    sent = [("status", "starting"), ("stdout", "line 1\n"), ("stderr", "warn\n"),
            ("token", "Hel"), ("token", "lo"), ("tool_call", json.dumps({"tool": "ls"})),
            ("error", "oops")]
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as holder:
            assign = await accept_next(holder, task_id="t")
            await holder.send("task_progress", task_id="t", progress=10)
            async with AgentClient.connect(running.base_url, "a2") as bystander:
                await bystander.send("task_progress", task_id="t",
                                     execution_event={"event_type": "stdout", "text": "not mine"})
                await bystander.send("ping")
                await bystander.expect("pong")
            for n, (kind, text) in enumerate(sent):
                await holder.send("task_progress", task_id="t",
                                  execution_event={"event_type": kind, "text": text,
                                                   "tokens_so_far": n, "model": "m", "timestamp": 1.5 + n})
            progress = await wait_for_event(sub, "task.progress")
            received = []
            while len(received) < len(sent):
                received.append(await wait_for_event(sub, ExecutionEvent))
            kept = await wait_until(lambda: _output(hub, len(sent)))

            await holder.send("task_failed", task_id="t", generation=assign["generation"], error="x")
            again = await accept_next(holder, task_id="t")
            await holder.send("task_progress", task_id="t",
                              execution_event={"event_type": "stdout", "text": "second try\n"})
            fresh = await wait_until(lambda: _output(hub, 1))
    assert (progress.task_id, progress.agent_id, progress.progress) == ("t", holder.agent_id, 10)
    assert [(e.event_type, e.text) for e in received] == sent
    assert all(e.task_id == "t" and e.agent_id == holder.agent_id and e.model == "m" for e in received)
    assert [e.generation for e in received] == [assign["generation"]] * len(sent)
    assert [e.tokens_so_far for e in received] == list(range(len(sent)))
    assert [(e.event_type, e.text) for e in kept] == sent
    assert [(e.text, e.generation) for e in fresh] == [("second try\n", again["generation"])]


async def test_output_after_the_outcome_or_a_cancel_is_refused_and_none_is_reordered(
        start_hub, board_dir) -> None:
    """A chatty agent that keeps printing after its outcome (or after the task was cancelled from
    the dashboard), without waiting for any answer: what it sent while it held the task reaches
    the bus in order and before the outcome, nothing after."""
    write_task(board_dir, "inbox/t.yaml", {"id": "t", "created": "2026-01-01T00:00:00"})
    write_task(board_dir, "inbox/u.yaml", {"id": "u", "created": "2026-01-02T00:00:00"})
    running = await start_hub()
    hub = running.hub

    def line(task: str, n: int) -> dict[str, Any]:
        return {"type": "task_progress", "task_id": task,
                "execution_event": {"event_type": "stdout", "text": f"{task} {n}\n"}}

    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as a1:
            assign = await accept_next(a1, task_id="t")
            frames = [line("t", n) for n in range(200)]
            frames.append({"type": "task_complete", "task_id": "t", "generation": assign["generation"],
                           "result": {"status": "completed"}})
            frames += [line("t", n) for n in range(200, 300)]
            for frame in frames:  # unbatched and without waiting, as a sidecar streams stdout
                await a1.ws.send_message(json.dumps(frame))
            await a1.expect("task_ack", task_id="t", status="complete")
            await accept_next(a1, task_id="u")
            await a1.send_raw(json.dumps(line("u", 0)))
            await wait_until(lambda: _output_of(hub, "u", 1))
            assert await hub.ask_queue(CancelTask("u")) == "cancelled"
            for n in range(1, 50):
                await a1.send_raw(json.dumps(line("u", n)))
            await a1.send("ping")
            await a1.expect("pong")
        seen = await collect_events(sub)
    order = [e.text if isinstance(e, ExecutionEvent) else e.kind for e in seen
             if isinstance(e, ExecutionEvent) or e.kind == "task.completed"]
    assert order[:201] == [f"t {n}\n" for n in range(200)] + ["task.completed"]
    assert "u 0\n" in order and not any(text.startswith("u ") and text != "u 0\n" for text in order)
    assert not any(text.startswith("t ") for text in order[201:])
    assert [e.text for e in await hub.ask_output(GetOutput("t"))] == [f"t {n}\n" for n in range(200)]
    assert [e.text for e in await hub.ask_output(GetOutput("u"))] == ["u 0\n"]


async def _output_of(hub, task_id: str, count: int):
    events = await hub.ask_output(GetOutput(task_id))
    return events if len(events) == count else None


async def _output(hub, count: int):
    events = await hub.ask_output(GetOutput("t"))
    return events if len(events) == count else None


async def test_output_of_an_unknown_task_is_empty(running_hub) -> None:
    assert await running_hub.hub.ask_output(GetOutput("nope")) == ()


async def test_the_output_log_keeps_the_last_256_kib_of_a_task(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    running = await start_hub()
    chunk = "x" * 1023 + "\n"
    async with AgentClient.connect(running.base_url, "a1") as a1:
        await accept_next(a1)
        for n in range(300):  # ~300 KiB in 1 KiB lines
            await a1.send("task_progress", task_id="t",
                          execution_event={"event_type": "stdout", "text": f"{n:04d}{chunk[4:]}"})
        await a1.send("ping")
        await a1.expect("pong")
        kept = await wait_until(lambda: _output_ending_with(running.hub, "0299"))
    size = sum(len(e.text.encode()) for e in kept)
    assert 240 * 1024 < size <= 256 * 1024
    numbers = [int(e.text[:4]) for e in kept]
    assert numbers == list(range(numbers[0], 300)) and numbers[0] > 0  # the oldest went first


async def _output_ending_with(hub, prefix: str):
    events = await hub.ask_output(GetOutput("t"))
    return events if events and events[-1].text.startswith(prefix) else None
