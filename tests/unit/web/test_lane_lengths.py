"""Lane lengths in the filter: one key per region's render, page sizes that grow, inserts in one swap."""

from __future__ import annotations

from agentdeck.web.live.patches import RUN_SLICE, LaneParts, lane_patch, lane_patch_ops, patch_slices
from agentdeck.web.live.regions import LANE_PAGE, MAX_LANE_LIMIT, BoardFilter, next_length


def test_each_lane_has_its_own_length_and_only_its_own_render_key_changes() -> None:
    flt = BoardFilter.from_args({"q": "oauth", "done": "400", "focus": "t1"})
    assert flt.limit_of("done") == 400 and flt.limit_of("inbox") == LANE_PAGE
    assert flt.key_for("lane-done") == "done=400&q=oauth"
    assert flt.key_for("lane-inbox") == flt.key_for("lane-dead") == "q=oauth"
    assert flt.key_for("graph") == "focus=t1&q=oauth"
    assert flt.key_for("agents") is None
    assert flt.base_key == "q=oauth" and flt.key == "done=400&focus=t1&q=oauth"
    assert BoardFilter.from_key(flt.key_for("lane-done") or "").key_for("lane-done") == "done=400&q=oauth"
    assert flt.with_lane("inbox", 200).key == "done=400&focus=t1&inbox=200&q=oauth"


def test_lengths_from_urls_are_bounded_and_the_old_limit_sets_every_lane() -> None:
    for raw in ("abc", "-3", "", "1e3", "9" * 5000):
        assert BoardFilter.from_args({"dead": raw}).limit_of("dead") == LANE_PAGE, raw
    assert BoardFilter.from_args({"dead": "99999999"}).limit_of("dead") == MAX_LANE_LIMIT
    every = BoardFilter.from_args({"limit": "300", "inbox": "500"})
    assert [every.limit_of(lane) for lane in ("inbox", "assigned", "done", "dead")] == [500, 300, 300, 300]


def test_pages_grow_so_deep_cards_are_a_few_clicks_away() -> None:
    shown, clicks = LANE_PAGE, 0
    while shown < 7000:
        shown, clicks = next_length(shown), clicks + 1
    assert clicks == 7 and next_length(LANE_PAGE) == 2 * LANE_PAGE
    assert next_length(MAX_LANE_LIMIT) == MAX_LANE_LIMIT


def _parts(keys: list[str]) -> LaneParts:
    return LaneParts("inbox", (False, "", False), tuple((k, f'<li id="li-inbox-{k}">{k}</li>', "ul-inbox")
                                                         for k in keys), ("<h2>head</h2>",))


def test_cards_inserted_one_after_another_go_as_one_swap() -> None:
    patch = lane_patch(_parts(["a", "b"]), _parts(["a", "b", "c", "d", "e"]))
    assert patch == ('<div hx-swap-oob="afterend:#li-inbox-b"><li id="li-inbox-c">c</li>'
                     '<li id="li-inbox-d">d</li><li id="li-inbox-e">e</li></div>')
    apart = lane_patch(_parts(["a", "b"]), _parts(["x", "a", "y", "b"]))
    assert apart == ('<div hx-swap-oob="afterbegin:#ul-inbox"><li id="li-inbox-x">x</li></div>'
                     '<div hx-swap-oob="afterend:#li-inbox-a"><li id="li-inbox-y">y</li></div>')
    many = lane_patch(_parts([f"k{n}" for n in range(100)]), _parts([f"k{n}" for n in range(200)]))
    assert many is not None and many.count("hx-swap-oob") == 1


def test_a_long_run_is_cut_into_slices_each_after_the_last_card_of_the_one_before() -> None:
    ops = lane_patch_ops(_parts([f"k{n}" for n in range(100)]), _parts([f"k{n}" for n in range(350)]))
    assert ops is not None and [cards for _, cards in ops] == [100, 100, 50]
    slices = patch_slices(ops)
    assert len(slices) == 3 and "".join(slices) == lane_patch(_parts([f"k{n}" for n in range(100)]),
                                                               _parts([f"k{n}" for n in range(350)]))
    assert slices[0].startswith('<div hx-swap-oob="afterend:#li-inbox-k99"><li id="li-inbox-k100">')
    assert slices[1].startswith('<div hx-swap-oob="afterend:#li-inbox-k199"><li id="li-inbox-k200">')
    assert slices[2].startswith('<div hx-swap-oob="afterend:#li-inbox-k299"><li id="li-inbox-k300">')
    assert all(part.count("<li ") <= RUN_SLICE for part in slices)


def test_ops_that_insert_nothing_ride_with_the_slice_before_them() -> None:
    old, new = _parts(["a", "b"]), _parts(["x", "a", "b", "c"])
    new = LaneParts(new.lane, new.shape, new.items, ("<h2>new head</h2>",))
    assert patch_slices(lane_patch_ops(old, new) or [], cards=1) == [
        '<div hx-swap-oob="afterbegin:#ul-inbox"><li id="li-inbox-x">x</li></div>',
        '<div hx-swap-oob="afterend:#li-inbox-b"><li id="li-inbox-c">c</li></div><h2>new head</h2>']
