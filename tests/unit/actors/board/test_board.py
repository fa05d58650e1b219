"""The pure Board: file changes in, events out, without any files or tasks running."""

from __future__ import annotations

import random

from conftest import task_yaml

from agentdeck.actors.board.board import Board, queue_order
from agentdeck.actors.board.lanes import completed_order
from agentdeck.actors.board.taskfile import parse_task
from agentdeck.actors.messages import (
    FileGone,
    FileRead,
    InvalidTaskFile,
    TaskAssigned,
    TaskCompleted,
    TaskConflict,
    TaskCreated,
    TaskInvalid,
    TaskMoved,
    TaskRemoved,
    TaskUpdated,
)


def read(path: str, **fields: object) -> FileRead:
    return FileRead(path, parse_task(path, task_yaml(**fields).encode()), None)


def broken(path: str, error: str = "invalid YAML: oops") -> FileRead:
    return FileRead(path, None, InvalidTaskFile(path, error))


def kinds(events: list) -> list[str]:
    return [event.kind for event in events]


def board_with(*reads: FileRead) -> Board:
    board = Board()
    board.apply_batch(reads)
    return board


def test_create_then_update_then_unchanged_rewrite() -> None:
    board = Board()
    [created] = board.apply_batch([read("inbox/a.yaml", title="A")])
    assert isinstance(created, TaskCreated) and created.task.id == "a"
    assert board.get("a").title == "A" and len(board) == 1

    [updated] = board.apply_batch([read("inbox/a.yaml", title="A2")])
    assert isinstance(updated, TaskUpdated)
    assert (updated.previous.title, updated.task.title) == ("A", "A2")

    version = board.version
    assert board.apply_batch([read("inbox/a.yaml", title="A2")]) == []
    assert board.version == version


def test_move_to_an_agent_is_one_assigned_event_whatever_the_order_in_the_batch() -> None:
    for order in (1, -1):
        board = board_with(read("inbox/a.yaml", title="A"))
        batch = [FileGone("inbox/a.yaml"), read("assigned/bob/a.yaml", title="A")][::order]
        [event] = board.apply_batch(batch)
        assert isinstance(event, TaskAssigned)
        assert event.agent_id == "bob" and event.previous.lane == "inbox"
        assert board.get("a").path == "assigned/bob/a.yaml"


def test_move_to_done_is_one_completed_event() -> None:
    board = board_with(read("assigned/bob/a.yaml", title="A"))
    [event] = board.apply_batch([read("done/bob/a.yaml", title="A"), FileGone("assigned/bob/a.yaml")])
    assert isinstance(event, TaskCompleted) and event.agent_id == "bob"
    assert board.get("a").lane == "done"


def test_reassignment_to_another_agent_is_an_assigned_event() -> None:
    board = board_with(read("assigned/bob/a.yaml", title="A"))
    [event] = board.apply_batch([FileGone("assigned/bob/a.yaml"), read("assigned/amy/a.yaml", title="A")])
    assert isinstance(event, TaskAssigned) and event.agent_id == "amy"
    assert event.previous.lane_agent == "bob"


def test_other_moves_are_one_moved_event() -> None:
    board = board_with(read("inbox/a.yaml", title="A"))
    [event] = board.apply_batch([FileGone("inbox/a.yaml"), read("dead/a.yaml", title="A")])
    assert isinstance(event, TaskMoved) and event.previous.lane == "inbox" and event.task.lane == "dead"


def test_a_renamed_file_keeping_its_id_is_a_move() -> None:
    board = board_with(read("inbox/a.yaml", id="T-1", title="A"))
    [event] = board.apply_batch([FileGone("inbox/a.yaml"), read("assigned/bob/renamed.yaml", id="T-1")])
    assert isinstance(event, TaskAssigned) and event.task.path == "assigned/bob/renamed.yaml"


