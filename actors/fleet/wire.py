"""What a hub publishes on the broker for ``agentdeck fleet``, and how it is read back (pure functions).

Per hub, in Redis:
- ``agentdeck:hub:<id>:events``: a stream of lifecycle events (tasks, agents, budgets, actor
  restarts; execution output only when asked, shortened), capped with ``XADD MAXLEN ~``. Each entry
  has one field, ``e``: a small JSON object (``kind``, ``at``, ``task_id``, ``title``, ``agent``,
  ``text``, ``level``).
- ``agentdeck:hub:<id>:state``: the hub's current state (lane counts, agents, costs, health, what it
  is buffering), JSON, rewritten when it changes and at least every heartbeat, with a TTL: a key
  that stops changing, or is gone, is a hub that stopped publishing.
- ``agentdeck:hubs``: a hash, hub id -> JSON registration (its dashboard URL, board, start time).

Everything read back is untrusted input: ``decode_*`` never raise on a bad value, they drop it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from agentdeck.actors.messages import (
    ActorRestarted,
    AgentJoined,
    AgentLeft,
    AgentStateChanged,
    BoardWriteFailed,
    BudgetThreshold,
    Event,
    ExecutionEvent,
    TaskAssigned,
    TaskCompleted,
    TaskCreated,
    TaskFailed,
    TaskMoved,
    TaskReclaimed,
    TaskRemoved,
    TaskRequeued,
)

REGISTRY_KEY = "agentdeck:hubs"
ENTRY_FIELD = "e"
MAX_TEXT = 240  # characters of text kept per entry (execution output is shortened to this)
MAX_LIST = 500  # agents kept per hub state
LANES = ("inbox", "assigned", "done", "dead")


def events_key(hub: str) -> str:
    return f"agentdeck:hub:{hub}:events"


def state_key(hub: str) -> str:
    return f"agentdeck:hub:{hub}:state"


def _short(text: Any, limit: int = MAX_TEXT) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def entry_for(event: Event, *, output: bool = False) -> dict[str, Any] | None:
    """The feed entry an event becomes on the broker; None for events a fleet does not show."""
    base: dict[str, Any] = {"kind": event.kind, "at": event.at}
    if isinstance(event, TaskFailed):  # retried and dead-lettered
        level = "error" if event.kind == "task.dead_letter" else "warning"
        return {**base, **_task(event.task), "agent": event.agent_id, "level": level,
                "text": _short(event.error)}
    if isinstance(event, TaskCompleted):
        result = event.result
        cost = result.estimated_cost_usd if result is not None else None
        text = f"${cost:.4f}" if isinstance(cost, (int, float)) and math.isfinite(cost) else ""
        return {**base, **_task(event.task), "agent": event.agent_id or event.task.lane_agent,
                "level": "info", "text": text}
    if isinstance(event, TaskAssigned):
        return {**base, **_task(event.task), "agent": event.agent_id, "level": "info", "text": ""}
    if isinstance(event, TaskReclaimed):
        return {**base, **_task(event.task), "agent": event.agent_id, "level": "warning",
                "text": _short(event.reason)}
    if isinstance(event, (TaskCreated, TaskRequeued, TaskRemoved)):
        return {**base, **_task(event.task), "level": "info", "text": ""}
    if isinstance(event, TaskMoved):
        return {**base, **_task(event.task), "level": "info", "text": f"{event.previous.lane} → {event.task.lane}"}
    if isinstance(event, AgentJoined):
        return {**base, "agent": event.agent_id, "level": "info", "text": _short(event.name)}
    if isinstance(event, AgentLeft):
        return {**base, "agent": event.agent_id, "level": "warning", "text": _short(event.reason)}
    if isinstance(event, AgentStateChanged):
        return {**base, "agent": event.agent_id, "task_id": event.task_id, "level": "info",
                "text": event.state}
    if isinstance(event, BudgetThreshold):
        level = "error" if event.level >= 100 else "warning"
        return {**base, "level": level, "scope": event.scope,
                "text": f"{event.scope} {event.period} budget at {event.level} % "
                        f"(${event.spent:.2f} of ${event.budget:.2f})"}
    if isinstance(event, ActorRestarted):
        return {**base, "level": "warning", "text": _short(f"{event.name}: {event.error}")}
    if isinstance(event, BoardWriteFailed):
        return {**base, "task_id": event.task_id, "level": "error", "text": _short(event.error)}
    if isinstance(event, ExecutionEvent) and output:
        return {**base, "task_id": event.task_id, "agent": event.agent_id, "level": "output",
                "text": _short(event.text)}
    return None


def _task(task: Any) -> dict[str, Any]:
    return {"task_id": task.id, "title": _short(task.title, 120), "lane": task.lane}


def encode(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)


def hub_state(hub: str, seq: int, sent_at: float, snapshot: Mapping[str, Any],
              telemetry: Mapping[str, Any] | None, fleet_stats: Mapping[str, Any] | None,
              broker: Mapping[str, Any]) -> dict[str, Any]:
    """The state a hub publishes, from its dashboard snapshot and its telemetry's figures."""
    queue = snapshot.get("queue") or {}
    lanes = queue.get("by_status") or {}
    health = snapshot.get("health") or {}
    agents = [{"agent_id": a.get("agent_id"), "name": a.get("name"), "state": a.get("state"),
               "task_id": a.get("current_task_id")} for a in (snapshot.get("agents") or [])[:MAX_LIST]]
    costs = snapshot.get("costs") or {}
    source = (telemetry or {}).get("source") or {}
    return {
        "hub": hub, "seq": seq, "sent_at": sent_at,
        "lanes": {lane: _count(lanes.get(lane)) for lane in LANES},
        "agents": agents,
        "health": {"status": str(health.get("status") or "unknown"),
                   "conditions": [_short(c) for c in (health.get("conditions") or [])][:20]},
        "costs": {"today": costs.get("today"), "month": costs.get("month"), "total": costs.get("total")},
        "fleet_budget": (fleet_stats or {}).get("budget"),
        "telemetry": {"location": source.get("path"), "fresh": source.get("fresh"),
                      "error": source.get("error"), "pending_writes": source.get("pending_writes", 0)},
        "broker": dict(broker),
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def decode(raw: bytes | str | None) -> dict[str, Any] | None:
    """A JSON object read from the broker; None for anything else (garbage is dropped, not raised)."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A string field of untrusted data, shortened; None when absent or not a string/number."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return _short(value, limit)


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
