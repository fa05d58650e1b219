"""Tasks and execution results as the words people read: ages, cost texts, stuck flags.

Pure functions (no I/O) shared by the cards, the task detail panel and the exports, so a cost reads
the same everywhere: ``$X.XXXX`` priced, ``$0.00 (local)`` free local models, ``unpriced`` unknown
models (never a silent $0.00), ``0 tokens, $0.00 (shell execution)`` for tasks run without a model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import attrs

from agentdeck.actors.config import STUCK_AFTER_S
from agentdeck.actors.messages import Task
from agentdeck.actors.numbers import bounded_number, instant_seconds
from agentdeck.actors.telemetry.pricing import is_paid_model

STUCK_NOTE = f"assigned with no change for over {STUCK_AFTER_S / 60:g} minutes"

SHELL_MODELS = (None, "", "none", "shell")


def task_hash(task_id: str) -> str:
    """A short name-safe token for a task id (SSE event names and element ids)."""
    return hashlib.sha1(task_id.encode("utf-8")).hexdigest()[:12]


def short_text(value: Any, limit: int = 500) -> str | None:
    """A field of any type as a short line of text (a hand-edited ``last_error`` may be a list)."""
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)[:limit + 1]
    return text if len(text) <= limit else text[:limit - 1] + "…"


def path_segment(value: Any) -> str:
    """A task id as exactly one URL path segment: ``/``, ``?``, ``#`` and ``%`` encoded too (Jinja's
    ``urlencode`` keeps ``/``, so an id ``../api/tasks`` linked to the JSON API)."""
    return quote(str(value), safe="")


def parse_time(value: Any) -> float | None:
    return instant_seconds(value) if value else None


def stamp_seconds(value: Any) -> float | None:
    """A time as epoch seconds, whether given as ISO text, seconds or milliseconds."""
    seconds = parse_time(value)
    return seconds / 1000 if seconds is not None and seconds > 1e11 else seconds


def age_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def iso(ts: float | None) -> str:
    if not ts:
        return ""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def execution_meta(task: Task, completion: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """What the last attempt cost: the task file's ``result``, else the dashboard's completion."""
    result = task.fields.get("result")
    if isinstance(result, Mapping) and any(k in result for k in ("model_used", "tokens_in", "estimated_cost_usd")):
        return dict(result)
    if completion and isinstance(completion.get("execution_meta"), Mapping):
        return dict(completion["execution_meta"])
    return None


def _number(value: Any) -> float | None:
    number = bounded_number(value, from_text=True)
    return None if number is None else float(number)


def cost_row(meta: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the cost breakdown table, with the display texts already decided."""
    model = meta.get("model_used")
    tokens_in = int(_number(meta.get("tokens_in")) or 0)
    tokens_out = int(_number(meta.get("tokens_out")) or 0)
    cost = _number(meta.get("estimated_cost_usd"))
    equivalent = _number(meta.get("equivalent_claude_cost_usd"))
    shell = model in SHELL_MODELS and tokens_in == 0 and tokens_out == 0
    if shell:
        cost_text, badge = "0 tokens, $0.00 (shell execution)", "shell"
    elif meta.get("priced") is False or cost is None:
        cost_text, badge = "unpriced", "unpriced"
    elif cost == 0 and equivalent is not None and not is_paid_model(model):
        cost_text, badge = "$0.00 (local)", "local"
    else:
        cost_text, badge = f"${cost:.4f}", f"${cost:.4f}"
    saved = None
    if equivalent is not None and equivalent > (cost or 0) and not is_paid_model(model):
        amount = equivalent - (cost or 0)
        saved = f"Saved ${amount:.2f} vs Claude" if amount >= 1 else f"Saved ${amount:.4f} vs Claude"
    return {"model": model or "none", "tokens_in": tokens_in, "tokens_out": tokens_out,
            "cost_text": cost_text, "badge": badge, "saved": saved, "shell": shell,
            "execution_ms": _number(meta.get("execution_ms"))}