def test_a_moved_file_with_an_edited_id_is_still_a_move_by_file_name() -> None:
    board = board_with(read("inbox/a.yaml", id="old"))
    [event] = board.apply_batch([FileGone("inbox/a.yaml"), read("done/amy/a.yaml", id="new")])
    assert isinstance(event, TaskCompleted)
    assert board.get("old") is None and board.get("new") is not None


def test_delete_is_one_removed_event() -> None:
    board = board_with(read("inbox/a.yaml"), read("inbox/b.yaml"))
    [event] = board.apply_batch([FileGone("inbox/a.yaml")])
    assert isinstance(event, TaskRemoved) and event.task.id == "a"
    assert board.get("a") is None and len(board) == 1
    assert board.apply_batch([FileGone("inbox/never-existed.yaml")]) == []


def test_the_last_change_to_a_path_in_a_batch_wins() -> None:
    board = Board()
    events = board.apply_batch([read("inbox/a.yaml", title="one"), read("inbox/a.yaml", title="two")])
    assert kinds(events) == ["task.created"] and board.get("a").title == "two"
    events = board.apply_batch([read("inbox/b.yaml"), FileGone("inbox/b.yaml")])
    assert events == [] and board.get("b") is None


def test_duplicate_ids_are_a_conflict_and_the_second_file_waits() -> None:
    board = board_with(read("inbox/first.yaml", id="X", title="first"))
    [conflict] = board.apply_batch([read("inbox/second.yaml", id="X", title="second")])
    assert isinstance(conflict, TaskConflict)
    assert conflict.task_id == "X" and conflict.paths == ("inbox/first.yaml", "inbox/second.yaml")
    assert board.get("X").title == "first" and len(board) == 1
    [listed] = board.invalid()
    assert listed.path == "inbox/second.yaml" and "duplicate task id 'X'" in listed.error
    # seeing the same conflicting file again does not repeat the event
    assert board.apply_batch([read("inbox/second.yaml", id="X", title="second")]) == []


def test_a_waiting_duplicate_is_promoted_when_the_owner_leaves() -> None:
    board = board_with(read("inbox/first.yaml", id="X", title="first"))
    board.apply_batch([read("inbox/second.yaml", id="X", title="second")])
    events = board.apply_batch([FileGone("inbox/first.yaml")])
    assert kinds(events) == ["task.removed", "task.invalid", "task.created"]
    assert events[1].path == "inbox/second.yaml" and events[1].invalid is None
    assert board.get("X").title == "second" and board.invalid() == []


def test_a_waiting_duplicate_is_promoted_when_the_owner_changes_its_id() -> None:
    board = board_with(read("inbox/first.yaml", id="X"))
    board.apply_batch([read("inbox/second.yaml", id="X", title="second")])
    events = board.apply_batch([read("inbox/first.yaml", id="Y")])
    assert kinds(events) == ["task.removed", "task.invalid", "task.created", "task.created"]
    assert board.get("X").path == "inbox/second.yaml" and board.get("Y").path == "inbox/first.yaml"


def test_a_duplicate_that_is_deleted_or_fixed_leaves_the_invalid_list_with_an_event() -> None:
    board = board_with(read("inbox/first.yaml", id="X"))
    board.apply_batch([read("inbox/second.yaml", id="X")])
    events = board.apply_batch([read("inbox/second.yaml", id="Z")])
    assert kinds(events) == ["task.invalid", "task.created"] and board.invalid() == []

    board.apply_batch([read("inbox/third.yaml", id="X")])
    [event] = board.apply_batch([FileGone("inbox/third.yaml")])
    assert isinstance(event, TaskInvalid) and event.invalid is None and board.invalid() == []


def test_invalid_then_valid() -> None:
    board = Board()
    [invalid] = board.apply_batch([broken("inbox/a.yaml")])
    assert isinstance(invalid, TaskInvalid) and invalid.invalid.error == "invalid YAML: oops"
    assert [i.path for i in board.invalid()] == ["inbox/a.yaml"] and len(board) == 0
    assert board.apply_batch([broken("inbox/a.yaml")]) == []  # the same error is reported once
    events = board.apply_batch([read("inbox/a.yaml", title="fixed")])
    assert kinds(events) == ["task.invalid", "task.created"]
    assert events[0].invalid is None and board.invalid() == [] and board.get("a").title == "fixed"


