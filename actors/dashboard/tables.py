"""The dashboard state actor's two tables: the board tally and the agent roster (pure data, no I/O).

Both are kept up to date one event at a time (constant work per event) and can be reset wholesale
from the queue's answers after a start or a ``Resync``. ``now`` is always a trio clock reading.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from agentdeck.actors.dashboard.views import agent_entry, agent_from_listing, dead_letter_entry, epoch_ms
from agentdeck.actors.messages import LANES, PRIORITIES, BoardView, Task


class BoardTally:
    """Tasks by lane and queued tasks by priority, the dead letters, unreadable files, and when each
    assigned task last showed a sign of life (for the stuck-task rule)."""

    def __init__(self) -> None:
        self._tasks: dict[str, tuple[str, str]] = {}  # id -> (lane, priority)
        self._lanes: Counter[str] = Counter()
        self._queued_by_priority: Counter[str] = Counter()
        self.dead: dict[str, Task] = {}
        self.activity: dict[str, float] = {}
        self.invalid: set[str] = set()

    def reset(self, view: BoardView, now: float) -> None:
        previous = self.activity
        self._tasks, self.dead, self.activity = {}, {}, {}
        self._lanes, self._queued_by_priority = Counter(), Counter()
        for task in (*view.inbox, *view.assigned, *view.done, *view.dead):
            self.upsert(task, now)
        self.activity = {task_id: previous.get(task_id, seen) for task_id, seen in self.activity.items()}
        self.invalid = {invalid.path for invalid in view.invalid}

    @property
    def queued(self) -> int:
        return self._lanes["inbox"]

    def upsert(self, task: Task, now: float) -> bool:
        """Record where a task is now; True when the counts or the dead letters changed."""
        old = self._tasks.get(task.id)
        new = (task.lane, task.priority)
        if task.lane == "assigned":
            self.activity.setdefault(task.id, now)
        else:
            self.activity.pop(task.id, None)
        if task.lane == "dead":
            self.dead[task.id] = task
        elif old is not None and old[0] == "dead":
            self.dead.pop(task.id, None)
        if old == new:
            return task.lane == "dead"
        if old is not None:
            self._count(old, -1)
        self._tasks[task.id] = new
        self._count(new, +1)
        return True

    def remove(self, task_id: str) -> bool:
        old = self._tasks.pop(task_id, None)
        self.activity.pop(task_id, None)
        self.dead.pop(task_id, None)
        if old is not None:
            self._count(old, -1)
        return old is not None

    def alive(self, task_id: str, now: float) -> None:
        """An assigned task showed progress (or was just assigned)."""
        if task_id in self.activity or self._tasks.get(task_id, ("",))[0] == "assigned":
            self.activity[task_id] = now

    def _count(self, entry: tuple[str, str], sign: int) -> None:
        lane, priority = entry
        self._lanes[lane] += sign
        if lane == "inbox":
            self._queued_by_priority[priority] += sign

    def queue_json(self) -> dict[str, Any]:
        return {
            "by_status": {lane: self._lanes[lane] for lane in LANES},
            "by_priority": {priority: self._queued_by_priority[priority] for priority in PRIORITIES},
            "dead_letter": self._lanes["dead"],
        }

    def dead_letter_json(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` dead letters (by when they failed, then id)."""
        newest = sorted(self.dead.values(), key=lambda t: (str(t.fields.get("failed_at") or ""), t.id),
                        reverse=True)
        return [dead_letter_entry(task) for task in newest[:limit]]


class AgentRoster:
    """Connected agents, and agents that went offline recently (kept, shown as offline, for a while)."""

    def __init__(self) -> None:
        self._agents: dict[str, dict[str, Any]] = {}  # entries are replaced, never changed in place
        self.offline_since: dict[str, float] = {}

    def reset(self, listing: Iterable[Mapping[str, Any]], now: float, wall: float, window: float) -> None:
        """From the queue's ``ListAgents`` answer (wall-clock seconds); long-gone agents are left out."""
        self._agents, self.offline_since = {}, {}
        for raw in listing:
            entry = agent_from_listing(raw)
            if entry["state"] == "offline" and raw.get("connected_at") is not None:
                # (an agent known only from its task files never went offline while we watched)
                since = raw.get("last_state_change") or 0
                if wall - since > window:
                    continue
                self.offline_since[entry["agent_id"]] = now - (wall - since)
            self._agents[entry["agent_id"]] = entry

    def joined(self, agent_id: str, name: str, capabilities: Iterable[str], at: float) -> None:
        ms = epoch_ms(at)
        self._agents[agent_id] = agent_entry(agent_id, name, "idle", capabilities=tuple(capabilities),
                                             connected_at=ms, last_state_change=ms)
        self.offline_since.pop(agent_id, None)

    def set_state(self, agent_id: str, state: str, task_id: str | None, at: float, now: float) -> None:
        known = self._agents.get(agent_id) or agent_entry(agent_id, agent_id, state)
        self._agents[agent_id] = {**known, "state": state, "current_task_id": task_id,
                                  "last_state_change": epoch_ms(at)}
        if state == "offline":
            self.offline_since.setdefault(agent_id, now)
        else:
            self.offline_since.pop(agent_id, None)

    def release(self, task_id: str) -> bool:
        """No agent holds ``task_id`` any more (an offline agent must not show it); True if one did."""
        holders = [a for a, entry in self._agents.items() if entry.get("current_task_id") == task_id]
        for agent_id in holders:
            self._agents[agent_id] = {**self._agents[agent_id], "current_task_id": None}
        return bool(holders)

    def prune(self, now: float, window: float) -> bool:
        """Forget agents offline for longer than ``window``; True when any went."""
        gone = [agent_id for agent_id, since in self.offline_since.items() if now - since > window]
        for agent_id in gone:
            del self.offline_since[agent_id]
            self._agents.pop(agent_id, None)
        return bool(gone)

    def json(self) -> list[dict[str, Any]]:
        return [self._agents[agent_id] for agent_id in sorted(self._agents)]
