"""A lane redrawn for one change reuses every other card as it was, ages aside (the page ticks them)."""

from __future__ import annotations

from importlib.resources import files

from conftest import make_task
from jinja2 import Environment, FileSystemLoader

from agentdeck.actors.config import STUCK_AFTER_S
from agentdeck.actors.messages import BoardView
from agentdeck.actors.queue.waiting import WaitReason
from agentdeck.web.live.regions import BoardFilter, Renderer, add_page_globals
from agentdeck.web.view.present import task_hash

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


def _lane(cards: Renderer, lane: str, tasks: tuple, now: float, flt: BoardFilter | None = None,
          **data: object) -> dict:
    lanes = {name: tuple(tasks) if name == lane else () for name in ("inbox", "assigned", "done", "dead")}
    view = BoardView(1, lanes["inbox"], lanes["assigned"], lanes["done"], lanes["dead"], ())
    return cards.lane(f"lane-{lane}", {"now": now, "board": view, **data}, flt or BoardFilter())


def test_a_lane_drawn_again_for_one_change_reuses_every_other_item_and_redraws_that_one() -> None:
    cards = renderer()
    tasks = [make_task(f"t{n}", created="2026-01-01T00:00:00+00:00") for n in range(5)]
    first = _lane(cards, "inbox", tuple(tasks), ASSIGNED_AT + 5)
    tasks[2] = make_task("t2", created="2026-01-01T00:00:00+00:00", title="Renamed")
    again = _lane(cards, "inbox", tuple(tasks), ASSIGNED_AT + 7200)
    hashes = [card["hash"] for card in again["cards"]]
    assert [again["li_text"][h] is first["li_text"][h] for h in hashes] == [True, True, False, True, True]
    assert "Renamed" in again["li_text"][hashes[2]] and "Renamed" not in first["li_text"][hashes[2]]
    # what the card shows beside its task changed: that card alone is drawn again
    reason = WaitReason("no_agents", "No agent is connected.")
    beside = _lane(cards, "inbox", tuple(tasks), ASSIGNED_AT + 7200, waiting={"t4": reason})
    assert [beside["li_text"][h] is again["li_text"][h] for h in hashes] == [True, True, True, True, False]
    # a search draws its own cards (with the words marked), never the unsearched ones
    searched = _lane(cards, "inbox", tuple(tasks), ASSIGNED_AT + 7200, BoardFilter(text="renamed"))
    assert "<mark>" in searched["li_text"][hashes[2]]


def test_a_done_card_follows_its_completion_in_the_snapshot() -> None:
    cards = renderer()
    task = make_task("d1", lane="done", completed_at="2026-01-01T00:00:00+00:00")
    plain = _lane(cards, "done", (task,), ASSIGNED_AT + 5, snapshot={"recent_completions": []})
    completion = {"task_id": "d1", "execution_meta": {"tokens_in": 10, "tokens_out": 5}}
    priced = _lane(cards, "done", (task,), ASSIGNED_AT + 5, snapshot={"recent_completions": [completion]})
    h = task_hash("d1")
    assert "badge cost" in priced["li_text"][h] and "badge cost" not in plain["li_text"][h]


def test_an_assigned_card_in_a_lane_turns_stuck_when_its_time_comes() -> None:
    cards = renderer()
    task = make_task("t1", lane="assigned", assigned_at="2026-01-01T00:00:00+00:00")
    fresh = _lane(cards, "assigned", (task,), ASSIGNED_AT + STUCK_AFTER_S - 1)
    assert _lane(cards, "assigned", (task,), ASSIGNED_AT + STUCK_AFTER_S - 0.5)["li_text"] == fresh["li_text"]
    stuck = _lane(cards, "assigned", (task,), ASSIGNED_AT + STUCK_AFTER_S + 1)
    assert "is-stuck" in stuck["li_text"][task_hash("t1")] and "is-stuck" not in fresh["li_text"][task_hash("t1")]
