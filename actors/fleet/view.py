"""The fleet view's state: every hub seen on the broker, folded from what they publish (no I/O).

A hub is *up* while its published state keeps changing (each state carries a sequence number the
hub bumps at least every heartbeat); when it has not changed for ``stale_after`` seconds of the
fleet's own clock the hub is *unreachable*, and *stopped* when it said so before going. Times from
hubs are only shown, never trusted for these decisions. Everything read is untrusted: fields are
checked and shortened (``wire.text`` / ``wire.number``), and a bad entry is dropped.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from agentdeck.actors.config import HUB_ID
from agentdeck.actors.fleet import wire

STALE_AFTER = 3.0  # seconds without a new state: the hub is unreachable
FORGET_AFTER = 3600.0  # a hub unseen this long leaves the view
FEED_SIZE = 200


@attrs.define
class HubRecord:
    hub: str
    url: str | None = None
    board: str | None = None
    state: dict[str, Any] | None = None
    seq: Any = None
    changed_at: float | None = None  # fleet clock (monotonic) of the last new state
    stopped: bool = False
    stopped_at: float = 0.0  # the hub's clock
    first_seen: float = 0.0


def _iso(at: float) -> str:
    try:
        return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return ""


def _safe_url(value: Any) -> str | None:
    url = wire.text(value, 300)
    return url if url is not None and url.startswith(("http://", "https://")) else None


class FleetView:
    def __init__(self, *, stale_after: float = STALE_AFTER, feed_size: int = FEED_SIZE,
                 forget_after: float = FORGET_AFTER) -> None:
        self.stale_after = stale_after
        self.forget_after = forget_after
        self.feed_size = feed_size
        self.hubs: dict[str, HubRecord] = {}
        self.feed: list[tuple[float, str, str, dict[str, Any]]] = []  # sorted by (at, hub, entry id)
        self.broker: dict[str, Any] = {"connected": False, "error": None, "down_since": None}
        self.fleet_stats: dict[str, Any] | None = None
        self.fleet_stats_error: str | None = None
        self.version = 0

    # ------------------------------------------------------------------ inputs

    def registered(self, registry: Mapping[str, Any], now: float) -> list[str]:
        """The broker's hub registry (id -> JSON); returns the ids seen for the first time."""
        new = []
        for hub, raw in registry.items():
            if not HUB_ID.fullmatch(hub):
                continue
            record = self.hubs.get(hub)
            if record is None:
                record = self.hubs[hub] = HubRecord(hub, first_seen=now)
                new.append(hub)
                self.version += 1
            info = wire.decode(raw) or {}
            url, board = _safe_url(info.get("url")), wire.text(info.get("board"), 300)
            if (url, board) != (record.url, record.board):
                record.url, record.board = url, board
                self.version += 1
        return new

    def state(self, hub: str, raw: Any, now: float) -> None:
        record = self.hubs.get(hub)
        if record is None:
            return
        state = wire.decode(raw)
        if state is None:
            return
        seq = state.get("seq")
        sent_at = wire.number(state.get("sent_at")) or 0.0
        if record.stopped and sent_at <= record.stopped_at:
            return  # sent before the hub said it stopped (both times are the hub's own clock)
        if seq != record.seq:
            record.seq, record.changed_at, record.stopped = seq, now, False
            if state != record.state:
                record.state = state
            self.version += 1

    def entries(self, hub: str, entries: Iterable[tuple[str, Any]]) -> None:
        """Stream entries ``(id, raw JSON)`` of one hub, oldest first."""
        record = self.hubs.get(hub)
        for entry_id, raw in entries:
            entry = wire.decode(raw)
            if entry is None:
                continue
            at = wire.number(entry.get("at")) or 0.0
            item = {"hub": hub, "at": at, "iso": _iso(at), "kind": wire.text(entry.get("kind"), 40) or "?",
                    "task_id": wire.text(entry.get("task_id"), 200), "title": wire.text(entry.get("title"), 120),
                    "agent": wire.text(entry.get("agent"), 100), "text": wire.text(entry.get("text")) or "",
                    "level": wire.text(entry.get("level"), 10) or "info"}
            if item["kind"] == "hub.stopped" and record is not None:
                record.stopped, record.stopped_at = True, at
            bisect.insort(self.feed, (at, hub, entry_id, item), key=lambda row: row[:3])
            if len(self.feed) > self.feed_size:
                del self.feed[0]
            self.version += 1

    def broker_up(self) -> None:
        if not self.broker["connected"]:
            self.broker = {"connected": True, "error": None, "down_since": None}
            self.version += 1

    def broker_down(self, error: str, wall: float) -> None:
        if self.broker["connected"] or self.broker["error"] != error:
            self.broker = {"connected": False, "error": error, "down_since": self.broker["down_since"] or wall}
            self.version += 1

    def costs(self, stats: dict[str, Any] | None, error: str | None = None) -> None:
        """The fleet's figures read from the shared telemetry database (None: not configured)."""
        if stats is not None:
            self.fleet_stats = stats
        self.fleet_stats_error = error
        self.version += 1

    # ------------------------------------------------------------------ output

    def status_of(self, record: HubRecord, now: float) -> str:
        if record.changed_at is not None and now - record.changed_at <= self.stale_after:
            return "up"
        return "stopped" if record.stopped else "unreachable"

    def forget_gone(self, now: float) -> None:
        gone = [hub for hub, record in self.hubs.items()
                if now - (record.changed_at if record.changed_at is not None else record.first_seen)
                > self.forget_after]
        for hub in gone:
            del self.hubs[hub]
            self.version += 1

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """Everything the fleet page shows, JSON-ready."""
        now = time.monotonic() if now is None else now
        hubs, agents = [], []
        lanes = dict.fromkeys(wire.LANES, 0)
        spent = {"today": 0.0, "month": 0.0, "total": 0.0}
        budget = None
        for hub in sorted(self.hubs):
            record = self.hubs[hub]
            state = record.state or {}
            status = self.status_of(record, now)
            hub_lanes = {lane: _count((state.get("lanes") or {}).get(lane)) for lane in wire.LANES}
            hub_agents = [a for a in (state.get("agents") or []) if isinstance(a, Mapping)]
            costs: Mapping[str, Any] = _mapping(state.get("costs"))
            health: Mapping[str, Any] = _mapping(state.get("health"))
            hub_costs = {period: wire.number(costs.get(period)) for period in ("today", "month", "total")}
            row: dict[str, Any] = {
                "hub": hub, "url": record.url, "board": record.board, "status": status,
                "seen_s_ago": None if record.changed_at is None else round(now - record.changed_at, 1),
                "lanes": hub_lanes, "agents": len(hub_agents),
                "working": sum(1 for a in hub_agents if a.get("state") in ("assigned", "working")),
                "health": wire.text(health.get("status"), 20) or "unknown",
                "conditions": [c for c in (wire.text(c) for c in health.get("conditions") or []) if c][:20],
                "costs": hub_costs,
                "telemetry": _buffering(state.get("telemetry"), "pending_writes"),
                "broker": _buffering(state.get("broker"), "pending_events"),
            }
            hubs.append(row)
            if status == "up":
                for lane in wire.LANES:
                    lanes[lane] += hub_lanes[lane]
                for agent in hub_agents:
                    agents.append({"hub": hub, "hub_url": record.url,
                                   "agent_id": wire.text(agent.get("agent_id"), 100),
                                   "name": wire.text(agent.get("name"), 100),
                                   "state": wire.text(agent.get("state"), 20) or "unknown",
                                   "task_id": wire.text(agent.get("task_id"), 200)})
            for period in spent:
                spent[period] += hub_costs[period] or 0.0
            if isinstance(state.get("fleet_budget"), Mapping) and status == "up":
                budget = state["fleet_budget"]
        return {
            "broker": dict(self.broker),
            "hubs": hubs,
            "up": sum(1 for h in hubs if h["status"] == "up"),
            "lanes": lanes,
            "agents": agents,
            "costs": self._costs(spent, budget),
            "feed": [item for *_, item in reversed(self.feed)],
            "generated_at": _iso(time.time()),
        }

    def _costs(self, spent: dict[str, float], budget: Any) -> dict[str, Any]:
        stats = self.fleet_stats
        if stats is not None:
            return {"source": "database", "error": self.fleet_stats_error,
                    "today": _money(stats.get("today")), "month": _money(stats.get("month")),
                    "total": _money(stats.get("all_time")), "budget": _budget(stats.get("budget")),
                    "by_hub": [{"hub": wire.text(part.get("hub"), 64), "today": _money(part.get("today")),
                                "month": _money(part.get("month")), "total": _money(part.get("all_time"))}
                               for part in stats.get("by_hub") or [] if isinstance(part, Mapping)]}
        return {"source": "hubs", "error": self.fleet_stats_error, **{k: round(v, 6) for k, v in spent.items()},
                "budget": _budget(budget), "by_hub": []}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _money(value: Any) -> float | None:
    if isinstance(value, Mapping):
        return wire.number(value.get("cost_usd"))
    return wire.number(value)


def _budget(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        return {}
    shown = {}
    for period in ("daily", "monthly"):
        part = raw.get(period)
        if isinstance(part, Mapping):
            shown[period] = {"budget_usd": wire.number(part.get("budget_usd")),
                             "spent_usd": wire.number(part.get("spent_usd")),
                             "percent": wire.number(part.get("percent")),
                             "level": wire.text(part.get("level"), 10) or "ok"}
    return shown


def _buffering(raw: Any, pending_key: str) -> dict[str, Any]:
    part = raw if isinstance(raw, Mapping) else {}
    pending = _count(part.get(pending_key))
    return {"pending": pending, "error": wire.text(part.get("error")),
            "buffering": bool(part.get("error")) and pending > 0}
