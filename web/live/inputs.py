"""What a region's markup is made of, for the regions drawn whole from a few parts of the data.

A region's partial sees only the context ``Renderer.context`` makes from these inputs (the
dashboard's snapshot sections, the telemetry stats, the board's invalid files), so equal inputs
draw equal markup. The broadcaster keeps the inputs it last drew a region from and does not draw
it again while they are equal: most changes touch a lane and the activity feed, not health, the
cost ticker, throughput or the agents, and drawing those four again to find them unchanged was
the larger part of a change's cost. The snapshot's sections are shared, immutable, and rebuilt
only when something they show changed, so comparing them is mostly comparing identities.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def region_inputs(region: str, data: Mapping[str, Any]) -> tuple | None:
    """Everything ``region``'s markup depends on, or None for a region drawn every time."""
    snapshot = data.get("snapshot") or {}
    if region == "health":
        return bool(snapshot), snapshot.get("health")
    if region == "ticker":
        return bool(snapshot), snapshot.get("costs")
    if region == "throughput":
        return bool(snapshot), snapshot.get("throughput"), snapshot.get("recent_completions")
    if region == "agents":
        return bool(snapshot), snapshot.get("agents"), snapshot.get("running")
    if region == "costs":
        return (data.get("stats"),)
    if region == "invalid":
        return (data["board"].invalid,)
    return None
