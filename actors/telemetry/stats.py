"""The one shared aggregator behind ``/api/stats``: running totals, never a scan per request.

The store groups new invocation rows by (local day, model, agent) and hands the groups (``Cell``)
here; totals are kept per day, per day and model, per day and agent, and overall, plus a latency
histogram with 2 % wide buckets (p95 within 1 %). ``stats`` turns them into the JSON-ready figures in
a few milliseconds whatever the number of rows, because it only walks days, models and agents.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple

import attrs

from agentdeck.actors.telemetry.pricing import is_known_model, is_local_model

log = logging.getLogger("agentdeck.telemetry")

LATENCY_RATIO = 1.02
TREND_DAYS = 30
MIN_VELOCITY_WINDOW_S = 3600.0  # don't project a few minutes past midnight onto a whole day
WARNING_PERCENT = 80
CRITICAL_PERCENT = 100


class Cell(NamedTuple):
    """Sums over the new rows of one (local day, model, agent); ``day`` None: unreadable time."""

    day: str | None
    model: str | None
    agent: str | None
    invocations: int
    cost: float  # negative costs already counted as 0
    tokens: float
    negative: float
    unpriced: float
    legacy_zero: float  # rows from other tools with cost 0 and no "priced" flag
    succeeded: float
    failed: float
    saved: float
    latency_sum: float
    latency_count: int


@attrs.define(slots=True)
class Totals:
    count: int = 0
    cost: float = 0.0
    tokens: int = 0
    unpriced: int = 0
    negative: int = 0
    succeeded: int = 0
    failed: int = 0
    saved: float = 0.0
    latency_sum: float = 0.0
    latency_count: int = 0

    def add(self, other: Totals) -> None:
        # spelled out: this runs for every (day, model, agent) group on a full load
        self.count += other.count
        self.cost += other.cost
        self.tokens += other.tokens
        self.unpriced += other.unpriced
        self.negative += other.negative
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.saved += other.saved
        self.latency_sum += other.latency_sum
        self.latency_count += other.latency_count

    def summary(self) -> dict[str, Any]:
        return {"cost_usd": round(self.cost, 6), "tokens": self.tokens, "invocations": self.count,
                "unpriced": self.unpriced}


def _totals(table: dict, key: Any) -> Totals:
    found = table.get(key)
    if found is None:
        found = table[key] = Totals()
    return found


def _nested(table: dict, key: Any) -> dict:
    found = table.get(key)
    if found is None:
        found = table[key] = {}
    return found


def _sum(parts: Iterable[Totals]) -> Totals:
    total = Totals()
    for part in parts:
        total.add(part)
    return total


class Aggregator:
    latency_ratio = LATENCY_RATIO

    def __init__(self, tz: tzinfo | None = None) -> None:
        self.tz = tz
        self.loaded = False
        self.watermark = 0  # highest rowid folded
        self.rows = 0
        self.version = 0  # bumped by every fold that added rows
        self.total = Totals()
        self.undated = Totals()
        self.by_day: dict[str, Totals] = {}
        self.by_model: dict[str | None, Totals] = {}
        self.by_agent: dict[str | None, Totals] = {}
        self.by_day_model: dict[str, dict[str | None, Totals]] = {}
        self.by_day_agent: dict[str, dict[str | None, Totals]] = {}
        self.latency: Counter[int] = Counter()

    def fold(self, cells: Iterable[Cell], latency: Iterable[tuple[int, int]], watermark: int) -> int:
        added = negative = 0
        for cell in cells:
            unpriced = cell.unpriced + (0 if is_known_model(cell.model) else cell.legacy_zero)
            part = Totals(count=cell.invocations, cost=cell.cost, tokens=int(cell.tokens),
                          unpriced=int(unpriced), negative=int(cell.negative),
                          succeeded=int(cell.succeeded), failed=int(cell.failed), saved=cell.saved,
                          latency_sum=cell.latency_sum, latency_count=cell.latency_count)
            self.total.add(part)
            _totals(self.by_model, cell.model).add(part)
            _totals(self.by_agent, cell.agent).add(part)
            if cell.day is None:
                self.undated.add(part)
            else:
                _totals(self.by_day, cell.day).add(part)
                _totals(_nested(self.by_day_model, cell.day), cell.model).add(part)
                _totals(_nested(self.by_day_agent, cell.day), cell.agent).add(part)
            added += cell.invocations
            negative += part.negative
        for bucket, count in latency:
            self.latency[bucket] += count
        if negative:
            log.warning("%d invocation row(s) with a negative cost counted as $0.00", negative)
        self.watermark = max(self.watermark, watermark)
        self.rows += added
        self.loaded = True
        if added:
            self.version += 1
        return added

    def stats(self, now: datetime | None = None,
              budgets: dict[str, float | None] | None = None) -> dict[str, Any]:
        now = (now or datetime.now(self.tz)).astimezone(self.tz)
        today = now.date()
        today_key, month_key = today.isoformat(), today.isoformat()[:7]
        month_days = [day for day in self.by_day if day.startswith(month_key)]
        today_totals = self.by_day.get(today_key, Totals())
        month_totals = _sum(self.by_day[day] for day in month_days)
        total = self.total
        priced_count = total.count - total.unpriced
        outcomes = total.succeeded + total.failed
        elapsed = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
        return {
            "generated_at": now.isoformat(timespec="seconds"),
            "timezone": {"name": getattr(self.tz, "key", None) or now.tzname(),
                         "utc_offset": now.strftime("%z")[:3] + ":" + now.strftime("%z")[3:],
                         "today": today_key, "month": month_key},
            "today": today_totals.summary(),
            "month": month_totals.summary(),
            "all_time": total.summary(),
            "by_model": self._breakdown("model", self.by_model, self.by_day_model, today_key,
                                        month_days),
            "by_agent": self._breakdown("agent", self.by_agent, self.by_day_agent, today_key,
                                        month_days),
            "daily_trend": self._trend(today),
            "avg_cost_per_invocation_usd": round(total.cost / priced_count, 6) if priced_count else None,
            "cost_velocity_usd_per_day": round(
                today_totals.cost * 86400 / max(elapsed, MIN_VELOCITY_WINDOW_S), 6),
            "latency_ms": {
                "avg": round(total.latency_sum / total.latency_count, 1) if total.latency_count else None,
                "p95": self._percentile(0.95),
                "today_avg": (round(today_totals.latency_sum / today_totals.latency_count, 1)
                              if today_totals.latency_count else None),
                "samples": total.latency_count,
            },
            "success_rate": round(total.succeeded / outcomes, 4) if outcomes else None,
            "succeeded": total.succeeded,
            "failed": total.failed,
            "saved_by_local_usd": round(total.saved, 6),
            "unpriced_invocations": total.unpriced,
            "negative_cost_invocations": total.negative,
            "undated_invocations": self.undated.count,
            "budget": budget_status(budgets or {}, today_totals.cost, month_totals.cost,
                                    today_key, month_key),
            "rows": self.rows,
        }

    def _breakdown(self, label: str, overall: dict[str | None, Totals],
                   by_day: dict[str, dict[str | None, Totals]], today_key: str,
                   month_days: list[str]) -> list[dict[str, Any]]:
        month: dict[str | None, float] = {}
        for day in month_days:
            for key, part in by_day.get(day, {}).items():
                month[key] = month.get(key, 0.0) + part.cost
        today = by_day.get(today_key, {})
        rows = []
        for key, totals in overall.items():
            row = {label: key, **totals.summary(),
                   "today_cost_usd": round(today[key].cost, 6) if key in today else 0.0,
                   "month_cost_usd": round(month.get(key, 0.0), 6)}
            if label == "model":
                row["local"] = is_local_model(key)
                row["saved_usd"] = round(totals.saved, 6)
            rows.append(row)
        rows.sort(key=lambda row: (-row["cost_usd"], -row["invocations"], str(row[label])))
        return rows

    def _trend(self, today: date) -> list[dict[str, Any]]:
        days = [(today - timedelta(days=back)).isoformat() for back in range(TREND_DAYS - 1, -1, -1)]
        return [{"date": day, **self.by_day.get(day, Totals()).summary()} for day in days]

    def _percentile(self, fraction: float) -> float | None:
        samples = sum(self.latency.values())
        if not samples:
            return None
        rank, seen = fraction * samples, 0
        for bucket in sorted(self.latency):
            seen += self.latency[bucket]
            if seen >= rank:
                return round(self.latency_ratio ** bucket, 1)
        return None


def budget_status(budgets: dict[str, float | None], spent_today: float, spent_month: float,
                  today_key: str, month_key: str) -> dict[str, Any]:
    """Per period: the budget, what was spent, the percentage and ok / warning / critical."""
    status: dict[str, Any] = {}
    for period, spent, key in (("daily", spent_today, today_key), ("monthly", spent_month, month_key)):
        budget = budgets.get(period)
        if not budget or budget <= 0:
            status[period] = None
            continue
        percent = spent / budget * 100
        level = ("critical" if percent >= CRITICAL_PERCENT else
                 "warning" if percent >= WARNING_PERCENT else "ok")
        status[period] = {"budget_usd": budget, "spent_usd": round(spent, 6),
                          "percent": round(percent, 2), "level": level, "period_key": key}
    return status
