"""The task lifecycle rules (actors/board/lifecycle.py) and who gets which task (actors/queue/agents.py), without
files, sockets or a running hub: a transition is a destination path and the new fields."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import task_yaml

from agentdeck.actors.board import lifecycle
from agentdeck.actors.board.board import Board, queue_order
from agentdeck.actors.board.taskfile import parse_task
from agentdeck.actors.messages import FileRead, Task
from agentdeck.actors.queue.agents import AgentRecord, fits, is_ready, pick_task

ROUTING = {"effective_tier": "trivial", "target_type": "sidecar"}


def task(path: str, **fields: object) -> Task:
    return parse_task(path, task_yaml(**fields).encode(), 1.0)


def recent(stamp: object) -> bool:
    moment = dt.datetime.fromisoformat(str(stamp))
    return abs((dt.datetime.now(dt.UTC) - moment).total_seconds()) < 5


def assigned(**fields: object) -> Task:
    base = {"id": "t1", "title": "T", "status": "assigned", "generation": 3}
    return task("assigned/a1/t1.yaml", **{**base, **fields})


# ---------------------------------------------------------------------------------- transitions


def test_assign_moves_to_the_agent_and_writes_only_lifecycle_fields() -> None:
    inbox = task("inbox/t1.yaml", id="t1", title="T", shell_command="echo hi", custom={"k": [1, 2]},
                 generation=4)
    dst, fields = lifecycle.assign(inbox, "a1", ROUTING)
    assert dst == "assigned/a1/t1.yaml"
    assert fields["status"] == "assigned" and fields["generation"] == 5
    assert fields["routing_decision"] == ROUTING and recent(fields["assigned_at"])
    assert (fields["shell_command"], fields["custom"], fields["title"]) == ("echo hi", {"k": [1, 2]}, "T")
    assert "status" not in inbox.fields and inbox.fields["generation"] == 4  # the Task is untouched


def test_first_assignment_is_generation_one_and_the_file_name_is_kept() -> None:
    dst, fields = lifecycle.assign(task("inbox/odd-name.yml", id="other-id"), "b.2", ROUTING)
    assert (dst, fields["generation"]) == ("assigned/b.2/odd-name.yml", 1)


def test_complete_goes_to_done_of_the_agent_with_result_and_an_attempt() -> None:
    dst, fields = lifecycle.complete(assigned(), "a1", {"status": "success", "output": "hi"})
    assert dst == "done/a1/t1.yaml"
    assert fields["status"] == "done" and recent(fields["completed_at"])
    assert fields["result"] == {"status": "success", "output": "hi"}
    [attempt] = fields["attempts"]
    assert attempt["generation"] == 3 and attempt["agent"] == "a1" and attempt["outcome"] == "done"


def test_complete_keeps_only_the_tail_of_a_huge_output() -> None:
    output = "x" * lifecycle.MAX_KEPT_OUTPUT + "THE END"
    _, fields = lifecycle.complete(assigned(), "a1", {"output": output})
    kept = fields["result"]["output"]
    assert len(kept) == lifecycle.MAX_KEPT_OUTPUT and kept.endswith("THE END")
    assert fields["result"]["output_truncated"] is True


def test_complete_without_result_writes_no_result_field() -> None:
    _, fields = lifecycle.complete(assigned(result={"old": 1}), "a1", None)
    assert "result" not in fields


@pytest.mark.parametrize(("retry_count", "outcome", "dst"), [
    (0, "retried", "inbox/t1.yaml"),
    (1, "retried", "inbox/t1.yaml"),
    (2, "dead_letter", "dead/t1.yaml"),  # max_retries 3 = three attempts, as on the Elixir hub
])
def test_fail_retries_until_the_default_max_then_dead_letter(retry_count: int, outcome: str,
                                                              dst: str) -> None:
    failing = assigned(retry_count=retry_count)
    to, fields, result = lifecycle.fail(failing, "a1", "boom", 3, {"output": "partial"})
    assert (to, result) == (dst, outcome)
    assert fields["retry_count"] == retry_count + 1 and fields["last_error"] == "boom"
    assert fields["last_output"] == "partial"
    assert fields["status"] == ("dead" if outcome == "dead_letter" else "queued")
    assert fields["attempts"][-1]["outcome"] == "failed" and fields["attempts"][-1]["error"] == "boom"
    assert ("failed_at" in fields) == (outcome == "dead_letter")


@pytest.mark.parametrize(("override", "fails_before_dead"), [(0, 0), (1, 0), (2, 1), (5, 4)])
def test_a_task_may_override_max_retries(override: int, fails_before_dead: int) -> None:
    current = assigned(max_retries=override)
    for _ in range(fails_before_dead):
        dst, fields, outcome = lifecycle.fail(current, "a1", "boom", 3)
        assert outcome == "retried"
        current = task(dst, **fields)
    _, fields, outcome = lifecycle.fail(current, "a1", "boom", 3)
    assert outcome == "dead_letter" and fields["retry_count"] == fails_before_dead + 1


@pytest.mark.parametrize("bad", [True, -1, "2", 1.5])
def test_an_unusable_max_retries_falls_back_to_the_default(bad: object) -> None:
    assert lifecycle.max_retries(assigned(max_retries=bad), 3) == 3


def test_fail_bounds_the_error_and_drops_a_stale_last_output() -> None:
    _, fields, _ = lifecycle.fail(assigned(last_output="from before"), None, "e" * 5000, 3)
    assert len(fields["last_error"]) == 2000
    assert "last_output" not in fields and fields["attempts"][-1]["agent"] is None


def test_reclaim_returns_to_inbox_with_a_new_generation_and_the_reason() -> None:
    dst, fields, outcome = lifecycle.reclaim(assigned(), "agent disconnected", 3)
    assert (dst, outcome) == ("inbox/t1.yaml", "retried")
    assert fields["generation"] == 4 and fields["status"] == "queued"
    assert fields["reclaimed_reason"] == "agent disconnected"
    attempt = fields["attempts"][-1]
    assert (attempt["agent"], attempt["outcome"], attempt["reason"]) == ("a1", "reclaimed",
                                                                          "agent disconnected")
    assert fields["retry_count"] == 1  # a lost attempt counts: a task that keeps losing its agent dies


def test_busy_rejection_returns_at_once_without_counting_a_retry() -> None:
    dst, fields = lifecycle.back_to_inbox(assigned(retry_count=1))
    assert (dst, fields["generation"], fields["retry_count"]) == ("inbox/t1.yaml", 4, 1)


def test_requeue_from_dead_letter_resets_retries() -> None:
    dead = task("dead/t1.yaml", id="t1", status="dead", retry_count=4, last_error="boom")
    dst, fields = lifecycle.requeue(dead)
    assert (dst, fields["retry_count"], fields["status"]) == ("inbox/t1.yaml", 0, "queued")
    assert recent(fields["requeued_at"]) and fields["last_error"] == "boom"


def test_cancel_parks_in_dead_letter_with_a_new_generation() -> None:
    dst, fields = lifecycle.cancel(assigned(), "cancelled from the dashboard")
    assert (dst, fields["status"], fields["generation"]) == ("dead/t1.yaml", "dead", 4)
    assert fields["last_error"] == "cancelled from the dashboard"


# ---------------------------------------------------------------------------------- pick_task


def board_of(*tasks: Task) -> Board:
    board = Board()
    board.apply_batch([FileRead(t.path, t, None) for t in tasks])
    return board


def inbox_of(board: Board) -> list[Task]:
    return board.in_lane("inbox")


def agent(agent_id: str = "a1", *capabilities: str) -> AgentRecord:
    return AgentRecord(agent_id, capabilities=capabilities)


def test_highest_priority_first_then_oldest() -> None:
    board = board_of(
        task("inbox/low.yaml", id="low", priority="low", created="2026-01-01T00:00:00"),
        task("inbox/high-new.yaml", id="high-new", priority="high", created="2026-03-01T00:00:00"),
        task("inbox/high-old.yaml", id="high-old", priority="high", created="2026-02-01T00:00:00"),
        task("inbox/crit.yaml", id="crit", priority="critical", created="2026-04-01T00:00:00"),
        task("inbox/plain.yaml", id="plain", created="2025-01-01T00:00:00"),
    )
    order, taken = [], set()
    while (picked := pick_task(inbox_of(board), agent(), board, taken)) is not None:
        order.append(picked.id)
        taken.add(picked.id)
    assert order == ["crit", "high-old", "high-new", "plain", "low"]


def test_without_created_the_file_age_decides() -> None:
    older = parse_task("inbox/b.yaml", task_yaml(id="b").encode(), 100.0)
    newer = parse_task("inbox/a.yaml", task_yaml(id="a").encode(), 200.0)
    assert [t.id for t in sorted([newer, older], key=queue_order)] == ["b", "a"]


@pytest.mark.parametrize(("needed", "capabilities", "fit"), [
    (["gpu"], ("gpu", "shell"), True),
    (["gpu", "shell"], ("gpu",), False),
    ("gpu", ("gpu",), True),
    ("gpu", (), False),
    ([], (), True),
    (None, (), True),
])
def test_needed_capabilities(needed: object, capabilities: tuple[str, ...], fit: bool) -> None:
    wanted = task("inbox/t.yaml", id="t", needed_capabilities=needed)
    assert fits(wanted, agent("a1", *capabilities)) is fit


@pytest.mark.parametrize("key", ["agent", "assign_to"])
def test_a_named_agent_gets_it_and_nobody_else(key: str) -> None:
    named = task("inbox/t.yaml", id="t", **{key: "bob"})
    board = board_of(named)
    assert pick_task(inbox_of(board), agent("alice"), board, set()) is None
    assert pick_task(inbox_of(board), agent("bob"), board, set()) == named


def test_dependencies_must_all_be_done() -> None:
    child = task("inbox/child.yaml", id="child", priority="critical", dependencies=["p1", "p2"])
    p1_done = task("done/x/p1.yaml", id="p1")
    p2_waiting = task("inbox/p2.yaml", id="p2", priority="low")
    board = board_of(child, p1_done, p2_waiting)
    assert not is_ready(child, board)
    assert pick_task(inbox_of(board), agent(), board, set()).id == "p2"

    board = board_of(child, p1_done, task("done/y/p2.yaml", id="p2"))
    assert is_ready(child, board)
    assert pick_task(inbox_of(board), agent(), board, set()).id == "child"


def test_an_unknown_or_dead_dependency_blocks() -> None:
    board = board_of(task("inbox/c.yaml", id="c", dependencies=["ghost"]),
                     task("inbox/d.yaml", id="d", dependencies=["gone"]),
                     task("dead/gone.yaml", id="gone"))
    assert pick_task(inbox_of(board), agent(), board, set()) is None


def test_tasks_taken_in_this_round_are_skipped() -> None:
    board = board_of(task("inbox/a.yaml", id="a", priority="high"), task("inbox/b.yaml", id="b"))
    assert pick_task(inbox_of(board), agent(), board, {"a"}).id == "b"
    assert pick_task(inbox_of(board), agent(), board, {"a", "b"}) is None


def test_agent_record_json_is_what_the_api_shows() -> None:
    record = AgentRecord("a1", capabilities=("gpu",), task_id="t1", state="working",
                         resources={"cpu_percent": 3.0})
    shown = record.json()
    assert (shown["agent_id"], shown["name"], shown["state"], shown["current_task_id"]) == (
        "a1", "a1", "working", "t1")
    assert shown["capabilities"] == ["gpu"] and shown["resources"] == {"cpu_percent": 3.0}
    assert record.connected is False
