"""The live page's element ids, in one place: the templates (Jinja global ``ids``) and the patches
built in Python (``patches.py``, ``regions.py``) name elements only through these.

A region is an element whose id is the region's name (``lane-inbox``, ``agents``...) and whose
content an SSE event of that name replaces. Inside the list regions (the lanes, the agents, the
activity feed) every item, group and heading has an id of its own so a patch can insert, move,
replace or delete it without re-sending the list: ``list_`` is the name of the list (``inbox``,
``agents``, ``activity``) and ``key`` the item's stable key (a task's hash, an agent's key...).
"""

from __future__ import annotations


def items(list_: str, group: str | None = None) -> str:
    """The ``<ul>`` holding a list's items (one per group in a grouped lane)."""
    return f"ul-{list_}" if group is None else f"ul-{list_}-{group}"


def item(list_: str, key: str) -> str:
    return f"li-{list_}-{key}"


def head(list_: str) -> str:
    """The list's heading (its count)."""
    return f"head-{list_}"


def groups(lane: str) -> str:
    """The container of a grouped lane's groups."""
    return f"groups-{lane}"


def group(lane: str, key: str) -> str:
    return f"grp-{lane}-{key}"


def group_head(lane: str, key: str) -> str:
    return f"gh-{lane}-{key}"


def more(lane: str) -> str:
    """The lane's "show more" link."""
    return f"more-{lane}"
