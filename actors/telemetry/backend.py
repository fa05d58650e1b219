"""The seam between the telemetry actor and a database: one row type and the store interface.

The actor calls a store only from a worker thread, one call at a time, so implementations may block
and need not be thread-safe. Two implementations exist: ``store.TelemetryStore`` (SQLite, the
embedded default, one file per hub) and ``postgres.PostgresTelemetryStore`` (one database shared by a
fleet of hubs, each row tagged with its hub). A store folds the rows it has not seen yet into an
``Aggregator``, so answering for the figures never scans the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

import attrs

from agentdeck.actors.telemetry.stats import Aggregator

SUCCESS_STATUSES = ("success", "succeeded", "ok", "completed", "complete", "done")

CompletionKey = tuple[str, int, str]  # (task_id, generation, status): one row per attempt


@attrs.frozen
class Invocation:
    """One row the hub writes; ``cost`` None means unpriced (an unknown model)."""

    timestamp: datetime  # aware
    model: str | None
    tokens_in: int
    tokens_out: int
    cost: float | None
    latency_ms: int | None
    status: str
    agent: str | None = None
    task_id: str | None = None
    generation: int | None = None
    equivalent_claude_cost: float | None = None
    priced: bool = True
    tool: str = "agentdeck"


class TelemetryBackend(Protocol):
    """What the telemetry actor needs from a database."""

    aggregator: Aggregator  # this hub's figures

    @property
    def unavailable(self) -> tuple[type[BaseException], ...]:
        """Errors that mean "the database cannot be used right now": rows wait, figures stay."""

    @property
    def location(self) -> str:
        """Where the rows go, safe to show (no password)."""

    def open(self) -> None:
        """Connect, migrate and load every existing row; safe to call again after a failure."""

    def close(self) -> None: ...

    def record(self, invocations: Iterable[Invocation]) -> int:
        """Insert rows, skipping any whose completion key is already stored; returns how many were new."""

    def backfill(self, candidates: Mapping[CompletionKey, Callable[[], Invocation]]) -> int:
        """Insert the rows whose key is missing, each built by its function; returns how many."""

    def claim_alert(self, period: str, period_key: str, level: int, fired_at: datetime) -> bool:
        """Mark this hub's budget alert as fired; False when it already was."""

    def refresh(self, *, wrote: bool = False) -> tuple[int, bool]:
        """Fold what changed since the last call: (rows added, whether another writer added rows)."""

    def stats(self, now: datetime | None = None, budgets: dict[str, float | None] | None = None
              ) -> dict[str, Any]:
        """This hub's figures (``Aggregator.stats``)."""

    def fleet_stats(self, now: datetime | None = None) -> dict[str, Any] | None:
        """The figures of every hub sharing the database, with the fleet budget; None without a fleet."""

    def claim_fleet_alert(self, period: str, period_key: str, level: int, fired_at: datetime) -> bool:
        """Mark a fleet budget alert as fired, once for all hubs; False when any hub already did."""
