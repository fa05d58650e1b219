"""Telemetry in PostgreSQL: one database shared by a fleet of hubs (a ``TelemetryBackend``).

The tables are the SQLite store's with a ``hub`` column (the hub that wrote the row), kept by
versioned migrations (``agentdeck_schema``). A completion is keyed ``(hub, task_id, generation,
status)`` with a unique index and inserted with ``ON CONFLICT DO NOTHING``: a write retried after a
lost connection (committed or not, the hub cannot tell) never counts twice.

Figures are folded incrementally as in SQLite: rows above the highest ``id`` folded so far are
grouped by the server. Sequence values are handed out before commit, so two hubs committing in the
other order could hide a row below the watermark; every insert therefore takes one transaction-level
advisory lock, making rows visible in ``id`` order (a batch holds it for milliseconds). Rows written
by other tools without that lock are caught by a periodic count, which reloads on a mismatch.

Rows are grouped by 15-minute UTC slot and turned into local days here, so each hub keeps its own
time zone. The store keeps one ``Aggregator`` for its hub, one for the whole fleet and one per hub.

Budgets can be set for the fleet (``fleet_budgets``); an alert is a row keyed by (scope, period,
period key, level) inserted if absent, so the 80 % and 100 % levels fire once per period for all hubs.

Called from a worker thread only, one call at a time (psycopg 3, blocking).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

import psycopg

from agentdeck.actors.config import redact_url
from agentdeck.actors.telemetry.backend import SUCCESS_STATUSES, CompletionKey, Invocation
from agentdeck.actors.telemetry.stats import Aggregator, Cell
from agentdeck.actors.telemetry.store import local_date

log = logging.getLogger("agentdeck.telemetry")

SCHEMA_VERSION = 1
WRITE_LOCK = 0x61676E74  # pg_advisory_xact_lock key: rows become visible in id order
SLOT_SECONDS = 900  # every UTC offset in use is a whole number of quarter hours
FLEET_PERIODS = ("daily", "monthly")

MIGRATIONS = {
    1: """
CREATE TABLE IF NOT EXISTS invocations (
    id BIGSERIAL PRIMARY KEY,
    hub TEXT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    tool TEXT,
    model TEXT,
    tokens BIGINT DEFAULT 0,
    cost DOUBLE PRECISION DEFAULT 0,
    latency_ms BIGINT,
    status TEXT,
    agent TEXT,
    task_id TEXT,
    generation INTEGER,
    tokens_in BIGINT,
    tokens_out BIGINT,
    equivalent_claude_cost DOUBLE PRECISION,
    priced BOOLEAN
);
CREATE INDEX IF NOT EXISTS ix_invocations_timestamp ON invocations(timestamp);
CREATE INDEX IF NOT EXISTS ix_invocations_hub ON invocations(hub);
CREATE INDEX IF NOT EXISTS ix_invocations_model ON invocations(model);
CREATE INDEX IF NOT EXISTS ix_invocations_agent ON invocations(agent);
CREATE UNIQUE INDEX IF NOT EXISTS ux_invocations_completion
    ON invocations(hub, task_id, generation, status) WHERE task_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS daily_costs (
    hub TEXT NOT NULL,
    date TEXT NOT NULL,
    total_cost DOUBLE PRECISION DEFAULT 0,
    total_tokens BIGINT DEFAULT 0,
    invocation_count BIGINT DEFAULT 0,
    PRIMARY KEY (hub, date)
);
CREATE TABLE IF NOT EXISTS budget_alerts (
    scope TEXT NOT NULL,
    period TEXT NOT NULL,
    period_key TEXT NOT NULL,
    level INTEGER NOT NULL,
    fired_at TIMESTAMPTZ NOT NULL,
    fired_by TEXT,
    PRIMARY KEY (scope, period, period_key, level)
);
CREATE TABLE IF NOT EXISTS fleet_budgets (
    period TEXT PRIMARY KEY,
    budget_usd DOUBLE PRECISION
);
""",
}
_SUCCESS = ", ".join(f"'{status}'" for status in SUCCESS_STATUSES)
FOLD_CELLS = f"""
SELECT hub, floor(extract(epoch FROM timestamp) / {SLOT_SECONDS})::bigint AS slot, model, agent,
    count(*),
    coalesce(sum(CASE WHEN cost > 0 THEN cost ELSE 0 END), 0),
    coalesce(sum(CASE WHEN tokens IS NOT NULL THEN tokens
                      ELSE coalesce(tokens_in, 0) + coalesce(tokens_out, 0) END), 0)::float8,
    count(*) FILTER (WHERE cost < 0),
    count(*) FILTER (WHERE priced = false OR (priced IS NULL AND cost IS NULL)),
    count(*) FILTER (WHERE priced IS NULL AND cost = 0),
    count(*) FILTER (WHERE lower(status) IN ({_SUCCESS})),
    count(*) FILTER (WHERE status IS NOT NULL AND lower(status) NOT IN ({_SUCCESS})),
    coalesce(sum(CASE WHEN equivalent_claude_cost IS NOT NULL
                      THEN equivalent_claude_cost - greatest(coalesce(cost, 0), 0) ELSE 0 END), 0),
    coalesce(sum(latency_ms) FILTER (WHERE latency_ms >= 0), 0)::float8,
    count(*) FILTER (WHERE latency_ms >= 0)
