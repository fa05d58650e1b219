"""The dashboard's health rules and the sliding hour, as pure functions of their inputs."""

from __future__ import annotations

from agentdeck.actors.dashboard import health
from agentdeck.actors.dashboard.health import Condition
from agentdeck.actors.dashboard.throughput import SlidingHour


def names(conditions: list[Condition]) -> list[str]:
    return [c.name for c in conditions]


def test_status_is_the_worst_condition():
    warning = Condition("a", "warning", "x")
    critical = Condition("b", "critical", "y")
    assert health.status_of([]) == "ok"
    assert health.status_of([warning]) == "warning"
    assert health.status_of([warning, critical, warning]) == "critical"
    assert warning.text() == "a: x"


def test_agent_offline_only_while_recently_seen():
    offline = {"a1": 100.0, "a2": 0.0}
    found = health.agents_offline(offline, now=650.0)
    assert names(found) == ["agent_offline"]
    assert "a1" in found[0].detail and "9 min ago" in found[0].detail
    assert health.agents_offline(offline, now=701.0) == []


def test_queue_growing_needs_three_consecutive_increases():
    assert health.queue_growing([0, 1, 2]) == []  # only two checks grew
    assert health.queue_growing([0, 1, 1, 2]) == []  # a flat check breaks the run
    assert health.queue_growing([3, 2, 1, 0]) == []
    grew = health.queue_growing([5, 0, 1, 2, 3])
    assert names(grew) == ["queue_growing"] and "0 -> 1 -> 2 -> 3" in grew[0].detail


def test_stuck_tasks_after_five_minutes_without_progress():
    activity = {"t1": 0.0, "t2": 100.0}
    assert health.stuck_tasks(activity, now=300.0) == []
    stuck = health.stuck_tasks(activity, now=300.5)
    assert names(stuck) == ["task_stuck"] and "t1" in stuck[0].detail and "t2" not in stuck[0].detail
    assert stuck[0].task_ids == ("t1",)  # all of them, for the popover's links
    many = health.stuck_tasks({f"t{i}": 0.0 for i in range(8)}, now=1000.0)
    assert "8 assigned" in many[0].detail and "and 3 more" in many[0].detail


def test_failure_rate_is_critical_above_half():
    assert health.failure_rate(0, 0) == []
    assert health.failure_rate(2, 2) == []  # exactly half is not "more than half"
    found = health.failure_rate(1, 2)
    assert names(found) == ["high_failure_rate"] and found[0].severity == "critical"
    assert "2 of 3" in found[0].detail


def test_budget_levels():
    found = health.budget_thresholds({"daily": (80, 8.0, 10.0), "monthly": (100, 120.0, 100.0)})
    assert [(c.name, c.severity) for c in found] == [("budget", "warning"), ("budget", "critical")]
    assert "daily budget at 80 %" in found[0].detail and "$120.00 of $100.00" in found[1].detail


def test_invalid_files_restarts_watcher_security():
    assert health.invalid_files([]) == []
    invalid = health.invalid_files(["inbox/a.yaml", "inbox/b.yaml", "x", "y"])
    assert "4 task file(s)" in invalid[0].detail and "and 1 more" in invalid[0].detail
    assert names(health.actor_restarts({"queue": (0.0, 2)}, now=600.0)) == ["actor_restarted"]
    assert health.actor_restarts({"queue": (0.0, 2)}, now=600.5) == []
    assert health.watcher_polling("native") == []
    assert "inotify" in health.watcher_polling("polling", "inotify limit")[0].detail
    assert len(health.security_warnings(["no tokens", "no tokens"])) == 1


def test_sliding_hour_counts_each_entry_for_exactly_an_hour():
    hour = SlidingHour()
    hour.add(0.0, ok=True, duration_ms=1000, tokens=10)
    hour.add(1800.0, ok=True, duration_ms=3000, tokens=20)
    hour.add(1900.0, ok=False, tokens=5)
    assert hour.json() == {"completed_last_hour": 2, "failed_last_hour": 1, "avg_completion_ms": 2000,
                           "total_tokens_hour": 35}
    assert hour.expire(3600.0) is False  # the first entry is still exactly within the hour
    assert hour.expire(3600.5) is True
    assert hour.json() == {"completed_last_hour": 1, "failed_last_hour": 1, "avg_completion_ms": 3000,
                           "total_tokens_hour": 25}
    assert hour.next_expiry() == 5400.0
    hour.expire(5500.1)
    assert hour.json() == {"completed_last_hour": 0, "failed_last_hour": 0, "avg_completion_ms": None,
                           "total_tokens_hour": 0}
    assert hour.next_expiry() is None


def test_an_actor_crashing_five_times_in_a_minute_is_critical_and_says_why():
    crashes = {"queue": [0.0, 10.0, 20.0, 30.0, 40.0], "watcher": [0.0, 100.0]}
    errors = {"queue": "AttributeError: 'str' object has no attribute 'x'"}
    [loop] = health.actor_crash_loops(crashes, errors, now=50.0)
    assert loop.severity == "critical" and loop.name == "actor_crash_loop"
    assert loop.detail == ("actor queue crashed 5 times within 60 s; last: "
                           "AttributeError: 'str' object has no attribute 'x'")
    assert health.actor_crash_loops(crashes, errors, now=61.0) == []  # the first crash left the minute
    assert health.looping_actors(crashes, now=50.0) == ["queue"]
    restarts = {"queue": (40.0, 5), "watcher": (100.0, 2)}
    named = [c.detail for c in health.actor_restarts(restarts, 101.0, looping=["queue"])]
    assert named == ["actor watcher restarted 1 s ago (2 restart(s) in all)"]
