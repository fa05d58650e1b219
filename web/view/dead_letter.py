"""The dead letter grouped by error: one group per error message (numbers and ids folded, so "timeout
after 31 s" and "after 58 s" group together), with its count and the money its failed attempts
spent. Pure functions; the lane shows the groups and Retry takes a whole group at once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from agentdeck.actors.messages import Task
from agentdeck.actors.numbers import bounded_number

_VARIABLE = re.compile(r"0x[0-9a-f]+|[0-9a-f]{8,}|\d+(?:\.\d+)?", re.I)
MAX_SIGNATURE = 160


def error_signature(error: Any) -> str:
    """The part of an error message that says what went wrong, without the numbers that vary."""
    text = str(error or "").strip().splitlines()[0] if str(error or "").strip() else ""
    return _VARIABLE.sub("#", text)[:MAX_SIGNATURE] or "no error recorded"


def group_key(signature: str) -> str:
    return hashlib.sha1(signature.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def spent(task: Task) -> float | None:
    """What the task's failed attempts cost, as their records say (None when none says)."""
    costs = (bounded_number(a.get("cost_usd")) for a in task.attempt_records)
    known = [float(c) for c in costs if c is not None]
    return sum(known) if known else None


def dead_groups(tasks: Iterable[Task]) -> list[dict[str, Any]]:
    """Groups of dead tasks by error signature, the biggest first: {key, error, tasks, cost}."""
    groups: dict[str, dict[str, Any]] = {}
    for task in tasks:
        signature = error_signature(task.fields.get("last_error"))
        group = groups.setdefault(signature, {"key": group_key(signature), "error": signature,
                                              "tasks": [], "cost": None})
        group["tasks"].append(task)
        cost = spent(task)
        if cost is not None:
            group["cost"] = (group["cost"] or 0.0) + cost
    return sorted(groups.values(), key=lambda g: (-len(g["tasks"]), g["error"]))
