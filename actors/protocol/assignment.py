"""What a ``task_assign`` carries, built from a task file, in the shapes the Elixir hub's sidecars read.

A sidecar reads its command and timeout from ``metadata`` (``metadata.shell_command``,
``metadata.timeout_ms``, default 60 s), the verification controls from the top level of the frame,
and ``assigned_at`` as integer milliseconds. Task files say these things in several ways (a
top-level ``shell_command``, ``timeout_seconds``, a nested ``metadata:`` mapping): this module maps
them onto the wire once, as pure functions of the file's fields.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from agentdeck.actors.numbers import instant_seconds
from agentdeck.actors.protocol import schema as protocol

# top-level fields of a task file that are folded into the metadata a sidecar gets
COMMAND_FIELDS = ("shell_command", "timeout_seconds", "timeout", "timeout_ms")
# sent at the top level of task_assign, with the Elixir hub's defaults
VERIFICATION_DEFAULTS: dict[str, Any] = {"skip_verification": False, "verification_timeout_ms": None,
                                         "max_verification_retries": 0}
# copied to the top level of task_assign when the task sets them
ENRICHMENT_FIELDS = ("title", "repo", "branch", "base_branch", "file_hints", "success_criteria",
                     "verification_steps")


def assign_metadata(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The task's ``metadata`` mapping, with top-level command fields folded in (nested wins), and
    the timeout in both units: ``timeout_ms`` for sidecars, ``timeout_seconds`` for our agent."""
    nested = fields.get("metadata")
    metadata = dict(nested) if isinstance(nested, Mapping) else {}
    for key in COMMAND_FIELDS:
        if metadata.get(key) is None and fields.get(key) is not None:
            metadata[key] = fields[key]
    seconds = _positive(metadata.get("timeout_seconds")) or _positive(metadata.get("timeout"))
    millis = _positive(metadata.get("timeout_ms"))
    if millis is None and seconds is not None:
        metadata["timeout_ms"] = math.ceil(seconds * 1000)
    elif millis is not None and seconds is None:
        metadata["timeout_seconds"] = millis / 1000
    return metadata


def _lookup(fields: Mapping[str, Any], key: str) -> Any:
    """A field at the top level of the task file, else inside its ``metadata`` mapping."""
    if fields.get(key) is not None:
        return fields[key]
    nested = fields.get("metadata")
    return nested.get(key) if isinstance(nested, Mapping) else None


def verification_controls(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``skip_verification`` (bool), ``verification_timeout_ms`` (positive int or None) and
    ``max_verification_retries`` (int >= 0); a value of the wrong type falls back to the default."""
    skip = _lookup(fields, "skip_verification")
    timeout = _positive(_lookup(fields, "verification_timeout_ms"))
    retries = _lookup(fields, "max_verification_retries")
    return {
        "skip_verification": skip if isinstance(skip, bool) else False,
        "verification_timeout_ms": int(timeout) if timeout is not None else None,
        "max_verification_retries": retries if isinstance(retries, int) and not isinstance(retries, bool)
        and retries >= 0 else 0,
    }


def epoch_ms(value: Any, default: float) -> int:
    """An ISO 8601 time from a task file as integer milliseconds since the epoch (UTC when naive);
    ``default`` (epoch seconds) when it is missing or unreadable."""
    seconds = instant_seconds(value if isinstance(value, dt.datetime) else str(value))
    return int((default if seconds is None else seconds) * 1000)


def task_assign_fields(fields: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Everything of ``task_assign`` that comes from the file besides id, routing and complexity."""
    extra: dict[str, Any] = dict(verification_controls(fields))
    for key in ENRICHMENT_FIELDS:
        value = _lookup(fields, key)
        if value is not None:
            extra[key] = value
    return {"metadata": assign_metadata(fields),
            "assigned_at": epoch_ms(fields.get("assigned_at"), now), "extra": extra}


def build(task_id: str, fields: Mapping[str, Any], *, description: str, generation: int,
          complexity: Mapping[str, Any], routing_decision: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The whole ``task_assign`` frame."""
    parts = task_assign_fields(fields, now)
    return protocol.task_assign(task_id, description=description, metadata=parts["metadata"],
                                generation=generation, assigned_at=parts["assigned_at"],
                                complexity=complexity, routing_decision=routing_decision,
                                extra=parts["extra"])


def _positive(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and value > 0:
        return float(value)
    return None
