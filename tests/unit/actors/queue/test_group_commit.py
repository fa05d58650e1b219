"""Group commit in the queue: the moves of the messages waiting together share one commit, and
nothing about a move (a reply, a frame to an agent, a bus event) gets out before it is durable.
A real queue actor on a real board in a temp dir; only the agents' sockets are memory channels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import yaml

from agentdeck.actors.board.store import BoardStore
from agentdeck.actors.bus import EventBus
from agentdeck.actors.config import HubConfig
from agentdeck.actors.messages import AgentConnect, AgentSaid, Request, TaskAssigned, TaskCompleted
from agentdeck.actors.queue.actor import TaskQueue
from agentdeck.actors.queue.after_commit import AfterCommit

AGENTS = 12


def test_effects_wait_for_the_commit_in_order_and_a_failed_commit_says_nothing() -> None:
    bus = EventBus()
    effects = AfterCommit(bus)
    said: list[str] = []
    effects.later(lambda: said.append("before any move"))
    assert said == ["before any move"]  # nothing staged: at once
    effects.hold()
    effects.later(lambda: said.append("ack 1"))
    effects.later(lambda: said.append("assign 2"))
    assert said == ["before any move"] and len(effects) == 2
    assert effects.release() == 2
    assert said == ["before any move", "ack 1", "assign 2"] and not effects.holding
    effects.hold()
    effects.later(lambda: said.append("never"))
    assert effects.drop() == 1
    effects.later(lambda: said.append("after the failure, nothing staged"))
    assert said[-1] == "after the failure, nothing staged" and "never" not in said


def seed(board: Path) -> None:
    for lane in ("inbox", "assigned", "done", "dead"):
        (board / lane).mkdir(parents=True, exist_ok=True)
    for number in range(AGENTS):
        (board / "inbox" / f"t-{number:02d}.yaml").write_text(yaml.safe_dump(
            {"id": f"t-{number:02d}", "title": f"task {number}", "shell_command": "true"}))


@pytest.fixture
def config(tmp_path: Path) -> HubConfig:
    config = HubConfig(work_dir=tmp_path / "work", accept_timeout=1e6, stuck_timeout=1e6,
                       reconnect_grace=1e6)
    seed(config.board_dir)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    return config


async def test_waiting_messages_share_a_commit_and_agents_hear_only_of_durable_moves(
        config: HubConfig, autojump_clock: trio.abc.Clock) -> None:
    board = config.board_dir
    store = BoardStore(board, config.state_dir)
    bus = EventBus()
    events = bus.subscribe("test", buffer=1000)
    mailbox_in, mailbox_out = trio.open_memory_channel[Any](1000)
    ticks_in, _ = trio.open_memory_channel[Any](10)
    queue = TaskQueue(config, store, bus, mailbox_out, ticks_in)
    outboxes = {f"a{n:02d}": trio.open_memory_channel[Any](100) for n in range(AGENTS)}
    connected, _ = trio.open_memory_channel[Any](1000)
    acks_in, acks_out = trio.open_memory_channel[Any](1000)
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        for number, (agent_id, (outbox, _)) in enumerate(outboxes.items()):
            mailbox_in.send_nowait(Request(AgentConnect(agent_id, number, outbox=outbox), connected.clone()))

        assigned: dict[str, dict] = {}
        for agent_id, (_, frames) in outboxes.items():
            frame = await frames.receive()
            assert frame["type"] == "task_assign"
            # told only once the move is on disk (and its journal committed before that)
            assert (board / "assigned" / agent_id / f"{frame['task_id']}.yaml").exists()
            assert not (board / "inbox" / f"{frame['task_id']}.yaml").exists()
            assigned[agent_id] = frame
        assert store.committed_moves == AGENTS
        assert store.commits < AGENTS, "every assignment had a commit of its own"

        before = store.commits
        for number, (agent_id, frame) in enumerate(assigned.items()):
            mailbox_in.send_nowait(Request(AgentSaid(agent_id, number, {
                "type": "task_complete", "task_id": frame["task_id"], "generation": frame["generation"],
                "result": {"status": "success", "output": "ok"}}), acks_in.clone()))
        for _ in range(AGENTS):
            [ack] = await acks_out.receive()
            assert ack["status"] == "complete"
            agent_id = next(a for a, f in assigned.items() if f["task_id"] == ack["task_id"])
            assert (board / "done" / agent_id / f"{ack['task_id']}.yaml").exists()
        assert store.committed_moves == 2 * AGENTS
        assert store.commits - before < AGENTS
        nursery.cancel_scope.cancel()

    seen = []
    while True:
        try:
            seen.append(events.receive_nowait())
        except trio.WouldBlock:
            break
    assert sum(isinstance(e, TaskAssigned) for e in seen) == AGENTS
    assert sum(isinstance(e, TaskCompleted) for e in seen) == AGENTS
    # a clean stop synced the files and dropped every journal
    assert list((config.state_dir / "journal").iterdir()) == []
