"""The telemetry database: a blocking SQLite layer, called from worker threads by the telemetry actor.

The file keeps the documented legacy schema (``invocations`` and ``daily_costs``) so tools that
already write it keep working; agentdeck's extra columns are added by a versioned migration
(``PRAGMA user_version``) that keeps every existing row. Figures are never computed with a full scan
per request: new rows (``rowid`` above a watermark) are grouped by SQLite and folded into an
in-memory ``Aggregator`` (see ``telemetry_stats``), so a read after an insert costs a few rows.

Time: hub rows are written as ISO-8601 with the local UTC offset. Rows from other tools may use
any SQLite time value; a naive one is taken as UTC (what SQLite's ``CURRENT_TIMESTAMP`` writes), a
number as Unix seconds. Rows whose time cannot be read count in the all-time figures only.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from agentdeck.actors.telemetry.backend import SUCCESS_STATUSES, CompletionKey, Invocation
from agentdeck.actors.telemetry.stats import Aggregator, Cell

log = logging.getLogger("agentdeck.telemetry")

SCHEMA_VERSION = 2
EXTRA_COLUMNS = {
    "agent": "TEXT",
    "task_id": "TEXT",
    "generation": "INTEGER",
    "tokens_in": "INTEGER",
    "tokens_out": "INTEGER",
    "equivalent_claude_cost": "REAL",
    "priced": "INTEGER",
}
LEGACY_TABLES = """
CREATE TABLE IF NOT EXISTS invocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    tool TEXT,
    model TEXT,
    tokens INTEGER DEFAULT 0,
    cost REAL DEFAULT 0,
    latency_ms INTEGER,
    status TEXT
);
CREATE TABLE IF NOT EXISTS daily_costs (
    date TEXT PRIMARY KEY,
    total_cost REAL DEFAULT 0,
    total_tokens INTEGER DEFAULT 0,
    invocation_count INTEGER DEFAULT 0
);
"""
AGENTDECK_OBJECTS = """
CREATE INDEX IF NOT EXISTS ix_invocations_timestamp ON invocations(timestamp);
CREATE INDEX IF NOT EXISTS ix_invocations_model ON invocations(model);
CREATE INDEX IF NOT EXISTS ix_invocations_agent ON invocations(agent);
CREATE UNIQUE INDEX IF NOT EXISTS ux_invocations_completion
    ON invocations(task_id, generation, status) WHERE task_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS budget_alerts (
    period TEXT NOT NULL,
    period_key TEXT NOT NULL,
    level INTEGER NOT NULL,
    fired_at TEXT NOT NULL,
    PRIMARY KEY (period, period_key, level)
);
"""
MERGE_DUPLICATE_DAYS = """
UPDATE daily_costs SET
    total_cost = (SELECT total(d.total_cost) FROM daily_costs d WHERE d.date = daily_costs.date),
    total_tokens = (SELECT total(d.total_tokens) FROM daily_costs d WHERE d.date = daily_costs.date),
    invocation_count = (SELECT total(d.invocation_count) FROM daily_costs d
                        WHERE d.date = daily_costs.date)
WHERE rowid IN (SELECT min(rowid) FROM daily_costs GROUP BY date HAVING count(*) > 1);
DELETE FROM daily_costs WHERE rowid NOT IN (SELECT min(rowid) FROM daily_costs GROUP BY date);
CREATE UNIQUE INDEX IF NOT EXISTS ux_daily_costs_date ON daily_costs(date);
"""
EPOCH = ("CASE WHEN typeof(timestamp) IN ('integer', 'real') OR (timestamp <> ''"
         " AND timestamp NOT GLOB '*[^0-9.]*') THEN CAST(timestamp AS INTEGER)"
         " ELSE CAST(strftime('%s', timestamp) AS INTEGER) END")
_SUCCESS = ", ".join(f"'{status}'" for status in SUCCESS_STATUSES)
FOLD_CELLS = f"""
SELECT local_day({EPOCH}) AS day, model, agent,
    count(*),
    total(CASE WHEN cost > 0 THEN cost ELSE 0 END),
    total(CASE WHEN tokens IS NOT NULL THEN tokens
               ELSE coalesce(tokens_in, 0) + coalesce(tokens_out, 0) END),
    total(cost < 0),
    total(priced = 0 OR (priced IS NULL AND cost IS NULL)),
    total(priced IS NULL AND cost = 0),
    total(lower(status) IN ({_SUCCESS})),
    total(status IS NOT NULL AND lower(status) NOT IN ({_SUCCESS})),
    total(CASE WHEN equivalent_claude_cost IS NOT NULL
               THEN equivalent_claude_cost - max(coalesce(cost, 0), 0) ELSE 0 END),
    total(CASE WHEN latency_ms >= 0 THEN latency_ms END),
    count(CASE WHEN latency_ms >= 0 THEN 1 END)