def waiting_words(reason: Any) -> dict[str, Any] | None:
    """A ``WaitReason`` as the card and the panel show it (None when there is none)."""
    if reason is None:
        return None
    return {"code": reason.code, "text": reason.text, "task_ids": reason.task_ids,
            "until": iso(reason.until) if reason.until else ""}


def spend_text(cost: Any, priced: Any, tokens: Any) -> str:
    if not tokens:
        return ""
    if priced is False or cost is None:
        return "unpriced"
    return f"≈${cost:.4f}" if cost else "$0.00"


def live_texts(run: Mapping[str, Any]) -> dict[str, str]:
    """The texts of a running task that change with its output: last line, tokens, spend so far."""
    tokens = run.get("tokens")
    return {"line": str(run.get("last_line") or ""), "tokens": f"{tokens:,}" if tokens else "",
            "spend": spend_text(run.get("cost_usd"), run.get("priced"), tokens)}


def running_by_task(snapshot: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per assigned task: whether its agent is working on it, its last line, tokens and spend so far."""
    live = snapshot.get("running") if isinstance(snapshot.get("running"), Mapping) else {}
    out: dict[str, dict[str, Any]] = {}
    for agent in snapshot.get("agents") or []:
        if isinstance(agent, Mapping) and agent.get("current_task_id"):
            out[str(agent["current_task_id"])] = {"state": agent.get("state")}
    for task_id, run in (live or {}).items():
        if isinstance(run, Mapping):
            entry = out.setdefault(str(task_id), {"state": None})
            entry.update(last_line=run.get("last_line") or "", tokens=run.get("tokens"),
                         spend=spend_text(run.get("cost_usd"), run.get("priced"), run.get("tokens")))
    return out


def present_task(task: Task, now: float, completion: Mapping[str, Any] | None = None,
                 waiting: Any = None, running: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A task as a card: the words and flags the board shows (``waiting``: a ``WaitReason``;
    ``running``: from ``running_by_task``)."""
    return card_at(card_base(task, completion, waiting, running), now)


@attrs.frozen
class CardBase:
    """What a card says that does not depend on the clock: worked out once per version of a task
    (and of what the card shows beside it), so a lane of 100 cards redrawn for one change costs
    100 lookups, not 100 presentations."""

    words: dict[str, Any]
    created: float | None
    changed: float | None


def card_base(task: Task, completion: Mapping[str, Any] | None = None, waiting: Any = None,
              running: Mapping[str, Any] | None = None) -> CardBase:
    created = parse_time(task.created) or (task.mtime or None)
    changed = parse_time(task.fields.get("assigned_at")) or task.mtime or created
    meta = execution_meta(task, completion) if task.lane == "done" else None
    return CardBase({
        "id": task.id,
        "hash": task_hash(task.id),
        "title": task.title,
        "priority": task.priority,
        "status": task.status,
        "lane": task.lane,
        "lane_agent": task.lane_agent,
        "agent": task.agent or task.lane_agent,
        "age_iso": iso(created),
        "cost": cost_row(meta)["badge"] if meta else None,
        "retry_count": task.retry_count,
        "last_error": short_text(task.fields.get("last_error")),
        "verification": task.fields.get("verification_status") if task.lane == "done" else None,
        "tags": task.tags,
        "waiting": waiting_words(waiting) if task.lane == "inbox" else None,
        "run": _run_words(task, changed, running) if task.lane == "assigned" else None,
    }, created, changed)


def card_at(base: CardBase, now: float) -> dict[str, Any]:
    """The card at ``now``: its ages and whether it looks stuck."""
    created, changed = base.created, base.changed
    return {**base.words,
            "age": age_text(now - created) if created else "",
            "run_age": age_text(now - changed) if changed and base.words["run"] is not None else "",
            "stuck": stuck_at(base, now)}


def stuck_at(base: CardBase, now: float) -> str | None:
    """Why the card looks stuck at ``now`` (an assigned task unchanged for too long), or None."""
    changed = base.changed
    return STUCK_NOTE if (base.words["lane"] == "assigned" and changed is not None
                          and now - changed > STUCK_AFTER_S) else None


def _run_words(task: Task, started: float | None, running: Mapping[str, Any] | None) -> dict[str, Any]:
    running = running or {}
    state = running.get("state")
    return {"state": "working" if state == "working" else "assigned" if state else "waiting for agent",
            "live": state == "working", "started_iso": iso(started),
            "last_line": running.get("last_line") or "", "spend": running.get("spend") or "",
            "tokens": running.get("tokens")}


_QUIET_KINDS = frozenset(("execution_event", "task.progress", "telemetry.changed", "agent.report",
                          "resync", "agent.state_changed"))


def _activity_text(event: Any) -> str:
    kind = event.kind
    agent = getattr(event, "agent_id", None)
    if kind == "task.moved":
        return f"moved {event.previous.lane} → {event.task.lane}"
    if kind == "task.assigned":
        return f"assigned to {agent or event.task.lane_agent or '?'}"
    if kind == "task.completed":
        return f"completed by {agent or event.task.lane_agent or '?'}"
    if kind in ("task.retried", "task.dead_letter"):
        word = "retrying" if kind == "task.retried" else "dead letter"
        return f"{word} after attempt {event.retry_count}: {event.error}"
    if kind == "task.reclaimed":
        return f"reclaimed from {agent or '?'}: {event.reason}"
    if kind == "task.invalid":
        return f"{event.path}: {event.invalid.error}" if event.invalid else f"{event.path} is valid again"
    if kind == "task.conflict":
        return f"duplicate id {event.task_id}: {', '.join(event.paths)}"
    if kind == "agent.joined":
        return f"{event.name or event.agent_id} connected"
    if kind == "agent.left":
        return f"{event.agent_id} left" + (f": {event.reason}" if event.reason else "")
    if kind == "actor.restarted":
        return f"{event.name} restarted ({event.restarts}): {event.error}"
    if kind == "budget.threshold":
        return f"{event.period} budget at {event.level}%: ${event.spent:.2f} of ${event.budget:.2f}"
    if kind == "watcher.mode":
        return f"watching by {event.mode}: {event.reason}"
    for name in ("message", "error", "reason"):
        if getattr(event, name, None):
            return str(getattr(event, name))
    return kind.split(".", 1)[-1].replace("_", " ")


def activity_entry(event: Any) -> dict[str, Any] | None:
    """A bus event as one line of the activity feed, or None for events too chatty to list."""
    if event.kind in _QUIET_KINDS:
        return None
    task = getattr(event, "task", None)
    level = "error" if event.kind in ("task.dead_letter", "actor.restarted", "board.write_failed") else (
        "warn" if event.kind in ("task.invalid", "task.conflict", "task.retried", "task.reclaimed",
                                 "budget.threshold", "security.warning") else "info")
    return {"at": event.at, "iso": iso(event.at), "kind": event.kind, "level": level,
            "text": _activity_text(event), "task_id": task.id if task else None,
            "title": task.title if task else None}


def agent_row(agent_id: str, agent: Mapping[str, Any], running: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the agents table: state, the task it holds (never for an offline agent), how long
    in this state, its last output line, tokens and spend so far."""
    state = str(agent.get("state") or "offline")
    task_id = agent.get("current_task_id") if state != "offline" else None
    run = running.get(task_id) if task_id else None
    run = run if isinstance(run, Mapping) else {}
    return {**agent, "key": task_hash(agent_id), "state": state, "current_task_id": task_id,
            "task_hash": task_hash(task_id) if task_id else "",
            "since": iso(stamp_seconds(agent.get("connected_at"))),
            "state_since": iso(stamp_seconds(agent.get("last_state_change"))),
            "last_line": run.get("last_line") or "", "tokens": run.get("tokens"),
            "spend": spend_text(run.get("cost_usd"), run.get("priced"), run.get("tokens"))}
