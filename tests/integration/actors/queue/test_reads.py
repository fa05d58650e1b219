"""Reads without a round trip (``Hub.read_queue``, ``Hub.read_snapshot``): the live dashboard reads
the board, why inbox tasks wait and the snapshot on every change, so each must answer exactly what
the actor's mailbox answers, and nothing while the actor is not answering."""

from __future__ import annotations

from conftest import task_yaml, wait_until, write_task

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.actors.messages import GetDashboardSnapshot, ListTasks, WhyWaiting


def _fill(board_dir):
    write_task(board_dir, "inbox/a.yaml", task_yaml(id="a", title="A", priority="critical"))
    write_task(board_dir, "inbox/b.yaml", task_yaml(id="b", title="B", priority="low", dependencies=["zz"]))
    write_task(board_dir, "done/bot/c.yaml", task_yaml(id="c", title="C", priority="low"))
    write_task(board_dir, "dead/d.yaml", task_yaml(id="d", title="D"))


async def test_reads_answer_what_the_mailbox_answers(start_hub, board_dir):
    _fill(board_dir)
    running = await start_hub()
    hub = running.hub
    for query in (ListTasks(), ListTasks(priority="low"), ListTasks(agent="bot"), ListTasks(lane="inbox"),
                  ListTasks(include_done=False)):
        assert hub.read_queue(query) == await hub.ask_queue(query)
    waiting = WhyWaiting(("a", "b", "c", "nope"))
    assert hub.read_queue(waiting) == await hub.ask_queue(waiting)
    assert hub.read_queue(waiting)["b"].code == "blocked"
    snapshot, asked = hub.read_snapshot(), await hub.ask_dashboard(GetDashboardSnapshot())
    assert {k: v for k, v in snapshot.items() if k not in ("uptime_ms", "timestamp")} == \
        {k: v for k, v in asked.items() if k not in ("uptime_ms", "timestamp")}

    # a change is read at once once its event is out, as the mailbox would answer it
    write_task(board_dir, "inbox/e.yaml", task_yaml(id="e", title="E"))
    await wait_until(lambda: any(t.id == "e" for t in hub.read_queue(ListTasks()).inbox))
    assert hub.read_queue(ListTasks()) == await hub.ask_queue(ListTasks())


async def test_reads_give_nothing_while_the_actors_do_not_answer(work_dir, board_dir, start_hub):
    _fill(board_dir)
    idle = Hub(HubConfig(work_dir=work_dir, port=0, fsync=False))  # built, never started
    assert idle.read_queue(ListTasks()) is None
    assert idle.read_queue(WhyWaiting(("a",))) is None
    assert idle.read_snapshot() is None
    running = await start_hub()
    assert [t.id for t in running.hub.read_queue(ListTasks()).inbox] == ["a", "b"]
