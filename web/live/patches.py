"""Patches for list regions (lanes, the agents list, the activity feed): a few changed items, not the list.

A patch is a run of htmx out-of-band swaps: delete an ``<li>``, insert one after its new
predecessor in its list (or at the top of that list), replace one that changed, replace a heading
whose count changed. A region may hold several lists in groups (the Assigned lane has one per
agent): a group that appears is inserted empty after its predecessor and filled like any list, one
that goes is deleted with its cards; an item that moves to another list is deleted and inserted
again. A patch only applies to a page showing
exactly the previous version, which the broadcaster guarantees by ordering (and pages start from
the last-sent version).
"""

from __future__ import annotations

import re

import attrs

from agentdeck.web.live import element_ids as ids

MAX_PATCH_OPS = 40
RUN_SLICE = 100  # cards in one inserted run: a longer run (a page of a lane) goes as several
Item = tuple[str, str, str]  # (item key, <li> markup, id of its list)
# texts the page keeps current by itself: ages (ticked by the page) and live run texts (last output
# line, tokens, spend: the "live" event); a card that differs only there is not patched
_AGE = re.compile(r'(<time class="card-age"[^>]*>)[^<]*(</time>)'
                  r'|(<span class="[^"]*\blive-text\b[^"]*"[^>]*>)[^<]*(</span>)')


@attrs.frozen
class LaneParts:
    lane: str
    shape: tuple  # what a patch cannot change: empty or not, "show more" or not, the filter, the lists
    items: tuple[Item, ...]  # in page order
    heads: tuple[str, ...]  # out-of-band headings (counts, "show more"), replaced when they change
    groups: tuple[tuple[str, str, str], ...] = ()  # (group key, empty group markup, out-of-band heading)


def lane_patch(old: LaneParts, new: LaneParts) -> str | None:
    """``lane_patch_ops`` as one fragment."""
    ops = lane_patch_ops(old, new)
    return None if ops is None else "".join(op for op, _ in ops)


def patch_slices(ops: list[tuple[str, int]], cards: int = RUN_SLICE) -> list[str]:
    """The ops of a patch in order, as fragments that each insert at most ``cards`` cards (the
    first one also carries every op before them): a page of thousands of cards reaches the screen
    a slice at a time, each its own event, so the first slice is painted without waiting for all."""
    slices: list[list[str]] = [[]]
    inserted = 0
    for op, count in ops:
        if count and inserted and inserted + count > cards:
            slices.append([])
            inserted = 0
        slices[-1].append(op)
        inserted += count
    return ["".join(ops) for ops in slices]


def lane_patch_ops(old: LaneParts, new: LaneParts) -> list[tuple[str, int]] | None:
    """Out-of-band swaps turning ``old`` into ``new`` (delete, insert, replace items), or None when
    a whole-region swap is simpler: another shape or too many changes. Items that changed place
    are deleted and inserted again; the longest run already in order (in the same list) stays put.
    A card whose only change is its age text is left alone: the page ages cards by itself."""
    if old.shape != new.shape or old.lane != new.lane:
        return None
    old_groups = {key: head for key, _, head in old.groups}
    new_groups = {key for key, _, _ in new.groups}
    gone = {ids.items(new.lane, key) for key in old_groups if key not in new_groups}
    ops = [(f'<div id="{ids.group(new.lane, key)}" hx-swap-oob="delete"></div>', 0)
           for key in old_groups if key not in new_groups]
    old_items, new_items = old.items, new.items
    if not old.groups and not new.groups:
        old_items, new_items = _changed_window(old_items, new_items)
    before = {key: (html, where) for key, html, where in old_items}
    position = {key: index for index, (key, _, _) in enumerate(old_items)}
    kept = [key for key, _, where in new_items if key in before and before[key][1] == where]
    staying = set(kept)
    if kept != [key for key, _, where in old_items if key in staying]:
        staying = _longest_increasing(kept, position)  # some changed place: keep the most in order
    ops.extend((f'<li id="{ids.item(new.lane, key)}" hx-swap-oob="delete"></li>', 0)
               for key, _, where in old_items if key not in staying and where not in gone)
    heads = []
    previous_group = None
    for key, shell, head in new.groups:
        if key not in old_groups:
            anchor = f"afterend:#{ids.group(new.lane, previous_group)}" if previous_group \
                else f"afterbegin:#{ids.groups(new.lane)}"
            ops.append((f'<div hx-swap-oob="{anchor}">{shell}</div>', 0))
        elif old_groups[key] != head:
            heads.append(head)
        previous_group = key
    limit = max(MAX_PATCH_OPS, len(new.items) // 2)
    previous: tuple[str, str] | None = None
    run: list[tuple[str, str]] = []  # items inserted one after another in one list go as one swap
    anchor = ""
    for key, html, where in new_items:
        inserted = key not in staying
        if inserted and run and previous is not None and previous[1] == where:  # the run goes on
            run.append((key, html))
            previous = (key, where)
            continue
        _close(ops, anchor, run, new.lane)
        if inserted:
            anchor = f"afterend:#{ids.item(new.lane, previous[0])}" if previous and previous[1] == where \
                else f"afterbegin:#{where}"
            run.append((key, html))
        elif before[key][0] != html and _AGE.sub(r"\1\2\3\4", before[key][0]) != _AGE.sub(r"\1\2\3\4", html):
            li = f'<li id="{ids.item(new.lane, key)}"'
            ops.append((html.replace(li, f'{li} hx-swap-oob="outerHTML"', 1), 0))
        previous = (key, where)
        if len(ops) > limit:
            return None
    _close(ops, anchor, run, new.lane)
    ops.extend((head, 0) for head in heads)
    ops.extend((head, 0) for head, was in zip(new.heads, old.heads, strict=False) if head != was)
    return ops


def _changed_window(old: tuple[Item, ...], new: tuple[Item, ...]) -> tuple[tuple[Item, ...], tuple[Item, ...]]:
    """The part of one list that changed, for a patch that says the same as one of the whole list:
    the items both lists start and end with alike are left out (but the last alike item before
    the change, which new items are inserted after). A list that grew at the top and lost its
    tail (the activity feed) keeps its first old item and the items around it. Cheap: items that
    did not change are the very same strings, so comparing them is comparing identities."""
    shortest = min(len(old), len(new))
    start = 0
    while start < shortest and old[start] == new[start]:
        start += 1
    end = 0
    while end < shortest - start and old[-1 - end] == new[-1 - end]:
        end += 1
    if start or end:
        first = max(start - 1, 0)
        return old[first:len(old) - end], new[first:len(new) - end]
    if old:
        for shift in range(1, min(len(new), MAX_PATCH_OPS + 1)):
            if new[shift] == old[0]:
                run = len(new) - shift  # new is the shifted items, then old's first items
                dropped = {key for key, _, _ in old[run:]}
                if new[shift:] == old[:run] and not any(key in dropped for key, _, _ in new[:shift]):
                    return old[:1] + old[run:], new[:shift + 1]
                break
    return old, new


def _close(ops: list[tuple[str, int]], anchor: str, run: list[tuple[str, str]], lane: str) -> None:
    """Turn the pending insert into out-of-band swaps of its items, ``RUN_SLICE`` at a time (each
    after the last item of the one before)."""
    for start in range(0, len(run), RUN_SLICE):
        part = run[start:start + RUN_SLICE]
        at = anchor if not start else f"afterend:#{ids.item(lane, run[start - 1][0])}"
        ops.append((f'<div hx-swap-oob="{at}">{"".join(html for _, html in part)}</div>', len(part)))
    run.clear()


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
