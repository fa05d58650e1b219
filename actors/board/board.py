"""The in-memory board: every task by id and path, with the rules that turn file changes into events.

Pure data, no I/O: the queue actor owns one ``Board`` and feeds it what the watcher read. Applying
a batch returns the events it implies, so the same batch always gives the same events (tested
directly, without files).
"""

from __future__ import annotations

from collections.abc import Iterable

from agentdeck.actors.board.lanes import LaneIndex, queue_order
from agentdeck.actors.messages import (
    Event,
    FileGone,
    FileRead,
    InvalidTaskFile,
    Task,
    TaskAssigned,
    TaskCompleted,
    TaskConflict,
    TaskCreated,
    TaskInvalid,
    TaskMoved,
    TaskRemoved,
    TaskUpdated,
)

__all__ = ["Board", "queue_order"]


class Board:
    def __init__(self) -> None:
        self._by_path: dict[str, Task] = {}
        self._path_of: dict[str, str] = {}  # task id -> the path that owns it
        self._invalid: dict[str, InvalidTaskFile] = {}
        self._conflicts: dict[str, tuple[InvalidTaskFile, Task]] = {}  # path -> why it waits, and it
        self._lanes = LaneIndex()
        self.version = 0

    # ------------------------------------------------------------------ queries

    def get(self, task_id: str) -> Task | None:
        path = self._path_of.get(task_id)
        return self._by_path.get(path) if path is not None else None

    def tasks(self) -> Iterable[Task]:
        return (self._by_path[path] for path in self._path_of.values())

    def __len__(self) -> int:
        return len(self._path_of)

    def invalid(self) -> list[InvalidTaskFile]:
        waiting = [conflict for conflict, _ in self._conflicts.values()]
        return sorted([*self._invalid.values(), *waiting], key=lambda i: i.path)

    def shows(self, change: FileRead | FileGone) -> bool:
        """Whether the board already is as ``change`` says (the watcher's echo of a write the queue
        recorded with ``replace``): applying it would change nothing."""
        if change.path in self._invalid or change.path in self._conflicts:
            return False
        current = self._by_path.get(change.path)
        if isinstance(change, FileGone):
            return current is None
        return current is not None and current == change.task and self._path_of.get(current.id) == change.path

    def in_lane(self, lane: str) -> tuple[Task, ...]:
        """The lane in order (queue order; done: most recently completed first), kept sorted as
        tasks change rather than sorted on every look."""
        return self._lanes.lane(lane)

    # ------------------------------------------------------------------ changes

    def apply_scan(self, files: Iterable[FileRead]) -> list[Event]:
        """Replace what is known with a full scan, as one batch (so moves are still moves)."""
        files = list(files)
        seen = {f.path for f in files}
        known = set(self._by_path) | set(self._invalid) | set(self._conflicts)
        gone = [FileGone(path) for path in sorted(known - seen)]
        return self.apply_batch([*gone, *files])

    def apply_batch(self, changes: Iterable[FileRead | FileGone]) -> list[Event]:
        events: list[Event] = []
        latest: dict[str, FileRead | FileGone] = {}
        for change in changes:
            latest[change.path] = change
        gone = [c for c in latest.values() if isinstance(c, FileGone)]
        reads = [c for c in latest.values() if isinstance(c, FileRead)]

        departed: dict[str, Task] = {}
        for change in gone:
            was_invalid = self._invalid.pop(change.path, None) is not None
            was_conflict = self._conflicts.pop(change.path, None) is not None
            if was_invalid or was_conflict:
                events.append(TaskInvalid(path=change.path, invalid=None))
            task = self._by_path.pop(change.path, None)
            if task is not None and self._path_of.get(task.id) == change.path:
                del self._path_of[task.id]
                departed[change.path] = task

        for read in reads:
            if read.invalid is not None:
                events.extend(self._mark_invalid(read.invalid))
                continue
            assert read.task is not None
            events.extend(self._place(read.task, departed))

        for task in departed.values():
            events.append(TaskRemoved(task=task))
            events.extend(self._promote_conflict(task.id))
        self._sync_lanes(events)
        if events:
            self.version += 1
        return events

    def _sync_lanes(self, events: list[Event]) -> None:
        """Every task an event names is put where the board now has it (or taken off)."""
        placements: dict[str, Task | None] = {}
        for event in events:
            task = getattr(event, "task", None)
            if task is not None:
                placements[task.id] = self.get(task.id)
            previous = getattr(event, "previous", None)
            if previous is not None and previous.id != getattr(task, "id", None):
                placements[previous.id] = self.get(previous.id)
        self._lanes.put_many(placements)

    def _mark_invalid(self, invalid: InvalidTaskFile) -> list[Event]:
        events: list[Event] = []
        task = self._by_path.pop(invalid.path, None)
        if task is not None and self._path_of.get(task.id) == invalid.path:
            del self._path_of[task.id]
            events.append(TaskRemoved(task=task))
            events.extend(self._promote_conflict(task.id))
        self._conflicts.pop(invalid.path, None)
        if self._invalid.get(invalid.path) != invalid:
            self._invalid[invalid.path] = invalid
            events.append(TaskInvalid(path=invalid.path, invalid=invalid))
        return events

    def _place(self, task: Task, departed: dict[str, Task]) -> list[Event]:
        events: list[Event] = []
        if self._invalid.pop(task.path, None) is not None:
            events.append(TaskInvalid(path=task.path, invalid=None))
        current = self._by_path.get(task.path)
        if current is not None and current.id != task.id and self._path_of.get(current.id) == task.path:
            del self._path_of[current.id]
            del self._by_path[task.path]
            events.append(TaskRemoved(task=current))
            events.extend(self._promote_conflict(current.id))
            current = None
        if current is not None:
            if current != task:  # the same reading again keeps the object the board holds
                self._by_path[task.path] = task
                events.append(TaskUpdated(task=task, previous=current))
            return events

        owner = self._path_of.get(task.id)
        if owner is not None and owner != task.path:
            conflict = InvalidTaskFile(task.path, f"duplicate task id {task.id!r}: already in {owner}")
            self._by_path.pop(task.path, None)
            known = self._conflicts.get(task.path)
            self._conflicts[task.path] = (conflict, task)
            if known is None or known[0] != conflict:
                events.append(TaskConflict(task_id=task.id, paths=(owner, task.path)))
            return events

        if self._conflicts.pop(task.path, None) is not None:
            events.append(TaskInvalid(path=task.path, invalid=None))
        self._by_path[task.path] = task
        self._path_of[task.id] = task.path
        previous = self._match_departure(task, departed)
        if previous is None:
            events.append(TaskCreated(task=task))
        elif task.lane == "assigned" and (previous.lane, previous.lane_agent) != ("assigned", task.lane_agent):
            events.append(TaskAssigned(task=task, previous=previous, agent_id=task.lane_agent,
                                       generation=task.generation))
        elif task.lane == "done" and previous.lane != "done":
            events.append(TaskCompleted(task=task, previous=previous, agent_id=task.lane_agent))
        else:
            events.append(TaskMoved(task=task, previous=previous))
        return events

    @staticmethod
    def _match_departure(task: Task, departed: dict[str, Task]) -> Task | None:
        """The departed task this one is a move of: same id first, else same file name."""
        if not departed:
            return None
        for path, old in departed.items():
            if old.id == task.id:
                return departed.pop(path)
        name = task.path.rpartition("/")[2]
        for path in departed:
            if path.rpartition("/")[2] == name:
                return departed.pop(path)
        return None

    def _promote_conflict(self, task_id: str) -> list[Event]:
        """When the owner of an id goes away, a file that conflicted with it takes its place."""
        for path, (_, task) in sorted(self._conflicts.items()):
            if task.id == task_id:
                del self._conflicts[path]
                return [TaskInvalid(path=path, invalid=None), *self._place(task, {})]
        return []

    def replace(self, task: Task, previous_path: str | None = None) -> None:
        """Record a write the queue itself made, so the watcher's echo of it changes nothing."""
        if previous_path is not None and previous_path != task.path:
            self._by_path.pop(previous_path, None)
        self._by_path[task.path] = task
        self._path_of[task.id] = task.path
        self._lanes.put(task.id, task)
        self.version += 1
