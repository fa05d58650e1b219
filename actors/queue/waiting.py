"""Why a task in the inbox is not running: the scheduler's own rules, turned into words.

``why_waiting`` walks the same checks ``pick_task`` makes (retry backoff, dependencies, the named
agent, capabilities) in the order the scheduler applies them, and names the first that holds the
task back, with the task ids it refers to so a page can link them. Pure: the queue actor answers
``WhyWaiting`` queries with it, and the dashboard shows the result on cards and in the panel.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from agentdeck.actors.board.board import Board
from agentdeck.actors.messages import Task
from agentdeck.actors.numbers import instant_seconds
from agentdeck.actors.queue.routing import can_run_task, complexity_of, executor_of, shell_command_of

MAX_NAMED_DEPENDENCIES = 20  # linked from a waiting card or panel; the text counts the rest
CODES = ("backoff", "blocked", "agent_offline", "no_capability", "no_agents", "queued")


@attrs.frozen
class WaitReason:
    """``code`` (one of ``CODES``), a sentence for people, the tasks it names, and until when."""

    code: str
    text: str
    task_ids: tuple[str, ...] = ()
    until: float | None = None

    def json(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text, "task_ids": list(self.task_ids), "until": self.until}


def retry_after(task: Task) -> float | None:
    """When a failed task may run again (its ``retry_after`` field), as epoch seconds."""
    value = task.fields.get("retry_after")
    return instant_seconds(str(value)) if value else None


def backoff_delay(failures: int, base: float, cap: float) -> float:
    """Seconds a task waits before attempt ``failures + 1``: ``base``, doubling, at most ``cap``."""
    if base <= 0 or failures <= 0:
        return 0.0
    return min(cap, base * 2 ** min(failures - 1, 30))


def in_backoff(task: Task, now: float) -> bool:
    until = retry_after(task)
    return until is not None and until > now


def needed_capabilities(task: Task) -> tuple[str, ...]:
    needed = task.fields.get("needed_capabilities") or []
    if isinstance(needed, str):
        needed = [needed]
    return tuple(str(cap) for cap in needed) if isinstance(needed, (list, tuple)) else ()


@attrs.frozen
class AgentSeen:
    """What the rules need of an agent: who, connected or not, with which capabilities."""

    agent_id: str
    connected: bool
    capabilities: tuple[str, ...]
    ollama_url: str | None = None
    executors: tuple[str, ...] | None = None


def _blocked(task: Task, board: Board) -> WaitReason | None:
    waiting_on = []
    for dependency in task.dependencies:
        found = board.get(dependency)
        if found is None:
            waiting_on.append((dependency, "not on the board"))
        elif found.lane != "done":
            waiting_on.append((dependency, found.lane))
    if not waiting_on:
        return None
    first, lane = waiting_on[0]
    more = f" and {len(waiting_on) - 1} more" if len(waiting_on) > 1 else ""
    return WaitReason("blocked", f"blocked by dependency {first} ({lane}){more}",
                      tuple(d for d, _ in waiting_on[:MAX_NAMED_DEPENDENCIES]))


def _no_executor(task: Task, connected: list[AgentSeen]) -> WaitReason | None:
    """No connected agent has an executor for the task: "no agent can run claude"."""
    if any(can_run_task(task.fields, a.capabilities, a.ollama_url, a.executors) for a in connected):
        return None
    named = executor_of(task.fields)
    if named == "shell" and shell_command_of(task.fields) is None:
        return WaitReason("no_capability", "executor shell, but the task has no shell_command")
    if named is not None:
        return WaitReason("no_capability", f"no agent can run {named}")
    tier = complexity_of(task.fields)["effective_tier"]
    options = {"complex": "claude or codex", "standard": "ollama, claude or codex"}.get(tier, "a shell")
    return WaitReason("no_capability", f"no agent can run this {tier} task (needs {options})")


def why_waiting(task: Task, agents: Iterable[AgentSeen], board: Board, now: float) -> WaitReason:
    """The first of the scheduler's rules that keeps ``task`` from being handed out now."""
    until = retry_after(task)
    if until is not None and until > now:
        return WaitReason("backoff", f"retry backoff after failure {task.retry_count}", until=until)
    blocked = _blocked(task, board)
    if blocked is not None:
        return blocked
    connected = [a for a in agents if a.connected]
    if task.agent:
        named = next((a for a in connected if a.agent_id == task.agent), None)
        if named is None:
            return WaitReason("agent_offline", f"assigned to agent {task.agent}, which is offline")
        connected = [named]
    needed = needed_capabilities(task)
    if needed and connected:
        able = [a for a in connected if all(cap in a.capabilities for cap in needed)]
        if not able:
            held = {cap for a in connected for cap in a.capabilities}
            missing = [cap for cap in needed if cap not in held]
            text = (f"no connected agent has capability {', '.join(missing)}" if missing else
                    f"no connected agent has all of {', '.join(needed)}")
            return WaitReason("no_capability", text)
        connected = able
    if not connected:
        text = "no agent is connected" + (f" (needs {', '.join(needed)})" if needed else "")
        return WaitReason("no_agents", text)
    unable = _no_executor(task, connected)
    if unable is not None:
        return unable
    count = len(connected)
    return WaitReason("queued", f"waiting for a free agent ({count} connected agent"
                      f"{'s' if count != 1 else ''} can take it)")
