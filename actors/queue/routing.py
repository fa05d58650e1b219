"""Model-aware routing: which tier a task is, and where it should run (shell, local Ollama, Claude).

Pure functions of the task's YAML fields and what the agent reported, so the decision can be written
into the task file and replayed in tests. The heuristic is documented in ``docs/routing.md``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

TIERS = ("trivial", "standard", "complex")
COMPLEX_DESCRIPTION_CHARS = 1500
COMPLEX_FILES = 6
COMPLEX_STEPS = 7
COMPLEX_HOURS = 4.0
_STEP_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+\S", re.MULTILINE)
_TARGET_COST = {"sidecar": "free", "ollama": "local", "claude": "api"}
OLLAMA_PORT = 11434


def endpoint_of(ollama_url: str) -> str:
    """``http://host:port/...`` -> ``host:port``: the form the Elixir hub's sidecars parse."""
    text = ollama_url.strip()
    try:
        parts = urlsplit(text if "://" in text else "http://" + text)
        host, port = parts.hostname, parts.port
    except ValueError:
        return text
    if not host:
        return text
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port or OLLAMA_PORT}"


def shell_command_of(fields: Mapping[str, Any]) -> str | None:
    """The task's shell command: top-level ``shell_command`` or ``metadata.shell_command``."""
    metadata = fields.get("metadata")
    for source in (fields, metadata if isinstance(metadata, Mapping) else {}):
        command = source.get("shell_command")
        if isinstance(command, str) and command.strip():
            return command
    return None


def _explicit_tier(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("effective_tier") or value.get("tier") or value.get("explicit_tier")
    if isinstance(value, str) and value.strip().lower() in TIERS:
        return value.strip().lower()
    return None


def _count(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        return len(value)
    return 1 if isinstance(value, str) and value.strip() else 0


def _signals(fields: Mapping[str, Any]) -> dict[str, Any]:
    description = fields.get("description")
    description = description if isinstance(description, str) else ""
    steps = max(_count(fields.get("steps")), _count(fields.get("verification_steps")),
                len(_STEP_LINE.findall(description)))
    hours = fields.get("estimated_hours", fields.get("estimated_effort_hours"))
    return {"has_shell_command": shell_command_of(fields) is not None,
            "description_chars": len(description), "files": _count(fields.get("file_hints")),
            "steps": steps,
            "estimated_hours": hours if isinstance(hours, (int, float))
            and not isinstance(hours, bool) else None}


def _infer(signals: Mapping[str, Any]) -> tuple[str, str]:
    if signals["has_shell_command"]:
        return "trivial", "has a shell_command"
    reasons = []
    if signals["description_chars"] > COMPLEX_DESCRIPTION_CHARS:
        reasons.append(f"description over {COMPLEX_DESCRIPTION_CHARS} characters")
    if signals["files"] >= COMPLEX_FILES:
        reasons.append(f"{signals['files']} files (>= {COMPLEX_FILES})")
    if signals["steps"] >= COMPLEX_STEPS:
        reasons.append(f"{signals['steps']} steps (>= {COMPLEX_STEPS})")
    if (signals["estimated_hours"] or 0) >= COMPLEX_HOURS:
        reasons.append(f"estimated {signals['estimated_hours']} h (>= {COMPLEX_HOURS:g})")
    if reasons:
        return "complex", "; ".join(reasons)
    return "standard", (f"{signals['description_chars']} characters, {signals['files']} files, "
                        f"{signals['steps']} steps: below the complex thresholds")


def complexity_of(task_fields: Mapping[str, Any]) -> dict[str, Any]:
    """``{effective_tier, source: explicit|inferred, explicit_tier, inferred_tier, reason, signals}``."""
    signals = _signals(task_fields)
    inferred, why = _infer(signals)
    explicit = _explicit_tier(task_fields.get("complexity"))
    if explicit is not None:
        return {"effective_tier": explicit, "source": "explicit", "explicit_tier": explicit,
                "inferred_tier": inferred, "reason": f"complexity field says {explicit}",
                "signals": signals}
    raw = task_fields.get("complexity")
    if raw is not None:
        why = f"complexity field {str(raw)[:60]!r} not one of {list(TIERS)}; heuristic: {why}"
    return {"effective_tier": inferred, "source": "inferred", "explicit_tier": None,
            "inferred_tier": inferred, "reason": why, "signals": signals}


def _iso(now: float | dt.datetime | None) -> str:
    if now is None:
        moment = dt.datetime.now(dt.UTC)
    elif isinstance(now, dt.datetime):
        moment = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
    else:
        moment = dt.datetime.fromtimestamp(now, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decide(task_fields: Mapping[str, Any], agent_ollama_url: str | None, *,
           default_ollama_model: str, claude_model: str,
           now: float | dt.datetime | None = None) -> dict[str, Any]:
    """The routing decision written into the task file and sent in ``task_assign``.

    trivial -> the agent's shell (sidecar); standard -> the agent's Ollama endpoint (as
    ``host:port``) with the default model; complex -> Claude. A standard task on an agent without
    ``ollama_url``, or a trivial one without a shell command, falls back (``fallback_used``) with the reason.
    """
    complexity = complexity_of(task_fields)
    tier = complexity["effective_tier"]
    fallback_reason = None
    target = {"trivial": "sidecar", "standard": "ollama", "complex": "claude"}[tier]
    if target == "sidecar" and shell_command_of(task_fields) is None:
        target, fallback_reason = "ollama", "trivial task has no shell_command"
    if target == "ollama" and not agent_ollama_url:
        target = "claude"
        fallback_reason = ((fallback_reason + "; ") if fallback_reason else "") + \
            "agent reported no local Ollama endpoint (ollama_url)"
    endpoint, model = {"sidecar": (None, None),
                       "ollama": (endpoint_of(agent_ollama_url or ""), default_ollama_model),
                       "claude": (None, claude_model)}[target]
    return {
        "effective_tier": tier,
        "target_type": target,
        "selected_endpoint": endpoint,
        "selected_model": model,
        "fallback_used": fallback_reason is not None,
        "fallback_reason": fallback_reason,
        "classification_reason": f"{complexity['source']}: {complexity['reason']}",
        "estimated_cost_tier": _TARGET_COST[target],
        "decided_at": _iso(now),
    }
