""""Stuck" on a card and in health, and the reclaim after it: one threshold each, in one place."""

from __future__ import annotations

from conftest import make_task

from agentdeck.actors.config import RECLAIM_AFTER_S, STUCK_AFTER_S, HubConfig
from agentdeck.actors.dashboard import health
from agentdeck.web.view.present import present_task


def test_a_card_is_stuck_after_the_same_time_health_says_so_and_before_the_reclaim() -> None:
    task = make_task("t1", lane="assigned", assigned_at="2026-01-01T00:00:00+00:00")
    assigned = 1767225600.0  # 2026-01-01T00:00:00Z
    assert present_task(task, assigned + STUCK_AFTER_S - 1)["stuck"] is None
    note = present_task(task, assigned + STUCK_AFTER_S + 1)["stuck"]
    assert note == "assigned with no change for over 5 minutes"
    assert health.stuck_tasks({"t1": 0.0}, STUCK_AFTER_S - 1) == []
    assert [c.name for c in health.stuck_tasks({"t1": 0.0}, STUCK_AFTER_S + 1)] == ["task_stuck"]
    assert STUCK_AFTER_S < RECLAIM_AFTER_S == HubConfig(work_dir=".").stuck_timeout
