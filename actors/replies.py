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


@attrs.frozen
class Spend:
    """What was spent in one period (today, this month, all time) or on one day of the trend."""

    cost_usd: float
    tokens: int
    invocations: int
    unpriced: int  # invocations whose cost is unknown (never counted as $0.00)

    @classmethod
    def of(cls, figures: Mapping[str, Any]) -> Spend:
        return cls(float(figures["cost_usd"]), int(figures["tokens"]), int(figures["invocations"]),
                   int(figures["unpriced"]))


@attrs.frozen
class ModelSpend:
    model: str | None  # None: work done without a model (a shell command)
    spend: Spend
    local: bool  # a local model (Ollama): free here, with what Claude would have cost saved

    @classmethod
    def of(cls, figures: Mapping[str, Any]) -> ModelSpend:
        return cls(figures["model"], Spend.of(figures), bool(figures["local"]))


@attrs.frozen
class DaySpend:
    date: str  # ISO date in the server's time zone
    spend: Spend


@attrs.frozen
class Latency:
    avg_ms: float | None
    p95_ms: float | None
    samples: int


@attrs.frozen
class StatsReply:
    """``GetStats``: telemetry's figures, typed for the code that reads them.

    ``figures`` is the JSON answer of ``GET /api/stats`` exactly as telemetry built it (the API's
    documented shape); the typed fields are read from it once, here, by its one spelling, so a
    renamed key fails loudly in ``of`` instead of turning a panel into "No data yet".
    """

    today_date: str
    today: Spend
    month: Spend
    all_time: Spend
    by_model: tuple[ModelSpend, ...]
    daily_trend: tuple[DaySpend, ...]
    latency: Latency
    success_rate: float | None
    saved_by_local_usd: float
    budget: Mapping[str, Mapping[str, Any] | None]
    source: Mapping[str, Any]
    figures: Mapping[str, Any] = attrs.field(repr=False)

    @classmethod
    def of(cls, figures: Mapping[str, Any]) -> StatsReply:
        latency = figures["latency_ms"]
        return cls(
            today_date=str(figures["timezone"]["today"]),
            today=Spend.of(figures["today"]), month=Spend.of(figures["month"]),
            all_time=Spend.of(figures["all_time"]),
            by_model=tuple(ModelSpend.of(row) for row in figures["by_model"]),
            daily_trend=tuple(DaySpend(str(row["date"]), Spend.of(row)) for row in figures["daily_trend"]),
            latency=Latency(latency["avg"], latency["p95"], int(latency["samples"])),
            success_rate=figures["success_rate"], saved_by_local_usd=float(figures["saved_by_local_usd"]),
            budget=figures["budget"], source=figures.get("source", {}), figures=figures)

    def json(self) -> dict[str, Any]:
        return dict(self.figures)
