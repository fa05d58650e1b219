"""Model-aware routing: which tier a task is, and where it should run (shell, local Ollama, Claude,
Codex, or a command agent the task names).

Pure functions of the task's YAML fields and what the agent reported, so the decision can be written
into the task file and replayed in tests. The heuristic is documented in ``docs/routing.md``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

TIERS = ("trivial", "standard", "complex")
COMPLEX_DESCRIPTION_CHARS = 1500
COMPLEX_FILES = 6
COMPLEX_STEPS = 7
COMPLEX_HOURS = 4.0
_STEP_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+\S", re.MULTILINE)
_TARGET_COST = {"sidecar": "free", "ollama": "local", "claude": "api", "codex": "api"}
_PREFERENCES = {"trivial": ("sidecar",), "standard": ("ollama", "claude", "codex"),
                "complex": ("claude", "codex")}
_WHY_NOT = {"ollama": "agent reported no local Ollama endpoint (ollama_url)"}
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


def executor_of(fields: Mapping[str, Any]) -> str | None:
    """The executor a task names (``executor:`` at the top level or in metadata), lower case."""
    metadata = fields.get("metadata")
    for source in (fields, metadata if isinstance(metadata, Mapping) else {}):
        value = source.get("executor")
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
    return None


def target_of_executor(executor: str) -> str:
    """``shell`` is the ``sidecar`` target (the Elixir hub's name); other names are their own."""
    return "sidecar" if executor == "shell" else executor


def capability_of(target: str) -> str:
    """The agent capability that runs a target: ``shell`` for the sidecar, else the target's name."""
    return "shell" if target == "sidecar" else target


def _can_run(target: str, capabilities: Sequence[str], ollama_url: str | None,
             executors: Sequence[str] | None) -> bool:
    """An agent that declares its ``executors`` runs exactly those; one that does not (an older
    sidecar) runs shell, its Ollama and Claude as before, and anything else it lists as a capability."""
    if target == "ollama" and not ollama_url:
        return False
    if executors is not None:
        return capability_of(target) in executors
    return target in ("sidecar", "ollama", "claude") or target in capabilities


def choose_target(task_fields: Mapping[str, Any], capabilities: Sequence[str],
                  ollama_url: str | None, executors: Sequence[str] | None = None,
                  tier: str | None = None) -> tuple[str | None, str | None]:
    """``(target, fallback_reason)`` for this agent; target None when it cannot run the task at all
    (the reason then says what the task needs, e.g. "no agent can run claude")."""
    named = executor_of(task_fields)
    if named is not None:
        target = target_of_executor(named)
        if target == "sidecar" and shell_command_of(task_fields) is None:
            return None, "executor shell but no shell_command"
        if _can_run(target, capabilities, ollama_url, executors):
            return target, None
        needs = "an Ollama endpoint (ollama_url)" if target == "ollama" and executors is not None \
            and "ollama" in executors else named
        return None, f"task names executor {named}: this agent cannot run {needs}"
    tier = tier or complexity_of(task_fields)["effective_tier"]
    reasons: list[str] = []
    if tier == "trivial" and shell_command_of(task_fields) is None:
        reasons.append("trivial task has no shell_command")
        tier = "standard"
    for target in _PREFERENCES[tier]:
        if _can_run(target, capabilities, ollama_url, executors):
            return target, "; ".join(reasons) or None
        reasons.append(_WHY_NOT[target] if target == "ollama" and not ollama_url
                       else f"agent cannot run {target}")
    return None, f"{tier} task: " + "; ".join(reasons)


def can_run_task(task_fields: Mapping[str, Any], capabilities: Sequence[str], ollama_url: str | None,
                 executors: Sequence[str] | None = None) -> bool:
    """Whether ``choose_target`` finds a target, without working out the tier when no tier can
    matter (the scheduler asks this for every waiting task and idle agent)."""
    if executor_of(task_fields) is None and (executors is None or (
            "shell" in executors and ("claude" in executors or "codex" in executors))):
        return True  # every tier has a target such an agent runs
    return choose_target(task_fields, capabilities, ollama_url, executors)[0] is not None


def decide(task_fields: Mapping[str, Any], agent_ollama_url: str | None, *,
           default_ollama_model: str, claude_model: str,
           capabilities: Sequence[str] = (), executors: Sequence[str] | None = None,
           now: float | dt.datetime | None = None) -> dict[str, Any]:
    """The routing decision written into the task file and sent in ``task_assign``.

    A task that names its ``executor`` gets it. Otherwise trivial -> the agent's shell (sidecar);
    standard -> the agent's Ollama endpoint (as ``host:port``) with the default model; complex ->
    Claude, or Codex on an agent that has Codex but not Claude. When the agent cannot run the tier's
    first choice the next one is taken (``fallback_used``) with the reason. Only call this for an
    agent ``choose_target`` accepts (the scheduler's ``fits``); otherwise the target is Claude.
    """
    complexity = complexity_of(task_fields)
    tier = complexity["effective_tier"]
    target, fallback_reason = choose_target(task_fields, capabilities, agent_ollama_url, executors, tier)
    if target is None:
        target = "claude"
    endpoint, model = {"sidecar": (None, None),
                       "ollama": (endpoint_of(agent_ollama_url or ""), default_ollama_model),
                       "claude": (None, claude_model)}.get(target, (None, None))
    named = executor_of(task_fields)
    reason = f"{complexity['source']}: {complexity['reason']}"
    return {
        "effective_tier": tier,
        "target_type": target,
        "selected_endpoint": endpoint,
        "selected_model": model,
        "fallback_used": fallback_reason is not None,
        "fallback_reason": fallback_reason,
        "classification_reason": f"task names executor {named}; {reason}" if named else reason,
        "estimated_cost_tier": _TARGET_COST.get(target, "api"),
        "decided_at": _iso(now),
    }
