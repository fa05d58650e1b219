"""Frozen answers that actors hand to the web layer: one class per answer, one spelling per field.

Requests live in ``messages.py``; what comes back across the layer is defined here, so a renamed
field is a type error in the reader, not a panel that quietly shows "No data yet".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from agentdeck.actors.supervisor import ActorStatus

POLLING_FORCED = "forced by configuration"  # the watcher's reason when --poll asked for polling


@attrs.frozen
class WatcherStatus:
    """How the board is watched: ``native`` notifications or ``polling`` (and why)."""

    mode: str
    reason: str = ""


@attrs.frozen
class StatusSources:
    """What the dashboard may read of the hub's other parts: read-only callables, never the objects.

    ``actors`` is the supervisor's view (restarts, last error, recent crashes), ``watcher`` how the
    board is watched, ``telemetry`` and ``broker`` their own short status for ``/health``.
    """

    actors: Callable[[], Sequence[ActorStatus]]
    watcher: Callable[[], WatcherStatus]
    telemetry: Callable[[], Mapping[str, Any]] = dict
    broker: Callable[[], Mapping[str, Any] | None] = lambda: None


@attrs.frozen
class HealthReport:
    """``GET /health``: the dashboard's own status and conditions, and what each part says of itself."""

    status: str  # "ok" | "warning" | "critical": the same as the dashboard snapshot's health
    conditions: tuple[str, ...]
    uptime_s: float
    started_at: float
    actors: tuple[ActorStatus, ...]
    watcher: WatcherStatus
    telemetry: Mapping[str, Any]
    broker: Mapping[str, Any] | None

    def json(self) -> dict[str, Any]:
        return attrs.asdict(self)
