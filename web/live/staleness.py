"""Which parts of the dashboard a bus event makes stale: pure rules, no state.

The broadcaster asks this for every event and re-renders only those regions. A task that moved
dirties the lane it left and the one it entered; events that do not say where a task came from
(retried, dead-lettered, reclaimed, requeued) dirty every lane.
"""

from __future__ import annotations

from agentdeck.actors.messages import (
    AgentJoined,
    AgentLeft,
    AgentStateChanged,
    BudgetThreshold,
    Event,
    TaskConflict,
    TaskCreated,
    TaskInvalid,
    TaskRemoved,
    TelemetryChanged,
)
from agentdeck.web.live.regions import LANE_REGIONS, SNAPSHOT_REGIONS


def stale_regions(event: Event, listed: bool) -> set[str]:
    """Regions to render again after ``event``; ``listed`` says it went into the activity feed."""
    regions = {"activity"} if listed else set()
    task = getattr(event, "task", None)
    if task is not None:
        previous = getattr(event, "previous", None)
        if previous is not None:
            lanes = {task.lane, previous.lane}
        elif hasattr(event, "previous") or isinstance(event, (TaskCreated, TaskRemoved)):
            lanes = {task.lane}
        else:
            lanes = {name.removeprefix("lane-") for name in LANE_REGIONS}
        regions.update(f"lane-{lane}" for lane in lanes)
        regions.update((*SNAPSHOT_REGIONS, "graph"))
    elif isinstance(event, (TaskInvalid, TaskConflict)):
        regions.update(("invalid", "health"))
    elif isinstance(event, (AgentJoined, AgentLeft)):
        regions.update(("agents", "health", "lane-inbox"))  # why inbox tasks wait may change
    elif isinstance(event, AgentStateChanged):
        regions.update(("agents", "health"))
    elif isinstance(event, (TelemetryChanged, BudgetThreshold)):
        regions.update(("costs", "ticker", "health", "throughput"))
    elif listed:
        regions.add("health")
    return regions
