"""The telemetry actor: the hub's single writer of ``telemetry.db`` and keeper of its figures.

It records every finished attempt it sees on the bus (``TaskCompleted`` with a result, and
``TaskRetried`` / ``TaskDeadLettered`` as errors), writing off the event loop. It polls
``PRAGMA data_version`` to notice rows other processes insert, keeps one cached stats dict that every
``GetStats`` is answered from (no query per viewer), and raises ``BudgetThreshold`` once per period.
When the file is locked, rows wait in memory and the last figures keep being served until it frees.

Rows still in memory die with the process on a ``kill -9``; the task files do not. So at every
start the actor asks the queue for the board and adds the rows its files record but the database
lacks (``telemetry_rows.attempts_on_board``), keyed exactly as the live rows are: nothing is lost and
nothing is counted twice.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

import attrs
import trio

from agentdeck.actors.bus import EventBus, Subscription
from agentdeck.actors.config import HubConfig
from agentdeck.actors.mailbox import reply
from agentdeck.actors.messages import (
    BoardView,
    BudgetThreshold,
    GetStats,
    ListTasks,
    Request,
    TelemetryChanged,
)
from agentdeck.actors.replies import StatsReply
from agentdeck.actors.telemetry.backend import Invocation, TelemetryBackend
from agentdeck.actors.telemetry.rows import RECORDED, attempts_on_board, invocation_for
from agentdeck.actors.telemetry.stats import CRITICAL_PERCENT, WARNING_PERCENT, Aggregator
from agentdeck.actors.telemetry.store import TelemetryStore

log = logging.getLogger("agentdeck.telemetry")

IDLE_POLL_MAX_S = 0.8  # a quiet database is still looked at this often: another hub's rows show within 1 s


def telemetry_store_factory(config: HubConfig, tz: tzinfo | None = None
                            ) -> Callable[[], TelemetryBackend] | None:
    """The store the configuration asks for: None for the embedded SQLite file (the default)."""
    url = config.telemetry_url
    if url is None:
        return None

    def open_postgres() -> TelemetryBackend:
        from agentdeck.actors.telemetry.postgres import PostgresTelemetryStore

        return PostgresTelemetryStore(url, config.hub_name, tz=tz)

    return open_postgres


@attrs.frozen
class SyncOutcome:
    inserted: int
    backfilled: int
    added: int
    external: bool
    version: int
    stats: dict[str, Any] | None
    alerts: tuple[BudgetThreshold, ...]
    fleet: dict[str, Any] | None = None


class Telemetry:
    def __init__(self, config: HubConfig, bus: EventBus, inbox: trio.MemoryReceiveChannel, *,
                 tz: tzinfo | None = None, busy_timeout: float = 5.0, poll_interval: float = 0.3,
                 refresh_interval: float = 10.0, first_load_wait: float = 2.0,
                 ask_queue: Callable[[Any], Awaitable[Any]] | None = None,
                 open_store: Callable[[], TelemetryBackend] | None = None) -> None:
        self.path = config.telemetry_path
        self._open_store = open_store or (lambda: TelemetryStore(
            self.path, tz=self._tz, busy_timeout=self._busy_timeout))
        self.budgets = {"daily": config.budget_daily, "monthly": config.budget_monthly}
        self._bus = bus
        self._inbox = inbox
        self._tz = tz
        self._busy_timeout = busy_timeout
        self._poll_interval = poll_interval
        self._refresh_interval = refresh_interval
        self._first_load_wait = first_load_wait
        self._pending: list[Invocation] = []
        self._ask_queue = ask_queue
        self._board: BoardView | None = None  # a board still to reconcile the file with
        self._subscription: Subscription | None = None
        self._wake = trio.Event()
        self._loaded = trio.Event()
        self._fired: set[tuple[str, str, str, int]] = set()
        self._stats: dict[str, Any] | None = None
        self._stats_version = -1
        self._stats_at = -math.inf
        self._fleet_stats: dict[str, Any] | None = None
        self.location = str(self.path)
        self.error: str | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        store = self._open_store()
        self.location = store.location
        self._stats_version = -1  # a restart reloads the file: its figures must replace ours
        if self._subscription is None:
            # unbounded, and kept across restarts: a finished attempt is never dropped
            self._subscription = self._bus.subscribe("telemetry", 0, only=RECORDED)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._record_events, self._subscription)
                nursery.start_soon(self._answer_queries, nursery)
                nursery.start_soon(self._sync_forever, store)
                if self._ask_queue is not None:
                    nursery.start_soon(self._fetch_board, self._ask_queue)
                task_status.started()
        finally:
            store.close()

    def current_stats(self) -> dict[str, Any]:
        """The cached figures, with where they come from and whether they are current.

        ``source.loaded`` is False until the file was read once (a big file takes seconds): the
        zeros are then placeholders, not figures; ``fresh`` is False while the file is unusable."""
        stats = self._stats or Aggregator(self._tz).stats(budgets=self.budgets)
        source = {"path": self.location, "loaded": self._stats is not None,
                  "fresh": self.error is None and self._stats is not None, "error": self.error,
                  "pending_writes": len(self._pending)}
        return {**stats, "source": source}

    # ------------------------------------------------------------------ inputs

    async def _record_events(self, subscription: Subscription) -> None:
        async for event in subscription:
            try:
                invocation = invocation_for(event, self._tz)
            except (AttributeError, TypeError, ValueError, OverflowError) as error:
                log.error("telemetry cannot record %s: %s", type(event).__name__, error)
                continue
            if invocation is not None:
                self._pending.append(invocation)
                self._wake.set()

    async def _fetch_board(self, ask_queue: Callable[[Any], Awaitable[Any]]) -> None:
        """Ask the queue for the board once; the next sync round backfills from it."""
        while True:
            try:
                view = await ask_queue(ListTasks())
            except Exception as error:  # the queue is busy or restarting: ask again
                log.info("telemetry reconciliation waits for the board: %s", error)
                await trio.sleep(1.0)
                continue
            if isinstance(view, BoardView):
                self._board = view
                self._wake.set()
            return

    async def _answer_queries(self, nursery: trio.Nursery) -> None:
        async for request in self._inbox:
            if not isinstance(request, Request):
                continue
            if not isinstance(request.body, GetStats):
                reply(request, TypeError(f"telemetry does not answer {type(request.body).__name__}"))
            elif request.body.scope == "fleet":
                reply(request, self.current_fleet_stats())
            elif self._loaded.is_set():
                reply(request, StatsReply.of(self.current_stats()))
            else:
                nursery.start_soon(self._answer_when_loaded, request)

    async def _answer_when_loaded(self, request: Request) -> None:
        with trio.move_on_after(self._first_load_wait):
            await self._loaded.wait()
        reply(request, StatsReply.of(self.current_stats()))

    # ------------------------------------------------------------------ the database side

    def health(self) -> dict[str, Any]:
        """For /health: where rows go, and whether they wait in memory for the database."""
        return {"location": self.location, "loaded": self._stats is not None, "error": self.error,
                "pending_writes": len(self._pending),
                "buffering": self.error is not None and bool(self._pending)}

    def current_fleet_stats(self) -> dict[str, Any] | None:
        """Every hub's figures when the database is shared by a fleet, else None."""
        if self._fleet_stats is None:
            return None
        source = {"path": self.location, "fresh": self.error is None, "error": self.error,
                  "pending_writes": len(self._pending)}
        return {**self._fleet_stats, "source": source}

    async def _sync_forever(self, store: TelemetryBackend) -> None:
        interval = self._poll_interval
        while True:
            batch, board = tuple(self._pending), self._board
            try:
                outcome = await trio.to_thread.run_sync(self._sync_once, store, batch, board)
            except store.unavailable as error:
                self._note_error(error)
            else:
                del self._pending[:len(batch)]
                if self._board is board:
                    self._board = None
                self._apply(outcome)
                quiet = not (outcome.inserted or outcome.backfilled or outcome.added or outcome.external
                             or outcome.alerts)
                # nothing new, here or from another hub: look less often (a local write wakes it)
                interval = min(IDLE_POLL_MAX_S, interval * 2) if quiet else self._poll_interval
            with trio.move_on_after(interval):
                await self._wake.wait()
            self._wake = trio.Event()

    def _sync_once(self, store: TelemetryBackend, batch: tuple[Invocation, ...],
                   board: BoardView | None = None) -> SyncOutcome:
        """Runs in a worker thread: open, write ``batch`` (then what ``board`` records and the file
        lacks), fold new rows, refresh the figures."""
        store.open()
        inserted = store.record(batch) if batch else 0
        backfilled = store.backfill(attempts_on_board(board, self._tz)) if board is not None else 0
        added, external = store.refresh(wrote=bool(inserted or backfilled))
        now = datetime.now(UTC).astimezone(self._tz)
        stats = None
        version = store.aggregator.version
        if self._stats is None or version != self._stats_version or self._stale(now):
            stats = store.stats(now, self.budgets)
        fleet = store.fleet_stats(now)
        alerts = self._claim_alerts(store, stats or self._stats or {}, now)
        if fleet is not None:
            alerts += self._claim_alerts(store, fleet, now, scope="fleet")
        return SyncOutcome(inserted, backfilled, added, external, version, stats, alerts, fleet)

    def _stale(self, now: datetime) -> bool:
        return now.timestamp() - self._stats_at >= self._refresh_interval

    def _claim_alerts(self, store: TelemetryBackend, stats: dict[str, Any], now: datetime,
                      scope: str = "hub") -> tuple[BudgetThreshold, ...]:
        """Claim the budget levels reached; only the claim that inserts the mark raises the alert,
        so each level fires once per period (once for the whole fleet with ``scope="fleet"``)."""
        claim = store.claim_fleet_alert if scope == "fleet" else store.claim_alert
        alerts = []
        for period, status in (stats.get("budget") or {}).items():
            if not status:
                continue
            for level in (WARNING_PERCENT, CRITICAL_PERCENT):
                key = (scope, period, status["period_key"], level)
                if status["percent"] < level or key in self._fired:
                    continue
                try:
                    claimed = claim(period, status["period_key"], level, now)
                except store.unavailable:
                    continue  # the file is locked: try again on the next round
                self._fired.add(key)
                if claimed:
                    alerts.append(BudgetThreshold(period=period, level=level,
                                                  spent=status["spent_usd"],
                                                  budget=status["budget_usd"], scope=scope))
        return tuple(alerts)

    def _apply(self, outcome: SyncOutcome) -> None:
        if self.error is not None:
            log.info("telemetry database usable again")
            self.error = None
        if outcome.stats is not None:
            self._stats = outcome.stats
            self._stats_version = outcome.version
            self._stats_at = datetime.now(UTC).timestamp()
        self._fleet_stats = outcome.fleet
        self._loaded.set()
        if outcome.backfilled:
            log.warning("telemetry: %d finished attempt(s) recorded in the task files were missing "
                        "from %s (lost in a crash?): added", outcome.backfilled, self.location)
        if outcome.added:
            self._bus.publish(TelemetryChanged(source="external" if outcome.external else "hub"))
        for alert in outcome.alerts:
            log.warning("%s budget %s at %d %%: $%.2f of $%.2f", alert.scope, alert.period,
                        alert.level, alert.spent, alert.budget)
            self._bus.publish(alert)

    def _note_error(self, error: BaseException) -> None:
        message = f"{type(error).__name__}: {error}"
        if message != self.error:
            log.warning("telemetry database unavailable (%s); %d row(s) waiting, serving the last "
                        "figures", message, len(self._pending))
        self.error = message

