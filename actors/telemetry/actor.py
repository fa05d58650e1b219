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
import sqlite3
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
from agentdeck.actors.telemetry.rows import attempts_on_board, invocation_for
from agentdeck.actors.telemetry.stats import CRITICAL_PERCENT, WARNING_PERCENT, Aggregator
from agentdeck.actors.telemetry.store import Invocation, TelemetryStore

log = logging.getLogger("agentdeck.telemetry")


@attrs.frozen
class SyncOutcome:
    inserted: int
    backfilled: int
    added: int
    external: bool
    version: int
    stats: dict[str, Any] | None
    alerts: tuple[BudgetThreshold, ...]


class Telemetry:
    def __init__(self, config: HubConfig, bus: EventBus, inbox: trio.MemoryReceiveChannel, *,
                 tz: tzinfo | None = None, busy_timeout: float = 5.0, poll_interval: float = 0.3,
                 refresh_interval: float = 10.0, first_load_wait: float = 2.0,
                 ask_queue: Callable[[Any], Awaitable[Any]] | None = None) -> None:
        self.path = config.telemetry_path
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
        self._fired: set[tuple[str, str, int]] = set()
        self._stats: dict[str, Any] | None = None
        self._stats_version = -1
        self._stats_at = -math.inf
        self.error: str | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        store = TelemetryStore(self.path, tz=self._tz, busy_timeout=self._busy_timeout)
        self._stats_version = -1  # a restart reloads the file: its figures must replace ours
        if self._subscription is None:
            # unbounded, and kept across restarts: a finished attempt is never dropped
            self._subscription = self._bus.subscribe("telemetry", 0)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._record_events, self._subscription)
                nursery.start_soon(self._answer_queries, nursery)
                nursery.start_soon(self._sync_forever, store)
                if self._ask_queue is not None:
                    nursery.start_soon(self._fetch_board)
                task_status.started()
        finally:
            store.close()

    def current_stats(self) -> dict[str, Any]:
        """The cached figures, with where they come from and whether they are current.

        ``source.loaded`` is False until the file was read once (a big file takes seconds): the
        zeros are then placeholders, not figures; ``fresh`` is False while the file is unusable."""
        stats = self._stats or Aggregator(self._tz).stats(budgets=self.budgets)
        source = {"path": str(self.path), "loaded": self._stats is not None,
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

    async def _fetch_board(self) -> None:
        """Ask the queue for the board once; the next sync round backfills from it."""
        while True:
            try:
                view = await self._ask_queue(ListTasks())
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
            elif self._loaded.is_set():
                reply(request, self.current_stats())
            else:
                nursery.start_soon(self._answer_when_loaded, request)

    async def _answer_when_loaded(self, request: Request) -> None:
        with trio.move_on_after(self._first_load_wait):
            await self._loaded.wait()
        reply(request, self.current_stats())

    # ------------------------------------------------------------------ the database side

    async def _sync_forever(self, store: TelemetryStore) -> None:
        while True:
            batch, board = tuple(self._pending), self._board
            try:
                outcome = await trio.to_thread.run_sync(self._sync_once, store, batch, board)
            except sqlite3.Error as error:
                self._note_error(error)
            else:
                del self._pending[:len(batch)]
                if self._board is board:
                    self._board = None
                self._apply(outcome)
            with trio.move_on_after(self._poll_interval):
                await self._wake.wait()
            self._wake = trio.Event()

    def _sync_once(self, store: TelemetryStore, batch: tuple[Invocation, ...],
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
        alerts = self._claim_alerts(store, stats or self._stats or {}, now)
        return SyncOutcome(inserted, backfilled, added, external, version, stats, alerts)

    def _stale(self, now: datetime) -> bool:
        return now.timestamp() - self._stats_at >= self._refresh_interval

    def _claim_alerts(self, store: TelemetryStore, stats: dict[str, Any], now: datetime
                      ) -> tuple[BudgetThreshold, ...]:
        alerts = []
        for period, status in (stats.get("budget") or {}).items():
            if not status:
                continue
            for level in (WARNING_PERCENT, CRITICAL_PERCENT):
                key = (period, status["period_key"], level)
                if status["percent"] < level or key in self._fired:
                    continue
                try:
                    claimed = store.claim_alert(period, status["period_key"], level, now)
                except sqlite3.OperationalError:
                    continue  # the file is locked: try again on the next round
                self._fired.add(key)
                if claimed:
                    alerts.append(BudgetThreshold(period=period, level=level,
                                                  spent=status["spent_usd"],
                                                  budget=status["budget_usd"]))
        return tuple(alerts)

    def _apply(self, outcome: SyncOutcome) -> None:
        if self.error is not None:
            log.info("telemetry database usable again")
            self.error = None
        if outcome.stats is not None:
            self._stats = outcome.stats
            self._stats_version = outcome.version
            self._stats_at = datetime.now(UTC).timestamp()
        self._loaded.set()
        if outcome.backfilled:
            log.warning("telemetry: %d finished attempt(s) recorded in the task files were missing "
                        "from %s (lost in a crash?): added", outcome.backfilled, self.path)
        if outcome.added:
            self._bus.publish(TelemetryChanged(source="external" if outcome.external else "hub"))
        for alert in outcome.alerts:
            log.warning("budget %s at %d %%: $%.2f of $%.2f", alert.period, alert.level,
                        alert.spent, alert.budget)
            self._bus.publish(alert)

    def _note_error(self, error: sqlite3.Error) -> None:
        message = f"{type(error).__name__}: {error}"
        if message != self.error:
            log.warning("telemetry database unavailable (%s); %d row(s) waiting, serving the last "
                        "figures", message, len(self._pending))
        self.error = message

