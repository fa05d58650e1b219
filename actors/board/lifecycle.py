"""The task lifecycle as pure rules: where a task file goes next and what it says there.

Every transition keeps all the fields a person wrote and adds or updates only the lifecycle ones,
so a task file stays readable and its git history tells the story of each attempt.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from agentdeck.actors.messages import Task

MAX_KEPT_OUTPUT = 16 * 1024
# What an agent's result may put into its task file: a done file must stay under the reader's
# 1 MiB limit and its nesting limit, or the task would vanish from the board (issue 12 item 12).
MAX_KEPT_VALUE = 4 * 1024  # characters of any other result field
MAX_KEPT_FIELDS = 32
MAX_KEPT_DEPTH = 16


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _file_name(task: Task) -> str:
    return PurePosixPath(task.path).name


def _with(task: Task, **changes: Any) -> dict[str, Any]:
    fields = dict(task.fields)
    for key, value in changes.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return fields


def _attempts(task: Task) -> list[Any]:
    """The attempts recorded so far (a hand-edited file may hold anything there)."""
    attempts = task.fields.get("attempts")
    return list(attempts) if isinstance(attempts, list) else []


def _depth(value: Any) -> int:
    """How deeply lists and mappings nest in ``value`` (iterative: it may be 900 levels deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


def _kept_value(value: Any, limit: int) -> tuple[Any, bool]:
    """A result value as it may be kept: text cut to its last ``limit`` characters; lists and
    mappings too deep or too large kept as (cut) JSON text. Returns (value, was it cut)."""
    if isinstance(value, (Mapping, list)):
        if _depth(value) <= MAX_KEPT_DEPTH:
            text = json.dumps(value, ensure_ascii=False, default=str)
            if len(text) <= limit:
                return value, False
        else:
            text = json.dumps(value, ensure_ascii=False, default=str, check_circular=False) \
                if _depth(value) < 500 else repr(type(value).__name__) + " nested too deeply to keep"
        value = text
    if isinstance(value, str) and len(value) > limit:
        return value[-limit:], True
    return value, False


def kept_result(result: Mapping[str, Any] | None) -> dict[str, Any]:
    """An agent's result as its task file keeps it: bounded in fields, size and nesting."""
    kept: dict[str, Any] = {}
    cut = False
    for key, value in list((result or {}).items())[:MAX_KEPT_FIELDS]:
        kept[str(key)[:128]], was_cut = _kept_value(value, MAX_KEPT_OUTPUT if key == "output" else MAX_KEPT_VALUE)
        cut = cut or was_cut
    if cut or len(result or {}) > MAX_KEPT_FIELDS:
        kept["output_truncated"] = True
    return kept


def max_retries(task: Task, default: int) -> int:
    value = task.fields.get("max_retries")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def attempts_allowed(task: Task, default: int) -> int:
    """``max_retries: N`` allows N attempts in all (0 or 1: a single one), as on the Elixir hub:
    its retry count goes up on each lost attempt and the task is dead once it reaches the limit."""
    return max(1, max_retries(task, default))


def assign(task: Task, agent_id: str, routing_decision: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    fields = _with(task, status="assigned", assigned_at=now_iso(), generation=task.generation + 1,
                   routing_decision=dict(routing_decision))
    return f"assigned/{agent_id}/{_file_name(task)}", fields


def complete(task: Task, agent_id: str, result: Mapping[str, Any] | None,
             verification: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """Done; ``verification`` (``verification_status``, ``verification_report``,
    ``verification_history``) is kept at the top level of the file, where people look."""
    kept = kept_result(result)
    attempts = _attempts(task)
    attempt = {"generation": task.generation, "agent": agent_id, "outcome": "done",
               "finished_at": now_iso()}
    if verification and verification.get("verification_status"):
        attempt["verification"] = verification["verification_status"]
    attempts.append(attempt)
    changes = {key: (verification or {}).get(key) for key in VERIFICATION_KEYS}
    fields = _with(task, status="done", completed_at=now_iso(), result=kept or None,
                   attempts=attempts, **changes)
    return f"done/{agent_id}/{_file_name(task)}", fields


VERIFICATION_KEYS = ("verification_status", "verification_report", "verification_history")


def fail(task: Task, agent_id: str | None, error: str, default_max_retries: int,
         result: Mapping[str, Any] | None = None, retry_delay: float = 0.0,
         cost_usd: float | None = None) -> tuple[str, dict[str, Any], str]:
    """Back to the inbox for another attempt (not before ``retry_delay`` seconds: ``retry_after``),
    or into the dead letter once attempts run out. ``cost_usd``: what the attempt spent, if known."""
    retries = task.retry_count + 1
    attempts = _attempts(task)
    attempt: dict[str, Any] = {"generation": task.generation, "agent": agent_id, "outcome": "failed",
                               "error": error[:2000], "finished_at": now_iso()}
    if cost_usd is not None:
        attempt["cost_usd"] = round(cost_usd, 6)
    attempts.append(attempt)
    output = (result or {}).get("output")
    last_output = output[-MAX_KEPT_OUTPUT:] if isinstance(output, str) and output else None
    if retries >= attempts_allowed(task, default_max_retries):
        fields = _with(task, status="dead", retry_count=retries, last_error=error[:2000],
                       last_output=last_output, attempts=attempts, failed_at=now_iso())
        return f"dead/{_file_name(task)}", fields, "dead_letter"
    after = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=retry_delay)).isoformat(timespec="milliseconds") \
        if retry_delay > 0 else None
    fields = _with(task, status="queued", retry_count=retries, last_error=error[:2000],
                   last_output=last_output, attempts=attempts, retry_after=after)
    return f"inbox/{_file_name(task)}", fields, "retried"


def reclaim(task: Task, reason: str, default_max_retries: int,
            count_retry: bool = True) -> tuple[str, dict[str, Any], str]:
    """Taken back from an agent that lost it: a new generation, so the old agent's late reports
    are stale, and (``count_retry``) a retry counted, so a task that keeps losing its agent ends in
    the dead letter."""
    retries = task.retry_count + 1 if count_retry else task.retry_count
    attempts = _attempts(task)
    attempts.append({"generation": task.generation, "agent": task.lane_agent, "outcome": "reclaimed",
                     "reason": reason, "finished_at": now_iso()})
    if count_retry and retries >= attempts_allowed(task, default_max_retries):
        error = f"lost its agent {retries} times; last: {reason}"
        fields = _with(task, status="dead", generation=task.generation + 1, retry_count=retries,
                       reclaimed_reason=reason, last_error=error, attempts=attempts,
                       failed_at=now_iso())
        return f"dead/{_file_name(task)}", fields, "dead_letter"
    fields = _with(task, status="queued", generation=task.generation + 1, retry_count=retries or None,
                   reclaimed_reason=reason, attempts=attempts)
    return f"inbox/{_file_name(task)}", fields, "retried"


def requeue(task: Task) -> tuple[str, dict[str, Any]]:
    fields = _with(task, status="queued", retry_count=0, requeued_at=now_iso(), retry_after=None)
    return f"inbox/{_file_name(task)}", fields


def cancel(task: Task, reason: str) -> tuple[str, dict[str, Any]]:
    fields = _with(task, status="dead", last_error=reason, generation=task.generation + 1,
                   failed_at=now_iso())
    return f"dead/{_file_name(task)}", fields


def back_to_inbox(task: Task) -> tuple[str, dict[str, Any]]:
    """An agent said it is busy: the task returns at once, with no retry counted."""
    fields = _with(task, status="queued", generation=task.generation + 1)
    return f"inbox/{_file_name(task)}", fields
