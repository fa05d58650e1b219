"""A list's patch, applied to the list as the page has it, gives the new list: whatever changed
(items added, removed, edited, moved, the feed growing at the top and losing its tail), and whether
the patch looked at the whole list or only the part that changed."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from agentdeck.web.live import element_ids as ids
from agentdeck.web.live.patches import LaneParts, lane_patch

LIST = "inbox"
WHERE = ids.items(LIST)
_OP = re.compile(r'<li id="li-inbox-(?P<gone>\w+)" hx-swap-oob="delete"></li>'
                 r'|<div hx-swap-oob="(?P<anchor>[^"]+)">(?P<run>.*?)</div>'
                 r'|<li id="li-inbox-(?P<edited>\w+)" hx-swap-oob="outerHTML">(?P<text>[^<]*)</li>')
_LI = re.compile(r'<li id="li-inbox-(\w+)">([^<]*)</li>')


def parts(items: list[tuple[str, str]]) -> LaneParts:
    return LaneParts(LIST, (False,), tuple((key, f'<li id="{ids.item(LIST, key)}">{text}</li>', WHERE)
                                           for key, text in items), ())


def apply(page: list[tuple[str, str]], patch: str) -> list[tuple[str, str]]:
    """What htmx does with the patch's out-of-band swaps, on a list of (key, text)."""
    page = list(page)
    at = 0
    for op in _OP.finditer(patch):
        assert op.start() == at, f"unparsed patch text at {at}: {patch[at:op.start()]!r}"
        at = op.end()
        if op["gone"]:
            page = [item for item in page if item[0] != op["gone"]]
        elif op["edited"]:
            page = [(key, op["text"] if key == op["edited"] else text) for key, text in page]
        else:
            run = _LI.findall(op["run"])
            if op["anchor"] == f"afterbegin:#{WHERE}":
                page[0:0] = run
            else:
                after = op["anchor"].removeprefix(f"afterend:#{ids.item(LIST, '')}")
                index = [key for key, _ in page].index(after) + 1
                page[index:index] = run
    assert at == len(patch)
    return page


@st.composite
def two_versions(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    keys = [f"k{n}" for n in range(draw(st.integers(0, 60)))]
    old = [(key, "v0") for key in keys]
    kind = draw(st.sampled_from(["edit", "insert", "delete", "move", "feed", "shuffle"]))
    new = list(old)
    if kind == "edit" and new:
        index = draw(st.integers(0, len(new) - 1))
        new[index] = (new[index][0], "v1")
    elif kind == "insert":
        new.insert(draw(st.integers(0, len(new))), ("fresh", "v0"))
    elif kind == "delete" and new:
        del new[draw(st.integers(0, len(new) - 1))]
    elif kind == "move" and len(new) > 1:
        item = new.pop(draw(st.integers(0, len(new) - 1)))
        new.insert(draw(st.integers(0, len(new))), item)
    elif kind == "feed":  # a few new at the top, as many gone from the bottom (or moved up from it)
        count = draw(st.integers(1, 5))
        moved_up = draw(st.booleans()) and len(new) > count
        top = new[-count:] if moved_up else [(f"n{n}", "v0") for n in range(count)]
        new = top + new[:len(new) - count] if len(new) >= count else top
    elif kind == "shuffle":
        new = draw(st.permutations(new))
    return old, new


@settings(max_examples=400, deadline=None)
@given(two_versions())
def test_a_patch_applied_to_the_old_list_gives_the_new_one(versions) -> None:
    old, new = versions
    patch = lane_patch(parts(old), parts(new))
    if patch is None:  # too many changes: the page gets the whole list instead
        return
    assert apply(old, patch) == new


def test_the_feed_growing_by_one_costs_one_insert_and_one_delete() -> None:
    old = [(f"e{n}", "line") for n in range(50, 0, -1)]
    new = [("e51", "line"), *old[:-1]]
    patch = lane_patch(parts(old), parts(new))
    assert patch == (f'<li id="{ids.item(LIST, "e1")}" hx-swap-oob="delete"></li>'
                     f'<div hx-swap-oob="afterbegin:#{WHERE}"><li id="{ids.item(LIST, "e51")}">line</li></div>')


def test_one_card_edited_in_a_long_lane_is_the_only_swap() -> None:
    old = [(f"k{n}", "v0") for n in range(100)]
    new = list(old)
    new[40] = ("k40", "v1")
    assert lane_patch(parts(old), parts(new)) == \
        f'<li id="{ids.item(LIST, "k40")}" hx-swap-oob="outerHTML">v1</li>'
