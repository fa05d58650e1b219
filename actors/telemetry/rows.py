"""What becomes an invocation row: a finished attempt seen live on the bus, or read back from a task file.

Both paths live here because they must agree on the row's key, ``(task_id, generation, status)``,
which the store's unique index uses to count every attempt once. The hub writes rows from bus events
a moment after the task file is written, so a ``kill -9`` in between loses the row but not the file;
at start-up the telemetry actor rebuilds the rows the database lacks from the board. Pricing a row
costs far more than probing the index for its key, so the board is read as keys, each with the
function that builds its row (``attempts_on_board``): only the missing ones are built.

The keys match because the coordinator publishes each event with the task as written:
- a completion is ``TaskCompleted(task=<the done file>)``: key ``(id, generation, result.status or
  "success")``; the done file keeps ``generation``, the agent's ``result`` (its ``status`` included)
  and an ``attempts`` entry ``outcome: done`` for that generation;
- a failed attempt is ``TaskRetried`` / ``TaskDeadLettered`` with the moved file, whose generation is
  the attempt's (failing does not bump it): key ``(id, generation, "error")``, and the file gains an
  ``attempts`` entry ``outcome: failed`` with that generation;
- a cancel is ``TaskDeadLettered`` with the dead file (generation already bumped, no attempts entry):
  key ``(id, generation, "error")`` of the dead file, which carries ``failed_at``.
Reclaims and rejections are not invocations on either path. Files moved by hand carry none of these
marks (the board reports them without a result), so they get no row on either path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, tzinfo
from functools import partial
from typing import Any

from agentdeck.actors.messages import (
    BoardView,
    Event,
    ExecutionResult,
    Task,
    TaskCompleted,
    TaskDeadLettered,
    TaskRetried,
)
from agentdeck.actors.numbers import bounded_number, instant_seconds
from agentdeck.actors.telemetry.backend import Invocation
from agentdeck.actors.telemetry.pricing import price_invocation

RECORDED = (TaskCompleted, TaskRetried, TaskDeadLettered)  # the events a row comes from


def invocation_for(event: Event, tz: tzinfo | None = None) -> Invocation | None:
    """The row a finished attempt becomes; None for events that are not one."""
    if isinstance(event, TaskCompleted):
        if event.result is None:
            return None
        result, status = event.result, event.result.status or "success"
        latency = result.execution_ms if result.execution_ms is not None else event.duration_ms
    elif isinstance(event, (TaskRetried, TaskDeadLettered)):
        result = event.result or ExecutionResult(status="error", error=event.error)
        status, latency = "error", result.execution_ms
    else:
        return None
    return _row(result, status, latency, datetime.fromtimestamp(event.at, UTC),
                event.agent_id or event.task.agent, event.task, event.task.generation, tz)


Key = tuple[str, int, str]  # (task_id, generation, status): the store's unique completion key
RowBuilder = Callable[[], Invocation]


def attempts_on_board(view: BoardView, tz: tzinfo | None = None) -> dict[Key, RowBuilder]:
    """The key of every row the hub wrote (or should have written) for the attempts the task files
    record, each with the function that builds that row."""
    found: dict[Key, RowBuilder] = {}
    for task in (*view.inbox, *view.assigned, *view.done, *view.dead):
        for attempt in _attempts(task):
            generation = _int(attempt.get("generation"))
            if attempt.get("outcome") == "failed" and generation is not None:
                found.setdefault((task.id, generation, "error"),
                                 partial(_failed_attempt, task, attempt, generation, tz))
        stored = task.fields.get("result")
        if task.lane == "done" and isinstance(stored, Mapping) and any(
                attempt.get("outcome") == "done" and attempt.get("generation") == task.generation
                for attempt in _attempts(task)):
            found.setdefault((task.id, task.generation, str(stored.get("status") or "success")),
                             partial(_completion, task, stored, tz))
        elif task.lane == "dead" and task.fields.get("failed_at") is not None:
            found.setdefault((task.id, task.generation, "error"), partial(_cancel, task, tz))
    return found


def _completion(task: Task, stored: Mapping[str, Any], tz: tzinfo | None) -> Invocation:
    result = ExecutionResult(
        status=str(stored.get("status") or "success"), model_used=_text(stored.get("model_used")),
        tokens_in=_int(stored.get("tokens_in")) or 0, tokens_out=_int(stored.get("tokens_out")) or 0,
        estimated_cost_usd=_float(stored.get("estimated_cost_usd")),
        equivalent_claude_cost_usd=_float(stored.get("equivalent_claude_cost_usd")),
        execution_ms=_int(stored.get("execution_ms")) or None, priced=stored.get("priced") is not False)
    return _row(result, result.status, result.execution_ms, _instant(task.fields.get("completed_at"), task),
                task.lane_agent or task.agent, task, task.generation, tz)


def _failed_attempt(task: Task, attempt: Mapping[str, Any], generation: int, tz: tzinfo | None
                    ) -> Invocation:
    return _row(ExecutionResult(status="error", error=_text(attempt.get("error"))), "error", None,
                _instant(attempt.get("finished_at"), task), _text(attempt.get("agent")) or task.agent,
                task, generation, tz)


def _cancel(task: Task, tz: tzinfo | None) -> Invocation:
    """A dead file with ``failed_at`` and no failed attempt of its generation: cancelled."""
    return _row(ExecutionResult(status="error"), "error", None, _instant(task.fields.get("failed_at"), task),
                task.lane_agent or task.agent, task, task.generation, tz)


def _row(result: ExecutionResult, status: str, latency: int | None, at: datetime, agent: str | None,
         task: Task, generation: int | None, tz: tzinfo | None) -> Invocation:
    cost, priced, equivalent = _price(result)
    return Invocation(
        timestamp=at.astimezone(tz), model=result.model_used, tokens_in=max(result.tokens_in, 0),
        tokens_out=max(result.tokens_out, 0), cost=cost, latency_ms=latency, status=status,
        agent=agent, task_id=task.id, generation=generation, equivalent_claude_cost=equivalent,
        priced=priced)


def _price(result: ExecutionResult) -> tuple[float | None, bool, float | None]:
    """(cost, priced, equivalent Claude cost): the agent's own figures first, else genai-prices."""
    if not result.priced:
        return None, False, None
    price = price_invocation(result.model_used, result.tokens_in, result.tokens_out)
    equivalent = (result.equivalent_claude_cost_usd if result.equivalent_claude_cost_usd is not None
                  else price.equivalent_claude_cost_usd)
    if result.estimated_cost_usd is not None:
        return result.estimated_cost_usd, True, equivalent
    return price.cost_usd, price.priced, equivalent


def _attempts(task: Task) -> list[Mapping[str, Any]]:
    return task.attempt_records


def _instant(value: Any, task: Task) -> datetime:
    """A time written in a task file; the file's mtime when it is missing or unreadable."""
    seconds = instant_seconds(value if isinstance(value, datetime) else str(value))
    if seconds is None:
        seconds = instant_seconds(task.mtime) or 0.0
    return datetime.fromtimestamp(seconds, UTC)


def _int(value: Any) -> int | None:
    number = bounded_number(value)
    return number if isinstance(number, int) else None


def _float(value: Any) -> float | None:
    number = bounded_number(value)
    return None if number is None else float(number)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