def test_valid_then_invalid_removes_the_task_and_lists_the_file() -> None:
    board = board_with(read("inbox/a.yaml"))
    events = board.apply_batch([broken("inbox/a.yaml")])
    assert kinds(events) == ["task.removed", "task.invalid"]
    assert board.get("a") is None and [i.path for i in board.invalid()] == ["inbox/a.yaml"]


def test_a_deleted_invalid_file_leaves_the_list_with_an_event() -> None:
    board = board_with(broken("inbox/a.yaml"))
    version = board.version
    [event] = board.apply_batch([FileGone("inbox/a.yaml")])
    assert isinstance(event, TaskInvalid) and event.invalid is None
    assert board.invalid() == [] and board.version > version


def test_rewriting_a_file_with_a_new_id_replaces_the_task() -> None:
    board = board_with(read("inbox/a.yaml", id="A"))
    events = board.apply_batch([read("inbox/a.yaml", id="B")])
    assert kinds(events) == ["task.removed", "task.created"]
    assert board.get("A") is None and board.get("B").path == "inbox/a.yaml"


def test_apply_scan_replaces_the_known_state() -> None:
    board = board_with(read("inbox/a.yaml"), read("inbox/b.yaml"), broken("inbox/c.yaml"))
    events = board.apply_scan([read("inbox/a.yaml"), read("assigned/bob/b.yaml")])
    assert sorted(kinds(events)) == ["task.assigned", "task.invalid"]
    assert board.invalid() == [] and board.get("b").lane_agent == "bob"


def test_queue_order_is_priority_then_creation_time() -> None:
    board = board_with(
        read("inbox/late-low.yaml", priority="low", created="2026-01-01"),
        read("inbox/late-high.yaml", priority="high", created="2026-03-01"),
        read("inbox/early-high.yaml", priority="high", created="2026-02-01"),
        read("inbox/urgent.yaml", priority="urgent", created="2026-05-01"),
        read("assigned/bob/elsewhere.yaml", priority="critical"),
    )
    assert [t.id for t in board.in_lane("inbox")] == ["urgent", "early-high", "late-high", "late-low"]
    assert sorted(board.tasks(), key=queue_order)[0].priority == "critical"


def test_lanes_stay_in_order_through_any_mix_of_changes() -> None:
    """The lanes are kept sorted as tasks come, go, move, conflict and break; after every batch
    each lane reads exactly as a full sort of the board would give it."""
    rng = random.Random(7)
    board = Board()
    lanes = ("inbox", "assigned/a", "assigned/b", "done/a", "dead")
    priorities = ("critical", "high", "medium", "low")
    for _ in range(300):
        batch: list[FileRead | FileGone] = []
        for _ in range(rng.choice((1, 2, 4, 40))):  # big batches: many arrivals sorted in at once
            n = rng.randint(0, 60)
            path = f"{rng.choice(lanes)}/t{n}.yaml"
            roll = rng.random()
            if roll < 0.25:
                batch.append(FileGone(path))
            elif roll < 0.3:
                batch.append(broken(path))
            else:
                fields: dict[str, object] = {"id": f"t{n}", "priority": rng.choice(priorities),
                                             "created": f"2026-11-{rng.randint(10, 28)}T09:00:00Z"}
                if path.startswith("done"):
                    fields["completed_at"] = f"2026-11-{rng.randint(10, 28)}T10:00:00Z"
                batch.append(read(path, **fields))
        board.apply_batch(batch)
        for lane in ("inbox", "assigned", "dead"):
            assert board.in_lane(lane) == tuple(sorted((t for t in board.tasks() if t.lane == lane),
                                                       key=queue_order))
        assert board.in_lane("done") == tuple(sorted((t for t in board.tasks() if t.lane == "done"),
                                                     key=completed_order, reverse=True))
