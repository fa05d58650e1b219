"""Patches for list regions (flat lanes, the activity feed): a few changed items instead of the list.

A patch is a run of htmx out-of-band swaps: delete an ``<li>``, insert one after its new
predecessor, replace one that changed. It only applies to a page showing exactly the previous
version, which the broadcaster guarantees by ordering (and pages start from the last-sent version).
"""

from __future__ import annotations

import attrs

MAX_PATCH_OPS = 40


@attrs.frozen
class LaneParts:
    lane: str
    shape: tuple  # what a patch cannot change: empty or not, "show more" or not, the filter
    items: tuple[tuple[str, str], ...]  # (task hash, <li> markup) in board order
    head: str
    more: str


def lane_patch(old: LaneParts, new: LaneParts) -> str | None:
    """Out-of-band swaps turning ``old`` into ``new`` (delete, insert, replace cards), or None when
    a whole-lane swap is simpler: another shape or too many changes. Cards that changed place are
    deleted and inserted again; the longest run already in order stays put."""
    if old.shape != new.shape or old.lane != new.lane:
        return None
    old_html, new_html = dict(old.items), dict(new.items)
    position = {h: index for index, (h, _) in enumerate(old.items)}
    staying = _longest_increasing([h for h, _ in new.items if h in old_html], position)
    ops = [f'<li id="li-{new.lane}-{h}" hx-swap-oob="delete"></li>'
           for h, _ in old.items if h not in staying]
    previous = None
    for h, html in new.items:
        if h not in staying:
            where = f"afterend:#li-{new.lane}-{previous}" if previous else f"afterbegin:#ul-{new.lane}"
            ops.append(f'<div hx-swap-oob="{where}">{html}</div>')
        elif old_html[h] != html:
            li = f'<li id="li-{new.lane}-{h}"'
            ops.append(html.replace(li, f'{li} hx-swap-oob="outerHTML"', 1))
        previous = h
    if len(ops) > MAX_PATCH_OPS:
        return None
    if old.head != new.head:
        ops.append(new.head)
    if old.more != new.more:
        ops.append(new.more)
    return "".join(ops)


def _longest_increasing(items: list[str], position: dict[str, int]) -> set[str]:
    """The largest set of ``items`` whose old positions already increase (patience sorting)."""
    tails: list[int] = []  # index into items of the smallest tail of each run length
    back: list[int] = [-1] * len(items)
    for index, item in enumerate(items):
        key = position[item]
        low, high = 0, len(tails)
        while low < high:
            middle = (low + high) // 2
            if position[items[tails[middle]]] < key:
                low = middle + 1
            else:
                high = middle
        back[index] = tails[low - 1] if low else -1
        if low == len(tails):
            tails.append(index)
        else:
            tails[low] = index
    keep: set[str] = set()
    cursor = tails[-1] if tails else -1
    while cursor != -1:
        keep.add(items[cursor])
        cursor = back[cursor]
    return keep
