"""JSON shapes of the dashboard snapshot's parts, built from messages (pure functions, no state).

Every time in the snapshot is epoch milliseconds (an int, what a browser's ``new Date(ms)`` takes),
except a dead task's ``created_at``, which is the task file's ``created`` text as written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from agentdeck.actors.messages import ExecutionResult, Task, TaskCompleted
from agentdeck.actors.numbers import bounded_number, instant_seconds
from agentdeck.actors.replies import StatsReply

META_FIELDS = ("model_used", "tokens_in", "tokens_out", "estimated_cost_usd",
               "equivalent_claude_cost_usd", "execution_ms")


def epoch_ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def iso_ms(text: Any) -> int | None:
    """An ISO 8601 timestamp as epoch ms (naive times are taken as UTC); None if unreadable."""
    seconds = instant_seconds(text if isinstance(text, dt.datetime) else str(text))
    return None if seconds is None else int(seconds * 1000)


def _number(value: Any) -> int | float | None:
    return bounded_number(value)


def execution_meta(result: ExecutionResult | Mapping[str, Any] | None) -> dict[str, Any]:
    """The execution metadata of an attempt, from the event's result or the result kept in the file."""
    if isinstance(result, ExecutionResult):
        return {name: getattr(result, name) for name in META_FIELDS}
    source = result if isinstance(result, Mapping) else {}
    meta: dict[str, Any] = {name: _number(source.get(name)) for name in META_FIELDS}
    model = source.get("model_used")
    meta["model_used"] = str(model) if model is not None else None
    return meta


def completion_entry(event: TaskCompleted) -> dict[str, Any]:
    task = event.task
    meta = execution_meta(event.result if event.result is not None else task.fields.get("result"))
    return _completion(task, event.agent_id or task.lane_agent, event.duration_ms, meta,
                       epoch_ms(event.at))


def completion_from_file(task: Task) -> dict[str, Any]:
    """A completion rebuilt from a task in done/ (after a restart, when no event is left to tell)."""
    meta = execution_meta(task.fields.get("result"))
    completed = iso_ms(task.fields.get("completed_at")) if task.fields.get("completed_at") else None
    return _completion(task, task.lane_agent, _file_duration_ms(task, meta), meta,
                       completed if completed is not None else epoch_ms(task.mtime))


def _file_duration_ms(task: Task, meta: Mapping[str, Any]) -> int | None:
    """Assignment to completion as the file records it, else the agent's own execution time."""
    assigned, completed = task.fields.get("assigned_at"), task.fields.get("completed_at")
    start = iso_ms(assigned) if assigned else None
    end = iso_ms(completed) if completed else None
    if start is not None and end is not None and end >= start:
        return end - start
    return meta.get("execution_ms")


def finished_attempts(tasks: Iterable[Task], since_ms: int) -> list[tuple[int, bool, int | None, int]]:
    """Attempts the task files record as done or failed at or after ``since_ms``, oldest first:
    ``(finished_ms, ok, duration_ms, tokens)``. Lets a restarted hub refill its sliding hour."""
    found = []
    for task in tasks:
        attempts = task.fields.get("attempts")
        for attempt in attempts if isinstance(attempts, list) else ():
            if not isinstance(attempt, Mapping) or attempt.get("outcome") not in ("done", "failed"):
                continue
            finished = iso_ms(attempt.get("finished_at")) if attempt.get("finished_at") else None
            if finished is None or finished < since_ms:
                continue
            if attempt["outcome"] == "done":
                meta = execution_meta(task.fields.get("result"))
                tokens = (meta.get("tokens_in") or 0) + (meta.get("tokens_out") or 0)
                found.append((finished, True, _file_duration_ms(task, meta), tokens))
            else:
                found.append((finished, False, None, 0))
    return sorted(found, key=lambda attempt: attempt[0])


def _completion(task: Task, agent_id: str | None, duration_ms: int | None, meta: dict[str, Any],
                completed_at: int | None) -> dict[str, Any]:
    tokens = (meta.get("tokens_in") or 0) + (meta.get("tokens_out") or 0)
    routing = task.fields.get("routing_decision")
    return {
        "task_id": task.id,
        "agent_id": agent_id,
        "title": task.title,
        "duration_ms": duration_ms,
        "tokens": tokens,
        "completed_at": completed_at,
        "routing_decision": dict(routing) if isinstance(routing, Mapping) else None,
        "execution_meta": meta,
    }


def tokens_of(result: ExecutionResult | None) -> int:
    return 0 if result is None else (result.tokens_in or 0) + (result.tokens_out or 0)


def dead_letter_entry(task: Task) -> dict[str, Any]:
    error = task.fields.get("last_error")
    return {
        "id": task.id,
        "title": task.title,
        "last_error": str(error) if error is not None else None,
        "retry_count": task.retry_count,
        "created_at": task.created,
    }


def agent_entry(agent_id: str, name: str, state: str, *, current_task_id: str | None = None,
                capabilities: tuple[str, ...] | list[str] = (), connected_at: int | None = None,
                last_state_change: int | None = None) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "name": name or agent_id,
        "state": state,
        "current_task_id": current_task_id,
        "capabilities": list(capabilities),
        "connected_at": connected_at,
        "last_state_change": last_state_change,
    }


def agent_from_listing(raw: Mapping[str, Any]) -> dict[str, Any]:
    """An agent as the queue lists it (``ListAgents``, wall-clock seconds) in the snapshot's shape."""
    return agent_entry(
        str(raw["agent_id"]), str(raw.get("name") or raw["agent_id"]), str(raw.get("state") or "offline"),
        current_task_id=raw.get("current_task_id"), capabilities=list(raw.get("capabilities") or ()),
        connected_at=epoch_ms(_number(raw.get("connected_at"))),
        last_state_change=epoch_ms(_number(raw.get("last_state_change"))))


def costs_json(stats: StatsReply | None, budget_daily: float | None,
               budget_monthly: float | None) -> dict[str, Any]:
    """``{today, month, total, budget}`` from telemetry's stats; None figures while it is unknown."""
    if stats is None:
        return {"today": None, "month": None, "total": None,
                "budget": {"daily": budget_daily, "monthly": budget_monthly}}
    return {"today": stats.today.cost_usd, "month": stats.month.cost_usd, "total": stats.all_time.cost_usd,
            "budget": dict(stats.budget)}
