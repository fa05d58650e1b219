"""The board's lanes kept in order as tasks change, so a view never sorts the whole board again.

Each lane is a sorted list that takes a task in or out in O(log n); a lane's tuple (what a
``BoardView`` holds) is rebuilt only when that lane changed. Inbox, assigned and dead go in queue
order (priority, then oldest first, then id); done goes most recently completed first.
"""

from __future__ import annotations

from typing import Any

from sortedcontainers import SortedKeyList  # type: ignore[import-untyped]

from agentdeck.actors.messages import PRIORITIES, Task

PRIORITY_RANK = {name: rank for rank, name in enumerate(PRIORITIES)}
LANE_NAMES = ("inbox", "assigned", "done", "dead")


def queue_order(task: Task) -> tuple[int, str, str]:
    """Highest priority first, then oldest first (creation time, else file time), then id."""
    created = task.created or f"~{task.mtime:020.6f}"
    return PRIORITY_RANK.get(task.priority, 2), created, task.id


def completed_order(task: Task) -> tuple[Any, ...]:
    """Ascending; the done lane reads it backwards (most recently completed first)."""
    completed = task.fields.get("completed_at")
    return (str(completed) if completed else "", task.mtime, *queue_order(task))


class LaneIndex:
    def __init__(self) -> None:
        self._lanes = {lane: SortedKeyList(key=completed_order if lane == "done" else queue_order)
                       for lane in LANE_NAMES}
        self._placed: dict[str, Task] = {}  # task id -> the task as it sits in its lane
        self._tuples: dict[str, tuple[Task, ...]] = {}

    def put(self, task_id: str, task: Task | None) -> None:
        """Record where ``task_id`` is now (``None``: off the board)."""
        old = self._placed.get(task_id)
        if old is task:
            return
        if old is not None:
            self._lanes[old.lane].remove(old)
            self._tuples.pop(old.lane, None)
            del self._placed[task_id]
        if task is not None and task.lane in self._lanes:
            self._lanes[task.lane].add(task)
            self._tuples.pop(task.lane, None)
            self._placed[task_id] = task

    def put_many(self, placements: dict[str, Task | None]) -> None:
        """``put`` for each, with the tasks new to the board sorted into their lanes in one go
        (the start-up scan places every task at once)."""
        arrivals: dict[str, list[Task]] = {}
        for task_id, task in placements.items():
            if task is not None and task_id not in self._placed and task.lane in self._lanes:
                arrivals.setdefault(task.lane, []).append(task)
                self._placed[task_id] = task
            else:
                self.put(task_id, task)
        for lane, tasks in arrivals.items():
            self._lanes[lane].update(tasks)
            self._tuples.pop(lane, None)

    def lane(self, lane: str) -> tuple[Task, ...]:
        tasks = self._tuples.get(lane)
        if tasks is None:
            ordered = self._lanes[lane]
            tasks = tuple(reversed(ordered)) if lane == "done" else tuple(ordered)
            self._tuples[lane] = tasks
        return tasks
