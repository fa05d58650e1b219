"""The graph's focus view: a task with all its ancestors and dependants, nothing else."""

from __future__ import annotations

from conftest import make_task

from agentdeck.actors.messages import BoardView
from agentdeck.web.view.charts import dependency_graph, related


def test_focus_keeps_the_whole_chain_both_ways_and_nothing_else():
    tasks = {t.id: t for t in (make_task("a"), make_task("b", dependencies=["a"]),
                               make_task("c", dependencies=["b"]), make_task("d", dependencies=["c", "x"]),
                               make_task("lonely", dependencies=["other"]), make_task("other"))}
    assert related(tasks, "b") == {"a", "b", "c", "d"}  # not x: only d depends on it
    view = BoardView(1, tuple(tasks.values()), (), (), (), ())
    graph = dependency_graph(view, focus="c")
    assert {n["id"] for n in graph["nodes"]} == {"a", "b", "c", "d", "x"}  # x drawn as missing
    assert graph["focus_known"] and graph["total"] == 4
    assert dependency_graph(view, focus="nope")["nodes"] == []
