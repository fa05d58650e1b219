"""The dashboard's health rules: pure functions from what the dashboard state knows to named conditions.

Each rule returns zero or more ``Condition``s; the status is the worst severity among them. Times are
trio clock readings (``trio.current_time()``), so tests can drive every rule with ``autojump_clock``
or plain numbers. The rules are separate from the actor so each can be tested on its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

import attrs

from agentdeck.actors.config import STUCK_AFTER_S

AGENT_OFFLINE_WINDOW = 600.0  # an agent that left within this many seconds is "recently seen"
QUEUE_GROWTH_CHECKS = 3  # consecutive growing samples before the queue counts as growing
RESTART_WINDOW = 600.0  # an actor restart is news for this long
CRASH_LOOP_CRASHES = 5  # an actor that crashes this often ...
CRASH_LOOP_WINDOW = 60.0  # ... within this many seconds is crash-looping: health is critical
FAILURE_RATE_CRITICAL = 0.5

SEVERITY_RANK = {"ok": 0, "warning": 1, "critical": 2}


@attrs.frozen
class Condition:
    name: str
    severity: str  # "warning" | "critical"
    detail: str
    task_ids: tuple[str, ...] = ()  # the tasks it names, all of them (the detail shows a few)

    def text(self) -> str:
        return f"{self.name}: {self.detail}"


def status_of(conditions: Iterable[Condition]) -> str:
    """The worst severity among ``conditions``; "ok" when there are none."""
    worst = "ok"
    for condition in conditions:
        if SEVERITY_RANK[condition.severity] > SEVERITY_RANK[worst]:
            worst = condition.severity
    return worst


def agents_offline(offline_since: Mapping[str, float], now: float,
                   window: float = AGENT_OFFLINE_WINDOW) -> list[Condition]:
    """Agents that were connected within ``window`` seconds and are offline now."""
    return [Condition("agent_offline", "warning", f"agent {agent_id} went offline {_ago(now - since)}")
            for agent_id, since in sorted(offline_since.items()) if now - since <= window]


def queue_growing(samples: Sequence[int], checks: int = QUEUE_GROWTH_CHECKS) -> list[Condition]:
    """The queued count grew on each of the last ``checks`` periodic samples."""
    recent = list(samples)[-(checks + 1):]
    if len(recent) < checks + 1 or any(b <= a for a, b in itertools.pairwise(recent)):
        return []
    trail = " -> ".join(str(n) for n in recent)
    return [Condition("queue_growing", "warning", f"queued tasks grew on {checks} checks in a row ({trail})")]


def stuck_tasks(last_activity: Mapping[str, float], now: float,
                limit: float = STUCK_AFTER_S) -> list[Condition]:
    """Assigned tasks without any progress for more than ``limit`` seconds (one condition for all)."""
    stuck = sorted(task_id for task_id, seen in last_activity.items() if now - seen > limit)
    if not stuck:
        return []
    shown = ", ".join(stuck[:5]) + (f" and {len(stuck) - 5} more" if len(stuck) > 5 else "")
    return [Condition("task_stuck", "warning",
                      f"{len(stuck)} assigned task(s) without progress for over {_ago(limit, suffix='')}: "
                      f"{shown}", tuple(stuck))]


def failure_rate(completed: int, failed: int,
                 threshold: float = FAILURE_RATE_CRITICAL) -> list[Condition]:
    """More than ``threshold`` of the tasks finished in the last hour failed."""
    finished = completed + failed
    if finished == 0 or failed / finished <= threshold:
        return []
    return [Condition("high_failure_rate", "critical",
                      f"{failed} of {finished} tasks finished in the last hour failed "
                      f"({failed / finished:.0%})")]


def budget_thresholds(levels: Mapping[str, tuple[int, float, float]]) -> list[Condition]:
    """Budget levels telemetry reported for the current periods: ``period -> (level, spent, budget)``."""
    conditions = []
    for period, (level, spent, budget) in sorted(levels.items()):
        severity = "critical" if level >= 100 else "warning"
        conditions.append(Condition("budget", severity,
                                    f"{period} budget at {level} % (${spent:.2f} of ${budget:.2f})"))
    return conditions


def invalid_files(paths: Iterable[str]) -> list[Condition]:
    paths = sorted(paths)
    if not paths:
        return []
    shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return [Condition("invalid_task_files", "warning", f"{len(paths)} task file(s) cannot be read: {shown}")]


def actor_restarts(restarts: Mapping[str, tuple[float, int]], now: float,
                   window: float = RESTART_WINDOW, looping: Iterable[str] = ()) -> list[Condition]:
    """Actors restarted within ``window`` seconds: ``name -> (when, restart count)``; the ones in
    ``looping`` are left to ``actor_crash_loops``, which says more."""
    skip = set(looping)
    return [Condition("actor_restarted", "warning",
                      f"actor {name} restarted {_ago(now - when)} ({count} restart(s) in all)")
            for name, (when, count) in sorted(restarts.items()) if now - when <= window and name not in skip]


def looping_actors(crashes: Mapping[str, Sequence[float]], now: float, *, times: int = CRASH_LOOP_CRASHES,
                   window: float = CRASH_LOOP_WINDOW) -> list[str]:
    """Actors that crashed ``times`` times within the last ``window`` seconds (crash times, oldest first)."""
    return [name for name, when in sorted(crashes.items())
            if sum(1 for t in when if now - t <= window) >= times]


def actor_crash_loops(crashes: Mapping[str, Sequence[float]], errors: Mapping[str, str], now: float, *,
                      times: int = CRASH_LOOP_CRASHES, window: float = CRASH_LOOP_WINDOW) -> list[Condition]:
    """The supervisor restarts a crashing actor forever; one that keeps crashing is critical, named
    with its last error, until it has run ``window`` seconds without ``times`` crashes."""
    return [Condition("actor_crash_loop", "critical",
                      f"actor {name} crashed {times} times within {window:.0f} s; last: "
                      f"{errors.get(name, 'unknown error')}")
            for name in looping_actors(crashes, now, times=times, window=window)]


def watcher_polling(mode: str | None, reason: str = "") -> list[Condition]:
    if mode != "polling":
        return []
    return [Condition("watcher_polling", "warning",
                      "the board is polled, not watched" + (f" ({reason})" if reason else ""))]


def security_warnings(messages: Iterable[str]) -> list[Condition]:
    """Warnings the hub published about its exposure, e.g. agents accepted without tokens."""
    return [Condition("security", "warning", message) for message in sorted(set(messages))]


def _ago(seconds: float, suffix: str = " ago") -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s{suffix}"
    return f"{seconds / 60:.0f} min{suffix}"
