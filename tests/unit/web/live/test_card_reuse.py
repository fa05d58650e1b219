"""A lane redrawn for one change reuses every other card as it was, ages aside (the page ticks them)."""

from __future__ import annotations

from importlib.resources import files

from conftest import make_task
from jinja2 import Environment, FileSystemLoader

from agentdeck.actors.config import STUCK_AFTER_S
from agentdeck.web.live.regions import Renderer, add_page_globals

ASSIGNED_AT = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def renderer() -> Renderer:
    env = Environment(loader=FileSystemLoader(str(files("agentdeck.templates"))), autoescape=True)
    add_page_globals(env)
    return Renderer(env, hub=None, card_cache=100)


def test_only_the_clock_moved_so_the_card_and_its_item_are_the_same_objects() -> None:
    cards = renderer()
    task = make_task("t1", created="2026-01-01T00:00:00+00:00")
    card = cards.present(task, ASSIGNED_AT + 5)
    item = cards.lane_item(card, "inbox", "")
    later = cards.present(task, ASSIGNED_AT + 7200)
    assert later is card and card["age"] == "5s"
    assert cards.lane_item(later, "inbox", "") is item


def test_a_new_version_of_the_task_or_of_what_its_card_shows_makes_a_new_card() -> None:
    cards = renderer()
    task = make_task("t1", created="2026-01-01T00:00:00+00:00")
    cards.present(task, ASSIGNED_AT + 5)
    edited = make_task("t1", created="2026-01-01T00:00:00+00:00", title="Renamed")
    assert cards.present(edited, ASSIGNED_AT + 5)["title"] == "Renamed"
    beside = cards.present(edited, ASSIGNED_AT + 5, completion={"task_id": "t1"})
    assert beside is not cards.present(edited, ASSIGNED_AT + 5)
    assert cards.present(task, ASSIGNED_AT + 60)["age"] == "1m"  # made again, so at this time


def test_an_assigned_card_turns_stuck_when_its_time_comes_even_if_nothing_else_changed() -> None:
    cards = renderer()
    task = make_task("t1", lane="assigned", assigned_at="2026-01-01T00:00:00+00:00")
    fresh = cards.present(task, ASSIGNED_AT + STUCK_AFTER_S - 1)
    assert fresh["stuck"] is None
    assert cards.present(task, ASSIGNED_AT + STUCK_AFTER_S - 0.5) is fresh
    stuck = cards.present(task, ASSIGNED_AT + STUCK_AFTER_S + 1)
    assert stuck["stuck"] and 'is-stuck' in cards.lane_item(stuck, "assigned", "")[1]
