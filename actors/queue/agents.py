"""Agents as the queue sees them: a small state machine per agent, and who gets which task.

States: offline -> idle -> assigned (task sent) -> working (accepted or reporting) -> idle ...
An agent that drops keeps its task for the reconnect grace; ``deadline`` says until when.
Pure data and rules: the queue actor owns the table and does all I/O.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import attrs
import trio

from agentdeck.actors.board.board import Board
from agentdeck.actors.messages import Task
from agentdeck.actors.queue.routing import can_run_task
from agentdeck.actors.queue.waiting import AgentSeen, in_backoff, needed_capabilities

STATES = ("offline", "idle", "assigned", "working")


@attrs.define
class AgentRecord:
    agent_id: str
    name: str = ""
    state: str = "offline"
    capabilities: tuple[str, ...] = ()
    ollama_url: str | None = None
    executors: tuple[str, ...] | None = None  # None: not declared (routed as before executors)
    connection_id: int | None = None
    outbox: trio.MemorySendChannel | None = None
    task_id: str | None = None
    connected_at: float | None = None  # wall clock, for people
    last_state_change: float = attrs.field(factory=time.time)
    last_seen: float = attrs.field(factory=time.time)
    # trio clock deadlines, so tests can drive them with autojump_clock
    deadline: float | None = None  # accept timeout, stuck timeout or reconnect grace
    deadline_reason: str = ""
    available_at: float = 0.0  # after a busy rejection, wait a moment before offering again
    assigned_on: int | None = None  # connection its current task was sent on
    proven: tuple[str, int] | None = None  # (task, generation) a state_report showed running here
    resources: dict[str, Any] = attrs.field(factory=dict)

    @property
    def connected(self) -> bool:
        return self.connection_id is not None

    def json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "name": self.name or self.agent_id,
            "state": self.state,
            "current_task_id": self.task_id,
            "capabilities": list(self.capabilities),
            "ollama_url": self.ollama_url,
            "executors": list(self.executors) if self.executors is not None else None,
            "connected_at": self.connected_at,
            "last_state_change": self.last_state_change,
            "last_seen": self.last_seen,
            "resources": dict(self.resources),
        }


def is_ready(task: Task, board: Board) -> bool:
    """All of a task's dependencies are done."""
    for dependency in task.dependencies:
        done = board.get(dependency)
        if done is None or done.lane != "done":
            return False
    return True


def fits(task: Task, agent: AgentRecord) -> bool:
    """The agent may take the task: named agent (if any), needed capabilities, an executor for it."""
    if task.agent and task.agent != agent.agent_id:
        return False
    if not all(cap in agent.capabilities for cap in needed_capabilities(task)):
        return False
    return can_run_task(task.fields, agent.capabilities, agent.ollama_url, agent.executors)


def pick_task(inbox: Iterable[Task], agent: AgentRecord, board: Board,
              taken: set[str], now: float | None = None) -> Task | None:
    """The first task in queue order (priority, then age) this agent may take now: not waiting
    out a retry backoff (``now`` is the wall clock), its dependencies done, fitting the agent."""
    now = time.time() if now is None else now
    for task in inbox:
        if task.id in taken:
            continue
        try:
            if not in_backoff(task, now) and fits(task, agent) and is_ready(task, board):
                return task
        except (TypeError, ValueError, AttributeError, OverflowError):
            continue  # a field of an unexpected type: this task waits, the others are not held up
    return None


def seen(agent: AgentRecord) -> AgentSeen:
    return AgentSeen(agent.agent_id, agent.connected, agent.capabilities, agent.ollama_url, agent.executors)