FROM invocations WHERE id > %s AND id <= %s
GROUP BY hub, slot, model, agent
"""
FOLD_LATENCY = """
SELECT hub, round(ln(greatest(latency_ms, 1)) / ln(%s))::integer AS bucket, count(*)
FROM invocations WHERE id > %s AND id <= %s AND latency_ms >= 0
GROUP BY hub, bucket
"""
INSERT_INVOCATION = """
INSERT INTO invocations (hub, timestamp, tool, model, tokens, cost, latency_ms, status, agent,
    task_id, generation, tokens_in, tokens_out, equivalent_claude_cost, priced)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING RETURNING id
"""
ADD_DAILY = """
INSERT INTO daily_costs (hub, date, total_cost, total_tokens, invocation_count) VALUES (%s, %s, %s, %s, 1)
ON CONFLICT (hub, date) DO UPDATE SET
    total_cost = coalesce(daily_costs.total_cost, 0) + excluded.total_cost,
    total_tokens = coalesce(daily_costs.total_tokens, 0) + excluded.total_tokens,
    invocation_count = coalesce(daily_costs.invocation_count, 0) + 1
"""
HAS_COMPLETION = "SELECT 1 FROM invocations WHERE hub = %s AND task_id = %s AND generation = %s AND status = %s"
CLAIM_ALERT = """
INSERT INTO budget_alerts (scope, period, period_key, level, fired_at, fired_by)
VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
"""


class PostgresTelemetryStore:
    """One connection to the fleet's database. ``hub`` None: a reader (``agentdeck fleet``) that
    writes nothing but the fleet budgets."""

    unavailable: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg.InterfaceError)

    def __init__(self, url: str, hub: str | None, *, tz: tzinfo | None = None,
                 connect_timeout: float = 3.0, verify_interval: float = 10.0) -> None:
        self.url = url
        self.hub = hub
        self.tz = tz
        self.connect_timeout = connect_timeout
        self.verify_interval = verify_interval
        self.aggregator = Aggregator(tz)
        self.fleet = Aggregator(tz)
        self.hubs: dict[str, Aggregator] = {}
        self.budgets: dict[str, float | None] = {}
        self._conn: psycopg.Connection | None = None
        self._verified_at = -math.inf
        self._day_cache: dict[int, str] = {}
        self._fleet_cache: tuple[tuple, dict[str, Any]] | None = None
        self._written = 0  # rows this store inserted and has not folded yet

    @property
    def location(self) -> str:
        return redact_url(self.url)

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        conn = self._conn
        if conn is not None and (conn.closed or conn.broken):
            self.close()
        if self._conn is None:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout)),
                                   application_name=f"agentdeck {self.hub or 'fleet'}"[:63])
            try:
                migrate(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        if not self.fleet.loaded:
            self.fold()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None:
            raise psycopg.OperationalError("telemetry database is not connected")
        return self._conn

    def _guard(self, work: Callable[[psycopg.Connection], Any]) -> Any:
        """Run ``work``; a lost connection is dropped so the next ``open`` reconnects."""
        try:
            return work(self.conn)
        except self.unavailable:
            self.close()
            raise

    # ------------------------------------------------------------------ writing

    def record(self, invocations: Iterable[Invocation]) -> int:
        hub = self._writer()
        rows = list(invocations)
        if not rows:
            return 0

        def insert(conn: psycopg.Connection) -> int:
            inserted = 0
            with conn.transaction(), conn.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                for inv in rows:
                    tokens = max(inv.tokens_in, 0) + max(inv.tokens_out, 0)
                    cursor.execute(INSERT_INVOCATION, (
                        hub, inv.timestamp, inv.tool, inv.model, tokens, inv.cost, inv.latency_ms,
                        inv.status, inv.agent, inv.task_id, inv.generation, inv.tokens_in,
                        inv.tokens_out, inv.equivalent_claude_cost, inv.priced))
                    if cursor.fetchone() is not None:
                        inserted += 1
                        day = self._local_day(int(inv.timestamp.timestamp()) // SLOT_SECONDS)
                        cursor.execute(ADD_DAILY, (hub, day, max(inv.cost or 0.0, 0.0), tokens))
            return inserted

        inserted = int(self._guard(insert))
        self._written += inserted
        return inserted

    def backfill(self, candidates: Mapping[CompletionKey, Callable[[], Invocation]]) -> int:
        hub = self._writer()

        def missing(conn: psycopg.Connection) -> list[CompletionKey]:
            with conn.cursor() as cursor:
                return [key for key in candidates
                        if cursor.execute(HAS_COMPLETION, (hub, *key)).fetchone() is None]

        keys = self._guard(missing)
        return self.record([candidates[key]() for key in keys]) if keys else 0

    def claim_alert(self, period: str, period_key: str, level: int, fired_at: datetime) -> bool:
        return self._claim(f"hub:{self._writer()}", period, period_key, level, fired_at)

    def claim_fleet_alert(self, period: str, period_key: str, level: int, fired_at: datetime) -> bool:
        return self._claim("fleet", period, period_key, level, fired_at)

    def _claim(self, scope: str, period: str, period_key: str, level: int, fired_at: datetime) -> bool:
        def claim(conn: psycopg.Connection) -> bool:
            cursor = conn.execute(CLAIM_ALERT, (scope, period, period_key, level, fired_at, self.hub))
            return cursor.rowcount == 1

        return bool(self._guard(claim))

    def set_fleet_budgets(self, budgets: Mapping[str, float | None]) -> None:
        """Set (a positive amount) or clear (None) the fleet's budget per period."""
        def store(conn: psycopg.Connection) -> None:
            with conn.transaction():
                for period, amount in budgets.items():
                    if period not in FLEET_PERIODS:
                        raise ValueError(f"unknown budget period {period!r}")
                    conn.execute("INSERT INTO fleet_budgets (period, budget_usd) VALUES (%s, %s) "
                                 "ON CONFLICT (period) DO UPDATE SET budget_usd = excluded.budget_usd",
                                 (period, amount))

        self._guard(store)

    def _writer(self) -> str:
        if self.hub is None:
            raise ValueError("a fleet reader writes no invocations")
        return self.hub

    # ------------------------------------------------------------------ reading

    def refresh(self, *, wrote: bool = False) -> tuple[int, bool]:
        written, self._written = self._written, 0
        verify = time.monotonic() - self._verified_at >= self.verify_interval
        added = self.fold(verify=verify)
        self._load_budgets()
        return added, added > written

    def fold(self, *, verify: bool = False) -> int:
        """Fold rows above the watermark (and, with ``verify``, check the count in the same snapshot)."""
        low = self.fleet.watermark if self.fleet.loaded else -(2 ** 63)  # ids may be set by other tools

        def read(conn: psycopg.Connection) -> tuple[int, list, list, int | None]:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                high = _scalar(conn, "SELECT coalesce(max(id), 0) FROM invocations")
                cells = conn.execute(FOLD_CELLS, (low, high)).fetchall() if high > low else []
                latency = (conn.execute(FOLD_LATENCY, (self.fleet.latency_ratio, low, high)).fetchall()
                           if high > low else [])
                present = (_scalar(conn, "SELECT count(*) FROM invocations WHERE id <= %s", (high,))
                           if verify else None)
            return high, cells, latency, present

        high, cells, latency, present = self._guard(read)
        if verify:
            self._verified_at = time.monotonic()
        if high < low:  # the table was emptied or recreated
            self._reset()
            return self.fold()
        added = self._fold_into(cells, latency, high)
        if present is not None and present != self.fleet.rows:
            log.warning("telemetry database holds %d rows, %d were folded: reloading", present, self.fleet.rows)
            self._reset()
            added = self.fold()
        return added

    def _fold_into(self, rows: list, latency: list, high: int) -> int:
        by_hub: dict[str, list[Cell]] = {}
        for hub, slot, model, agent, *sums in rows:
            by_hub.setdefault(hub, []).append(Cell(self._local_day(slot), model, agent, *sums))
        buckets: dict[str, list[tuple[int, int]]] = {}
        for hub, bucket, count in latency:
            buckets.setdefault(hub, []).append((bucket, count))
        added = self.fleet.fold([cell for cells in by_hub.values() for cell in cells],
                                [pair for pairs in buckets.values() for pair in pairs], high)
        for hub in set(by_hub) | set(self.hubs):
            aggregator = self.hubs.get(hub)
            if aggregator is None:
                aggregator = self.hubs[hub] = Aggregator(self.tz)
            aggregator.fold(by_hub.get(hub, []), buckets.get(hub, []), high)
        if self.hub is not None:
            self.aggregator = self.hubs.setdefault(self.hub, self.aggregator)
            self.aggregator.loaded = True
        return added

    def _load_budgets(self) -> None:
        def read(conn: psycopg.Connection) -> dict[str, float | None]:
            return {period: amount for period, amount in
                    conn.execute("SELECT period, budget_usd FROM fleet_budgets").fetchall()}

        self.budgets = self._guard(read)

    def stats(self, now: datetime | None = None, budgets: dict[str, float | None] | None = None
              ) -> dict[str, Any]:
        return self.aggregator.stats(now, budgets or {})

    def fleet_stats(self, now: datetime | None = None) -> dict[str, Any] | None:
        """The fleet's figures and budget, plus ``by_hub`` (today, month, all time per hub)."""
        now = (now or datetime.now(UTC)).astimezone(self.tz)
        key = (self.fleet.version, tuple(sorted(self.budgets.items())), int(now.timestamp() // 10))
        if self._fleet_cache is not None and self._fleet_cache[0] == key:
            return self._fleet_cache[1]
        stats = self.fleet.stats(now, self.budgets)
        by_hub = []
        for hub, aggregator in sorted(self.hubs.items()):
            figures = aggregator.stats(now)
            by_hub.append({"hub": hub, "today": figures["today"], "month": figures["month"],
                           "all_time": figures["all_time"]})
        figures = {**stats, "by_hub": by_hub, "hubs": len(self.hubs)}
        self._fleet_cache = (key, figures)
        return figures

    # ------------------------------------------------------------------ helpers

    def _reset(self) -> None:
        self.fleet = Aggregator(self.tz)
        self.hubs = {}
        self.aggregator = Aggregator(self.tz)

    def _local_day(self, slot: int) -> str:
        day = self._day_cache.get(slot)
        if day is None:
            day = self._day_cache[slot] = local_date(slot * SLOT_SECONDS, self.tz).isoformat()
        return day


def _scalar(conn: psycopg.Connection, query: str, params: tuple = ()) -> int:
    row = conn.execute(query, params).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def migrate(conn: psycopg.Connection) -> None:
    """Bring the database to SCHEMA_VERSION, one version per transaction; many hubs may start at
    once, so the migration holds an advisory lock."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK + 1,))
        conn.execute("CREATE TABLE IF NOT EXISTS agentdeck_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM agentdeck_schema").fetchone()
        version = row[0] if row and row[0] is not None else 0
        if version > SCHEMA_VERSION:
            log.warning("telemetry schema version %d is newer than this agentdeck (%d)", version,
                        SCHEMA_VERSION)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with conn.transaction():
                conn.execute(MIGRATIONS[target])
                conn.execute("INSERT INTO agentdeck_schema (version) VALUES (%s)", (target,))