FROM invocations WHERE rowid > ? AND rowid <= ?
GROUP BY day, model, agent
"""
FOLD_LATENCY = """
SELECT CAST(round(ln(max(latency_ms, 1)) / ln(?)) AS INTEGER) AS bucket, count(*)
FROM invocations WHERE rowid > ? AND rowid <= ? AND latency_ms >= 0
GROUP BY bucket
"""
INSERT_INVOCATION = """
INSERT OR IGNORE INTO invocations (timestamp, tool, model, tokens, cost, latency_ms, status, agent,
    task_id, generation, tokens_in, tokens_out, equivalent_claude_cost, priced)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
HAS_COMPLETION = """
SELECT 1 FROM invocations WHERE task_id = ? AND generation = ? AND status = ?
"""
ADD_DAILY = """
INSERT INTO daily_costs (date, total_cost, total_tokens, invocation_count) VALUES (?, ?, ?, 1)
ON CONFLICT(date) DO UPDATE SET total_cost = coalesce(total_cost, 0) + excluded.total_cost,
    total_tokens = coalesce(total_tokens, 0) + excluded.total_tokens,
    invocation_count = coalesce(invocation_count, 0) + 1
"""


class TelemetryStore:
    """One connection to the telemetry file (a ``TelemetryBackend``); not thread-safe: the owner
    serialises the calls. One file is one hub: it knows no fleet."""

    unavailable: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: Path, *, tz: tzinfo | None = None, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.tz = tz
        self.busy_timeout = busy_timeout
        self.aggregator = Aggregator(tz)
        self._db: sqlite3.Connection | None = None
        self._data_version: int | None = None
        self._day_cache: dict[int, str] = {}

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Connect, migrate and load every existing row; safe to call again after a failure."""
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                 check_same_thread=False)
            try:
                db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
                db.execute("PRAGMA journal_mode = WAL")
                db.create_function("local_day", 1, self._local_day, deterministic=True)
                migrate(db)
            except BaseException:
                db.close()
                raise
            self._db = db
        if not self.aggregator.loaded:
            self.refresh()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.OperationalError("telemetry store is not open")
        return self._db

    # ------------------------------------------------------------------ writing

    def record(self, invocations: Iterable[Invocation]) -> int:
        """Insert rows (a completion already recorded is skipped); returns how many were new."""
        db = self.db
        inserted = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            for inv in invocations:
                tokens = max(inv.tokens_in, 0) + max(inv.tokens_out, 0)
                if inv.cost is not None and inv.cost < 0:
                    log.warning("negative cost %r for %s (task %s) counted as $0.00",
                                inv.cost, inv.model, inv.task_id)
                cursor = db.execute(INSERT_INVOCATION, (
                    inv.timestamp.isoformat(timespec="milliseconds"), inv.tool, inv.model, tokens,
                    inv.cost, inv.latency_ms, inv.status, inv.agent, inv.task_id, inv.generation,
                    inv.tokens_in, inv.tokens_out, inv.equivalent_claude_cost, int(inv.priced)))
                if cursor.rowcount == 1:
                    inserted += 1
                    day = self._local_day(int(inv.timestamp.timestamp()))
                    db.execute(ADD_DAILY, (day, max(inv.cost or 0.0, 0.0), tokens))
            db.execute("COMMIT")
        except BaseException:
            _end_transaction(db, "ROLLBACK")
            raise
        return inserted

    def backfill(self, candidates: Mapping[CompletionKey, Callable[[], Invocation]]) -> int:
        """Insert the rows whose ``(task_id, generation, status)`` key the file lacks, built by
        their function, in one transaction; returns how many.

        The lookups (one index probe per key, in a read snapshot) take no write lock, so a board
        whose rows are all present costs no write at all; ``record`` skips any key written
        meanwhile, so a row is never counted twice.
        """
        db = self.db
        db.execute("BEGIN")
        try:
            missing = [key for key in candidates if db.execute(HAS_COMPLETION, key).fetchone() is None]
        finally:
            _end_transaction(db, "COMMIT")
        return self.record([candidates[key]() for key in missing]) if missing else 0

    def claim_alert(self, period: str, period_key: str, level: int, fired_at: datetime) -> bool:
        """Mark a budget alert as fired; False when it already was (by this or an earlier run)."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO budget_alerts (period, period_key, level, fired_at) VALUES (?, ?, ?, ?)",
            (period, period_key, level, fired_at.isoformat(timespec="seconds")))
        return cursor.rowcount == 1

    def claim_fleet_alert(self, period: str, period_key: str, level: int, fired_at: datetime) -> bool:
        return False

    # ------------------------------------------------------------------ reading

    def refresh(self, *, wrote: bool = False) -> tuple[int, bool]:
        """Fold what changed since the last call: (rows added, whether another process wrote).

        ``PRAGMA data_version`` moves only for commits made by other connections, so polling it
        costs no scan; the version is remembered only once its rows are folded.
        """
        version = self.db.execute("PRAGMA data_version").fetchone()[0]
        external = self.aggregator.loaded and version != self._data_version
        added = 0
        if external or wrote or not self.aggregator.loaded:
            added = self.fold(verify=external)
        self._data_version = version
        return added, external

    def fold(self, *, verify: bool = False) -> int:
        """Fold rows added since the last fold into the aggregator; returns how many there were.

        ``verify`` (after another tool's change) also counts the rows in the same snapshot: rows
        deleted, or inserted below the watermark, make the figures wrong, so they are reloaded.
        """
        db = self.db
        db.execute("BEGIN")
        try:
            high = db.execute("SELECT coalesce(max(rowid), 0) FROM invocations").fetchone()[0]
            if high < self.aggregator.watermark:
                self._reset()
            low = self.aggregator.watermark
            cells = [Cell(*row) for row in db.execute(FOLD_CELLS, (low, high))]
            latency = db.execute(FOLD_LATENCY, (self.aggregator.latency_ratio, low, high)).fetchall()
            present = (db.execute("SELECT count(*) FROM invocations").fetchone()[0]  # same snapshot
                       if verify else None)
        finally:
            _end_transaction(db, "COMMIT")
        added = self.aggregator.fold(cells, latency, high)
        if present is not None and present != self.aggregator.rows:
            log.warning("telemetry file holds %d rows, %d were folded: reloading", present,
                        self.aggregator.rows)
            self._reset()
            added = self.fold()
        return added

    def stats(self, now: datetime | None = None, budgets: dict[str, float | None] | None = None
              ) -> dict[str, Any]:
        return self.aggregator.stats(now, budgets or {})

    def fleet_stats(self, now: datetime | None = None) -> dict[str, Any] | None:
        return None

    def daily_costs(self) -> dict[str, tuple[float, int, int]]:
        rows = self.db.execute("SELECT date, total_cost, total_tokens, invocation_count FROM daily_costs")
        return {day: (cost, tokens, count) for day, cost, tokens, count in rows}

    # ------------------------------------------------------------------ helpers

    def _reset(self) -> None:
        self.aggregator = Aggregator(self.tz)

    def _local_day(self, epoch: int | None) -> str | None:
        if epoch is None:
            return None
        slot = epoch // 900  # every UTC offset in use is a whole number of quarter hours
        day = self._day_cache.get(slot)
        if day is None:
            day = self._day_cache[slot] = local_date(slot * 900, self.tz).isoformat()
        return day


