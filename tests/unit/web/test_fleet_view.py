"""The fleet view's rules without I/O: reachability by the fleet's own clock, the merged feed, and
hostile data read from the broker; plus what a hub puts on the wire."""

from __future__ import annotations

import json

from agentdeck.actors.fleet import wire
from agentdeck.actors.fleet.view import FleetView
from agentdeck.actors.messages import BudgetThreshold, ExecutionEvent, TelemetryChanged


def state(seq: int, **fields) -> str:
    return json.dumps({"seq": seq, "lanes": {"inbox": 2, "done": 1}, **fields})


def test_a_hub_is_up_while_its_state_changes_and_unreachable_after_stale_after() -> None:
    view = FleetView(stale_after=3.0)
    view.registered({"h1": json.dumps({"url": "http://127.0.0.1:8080", "board": "/b"})}, now=0.0)
    view.state("h1", state(1), now=0.0)
    assert view.snapshot(now=2.9)["hubs"][0]["status"] == "up"
    view.state("h1", state(1), now=2.0)  # the same state again is not a sign of life
    assert view.snapshot(now=3.1)["hubs"][0]["status"] == "unreachable"
    view.state("h1", state(2), now=3.2)
    snapshot = view.snapshot(now=3.3)
    assert snapshot["hubs"][0]["status"] == "up"
    assert snapshot["lanes"] == {"inbox": 2, "assigned": 0, "done": 1, "dead": 0}
    view.entries("h1", [("5-0", wire.encode({"kind": "hub.stopped", "at": 10.0}))])
    assert view.snapshot(now=7.0)["hubs"][0]["status"] == "stopped"
    assert view.snapshot(now=7.0)["lanes"]["inbox"] == 0  # only hubs that are up count


def test_the_feed_is_merged_by_time_newest_first_and_bounded() -> None:
    view = FleetView(feed_size=3)
    view.registered({"a": "{}", "b": "{}"}, now=0.0)
    view.entries("a", [("1-0", wire.encode({"kind": "task.created", "at": 1.0})),
                       ("3-0", wire.encode({"kind": "task.created", "at": 3.0}))])
    view.entries("b", [("2-0", wire.encode({"kind": "task.moved", "at": 2.0})),
                       ("4-0", wire.encode({"kind": "task.moved", "at": 4.0}))])
    assert [(item["hub"], item["at"]) for item in view.snapshot(now=0.0)["feed"]] == [
        ("b", 4.0), ("a", 3.0), ("b", 2.0)]


def test_garbage_from_the_broker_is_dropped_or_shortened_never_raised() -> None:
    view = FleetView()
    view.registered({"bad:id": "{}", "../x": "{}", "ok": "not json", "h": json.dumps(
        {"url": "javascript:alert(1)", "board": ["x"]})}, now=0.0)
    assert sorted(view.hubs) == ["h", "ok"]
    assert view.hubs["h"].url is None and view.hubs["h"].board is None
    for raw in (b"\xff\xfe", "[1, 2]", "1e999999", json.dumps({"seq": 1, "lanes": {"inbox": -5, "done": "x"},
                                                               "agents": ["x", {"state": {"a": 1}}],
                                                               "costs": {"today": "1"},
                                                               "health": {"conditions": "abc"}})):
        view.state("h", raw, now=1.0)
    view.entries("h", [("1-0", "nope"), ("2-0", json.dumps({"kind": "<b>" * 100, "at": "soon",
                                                              "text": "x" * 10_000}))])
    snapshot = view.snapshot(now=1.5)
    row = next(h for h in snapshot["hubs"] if h["hub"] == "h")
    assert row["lanes"] == {"inbox": 0, "assigned": 0, "done": 0, "dead": 0}
    assert row["costs"]["today"] is None
    [item] = snapshot["feed"]
    assert len(item["kind"]) <= 40 and len(item["text"]) <= wire.MAX_TEXT and item["at"] == 0.0
    json.dumps(snapshot)  # JSON-ready


def test_only_lifecycle_events_go_on_the_wire_and_output_only_when_asked() -> None:
    assert wire.entry_for(TelemetryChanged()) is None
    output = ExecutionEvent(task_id="t", agent_id="a", generation=1, event_type="stdout", text="y" * 5000)
    assert wire.entry_for(output) is None
    shown = wire.entry_for(output, output=True)
    assert shown is not None and len(shown["text"]) == wire.MAX_TEXT
    alert = wire.entry_for(BudgetThreshold(period="daily", level=100, spent=12.0, budget=10.0, scope="fleet"))
    assert alert is not None and alert["level"] == "error" and alert["text"].startswith("fleet daily budget")


def test_a_hub_state_carries_counts_agents_costs_and_what_it_buffers() -> None:
    snapshot = {"queue": {"by_status": {"inbox": 3, "assigned": 1, "done": 7, "dead": 0}},
                "agents": [{"agent_id": "a1", "name": "A", "state": "working", "current_task_id": "t1"}],
                "health": {"status": "warning", "conditions": ["x"]},
                "costs": {"today": 1.5, "month": 2.0, "total": 9.0}}
    telemetry = {"source": {"path": "postgresql://h/db", "fresh": False, "error": "down", "pending_writes": 4}}
    state_ = wire.hub_state("h1", 7, 100.0, snapshot, telemetry, None, {"pending_events": 2})
    assert state_["lanes"] == {"inbox": 3, "assigned": 1, "done": 7, "dead": 0}
    assert state_["agents"] == [{"agent_id": "a1", "name": "A", "state": "working", "task_id": "t1"}]
    assert state_["telemetry"]["pending_writes"] == 4 and state_["broker"] == {"pending_events": 2}
