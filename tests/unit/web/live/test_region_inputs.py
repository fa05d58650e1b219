"""A region drawn whole is drawn again only when what it is made of changed, and that is all it reads."""

from __future__ import annotations

import copy
from importlib.resources import files
from typing import Any

import pytest
from conftest import make_task
from jinja2 import Environment, FileSystemLoader

from agentdeck.actors.messages import BoardView, InvalidTaskFile
from agentdeck.web.live.inputs import region_inputs
from agentdeck.web.live.regions import BoardFilter, Renderer, add_page_globals

DRAWN_WHOLE = ("health", "ticker", "throughput", "agents", "invalid")


def renderer() -> Renderer:
    env = Environment(loader=FileSystemLoader(str(files("agentdeck.templates"))), autoescape=True)
    add_page_globals(env)
    return Renderer(env, hub=None, card_cache=100)


def data() -> dict[str, Any]:
    snapshot = {
        "health": {"status": "warning", "conditions": ["agent a1 offline"], "condition_tasks": [["t1"]]},
        "costs": {"today": 1.25, "month": 9.5, "total": 20.0, "budget": {"daily": 5.0, "monthly": None}},
        "throughput": {"completed_last_hour": 3, "failed_last_hour": 1, "avg_completion_ms": 2500,
                       "total_tokens_hour": 1200},
        "recent_completions": [{"task_id": "t9", "title": "Ship it", "agent_id": "a1", "duration_ms": 900}],
        "agents": [{"agent_id": "a1", "state": "working", "current_task_id": "t2"}],
        "running": {"t2": {"last_line": "compiling", "tokens": 12, "cost_usd": 0.01, "priced": True}},
        "queue": {"inbox": 1},
    }
    board = BoardView(1, (make_task("t1"),), (), (), (), (InvalidTaskFile("inbox/x.yaml", "invalid YAML"),))
    return {"now": 1_767_225_600.0, "board": board, "snapshot": snapshot, "stats": None}


def draw(region: str, source: dict[str, Any]) -> str:
    return str(renderer().render_one(region, source, BoardFilter(), []))


@pytest.mark.parametrize("region", DRAWN_WHOLE)
def test_whatever_else_changes_equal_inputs_draw_equal_markup(region: str) -> None:
    before = data()
    after = copy.deepcopy(before)  # equal, not the same objects
    after["now"] += 3600
    after["board"] = BoardView(2, (make_task("t1"), make_task("t3")), (), (make_task("t4", lane="done"),), (),
                               before["board"].invalid)
    after["snapshot"]["queue"] = {"inbox": 2}
    for name in before["snapshot"]:
        if region_inputs(region, {**before, "snapshot": {**before["snapshot"], name: "changed"}}) \
                == region_inputs(region, before):
            after["snapshot"][name] = {"changed": True}  # a section this region does not read
    assert region_inputs(region, after) == region_inputs(region, before)
    assert draw(region, after) == draw(region, before)


@pytest.mark.parametrize(("region", "section"), [
    ("health", "health"), ("ticker", "costs"), ("throughput", "throughput"),
    ("throughput", "recent_completions"), ("agents", "agents"), ("agents", "running")])
def test_a_change_in_what_a_region_shows_changes_its_inputs(region: str, section: str) -> None:
    before = data()
    after = copy.deepcopy(before)
    after["snapshot"][section] = [] if isinstance(before["snapshot"][section], list) else {}
    assert region_inputs(region, after) != region_inputs(region, before)
    assert draw(region, after) != draw(region, before)


def test_lists_patched_item_by_item_have_no_inputs_of_their_own() -> None:
    for region in ("lane-inbox", "lane-done", "activity", "graph"):
        assert region_inputs(region, data()) is None