def local_date(epoch: float, tz: tzinfo | None) -> date:
    """The calendar date of an instant in ``tz`` (None: the server's local zone, DST included)."""
    try:
        return datetime.fromtimestamp(epoch, tz).date()
    except (OverflowError, OSError, ValueError):
        return date(1970, 1, 1)


def migrate(db: sqlite3.Connection) -> None:
    """Bring the file to SCHEMA_VERSION, one version per transaction; rows are never dropped."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        log.warning("telemetry schema version %d is newer than this agentdeck (%d)", version,
                    SCHEMA_VERSION)
    steps = {1: _create_legacy_tables, 2: _add_agentdeck_columns}
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            steps[target](db)
            db.execute(f"PRAGMA user_version = {target}")
            db.execute("COMMIT")
        except BaseException:
            _end_transaction(db, "ROLLBACK")
            raise


def _create_legacy_tables(db: sqlite3.Connection) -> None:
    for statement in _statements(LEGACY_TABLES):
        db.execute(statement)


def _add_agentdeck_columns(db: sqlite3.Connection) -> None:
    present = {row[1] for row in db.execute("PRAGMA table_info(invocations)")}
    for name, kind in EXTRA_COLUMNS.items():
        if name not in present:
            db.execute(f"ALTER TABLE invocations ADD COLUMN {name} {kind}")
    for statement in _statements(MERGE_DUPLICATE_DAYS + AGENTDECK_OBJECTS):
        db.execute(statement)


def _end_transaction(db: sqlite3.Connection, how: str) -> None:
    """COMMIT or ROLLBACK if a transaction is still open (SQLite ends some on its own errors)."""
    if db.in_transaction:
        db.execute(how)


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]
