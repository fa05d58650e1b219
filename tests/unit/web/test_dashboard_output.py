"""The live output fan-out of ``/ws/dashboard``: one encoding per event, the same frames for every
client that keeps up, all that waits in one frame for one that is slower; a client that falls
behind is told so (it sends a snapshot), the others are not held up."""

from __future__ import annotations

import json

import trio
import trio.testing

from agentdeck.actors.bus import EventBus
from agentdeck.actors.messages import ExecutionEvent, TaskProgress
from agentdeck.web.dashboard_output import OutputFanout


def line(n: int, size: int = 10) -> ExecutionEvent:
    return ExecutionEvent(task_id="t", agent_id="a", generation=1, event_type="stdout",
                          text=f"{n}:" + "x" * size, timestamp=float(n))


def texts(frame: str) -> list[str]:
    message = json.loads(frame)
    events = message["data"] if message["type"] == "execution_events" else [message["data"]]
    assert message["type"] in ("execution_event", "execution_events")
    return [event["text"].split(":")[0] for event in events]


async def test_output_goes_in_batches_encoded_once_for_every_client() -> None:
    bus = EventBus()
    fanout = OutputFanout(bus)
    async with trio.open_nursery() as nursery:
        await nursery.start(fanout.run)
        with fanout.join() as first, fanout.join() as second:
            bus.publish(line(0))
            lone = await first.next()
            assert lone is not None and json.loads(lone)["type"] == "execution_event"
            assert await second.next() == lone
            for n in range(1, 300):  # a flood while the fan-out is not running
                bus.publish(line(n))
                bus.publish(TaskProgress(task_id="t", agent_id="a", progress=n))  # not output
            got: list[str] = []
            frames = 0
            while len(got) < 299:
                frame = await first.next()
                assert frame is not None
                assert await second.next() == frame
                got += texts(frame)
                frames += 1
            assert got == [str(n) for n in range(1, 300)] and frames == 1
        nursery.cancel_scope.cancel()


async def test_a_client_behind_by_more_than_its_limit_is_told_and_then_follows_again() -> None:
    bus = EventBus()
    fanout = OutputFanout(bus, client_outbox=5000)
    async with trio.open_nursery() as nursery:
        await nursery.start(fanout.run)
        with fanout.join() as slow, fanout.join() as fast:
            for n in range(20):  # ~1,100 characters a frame: the slow one overflows at the 5th
                bus.publish(line(n, size=1000))
                await trio.testing.wait_all_tasks_blocked()
                frame = await fast.next()
                assert frame is not None and texts(frame) == [str(n)]
            assert slow.lagging
            assert await slow.next() is None  # send a snapshot instead of the backlog
            bus.publish(line(20))
            frame = await slow.next()
            assert frame is not None and texts(frame) == ["20"]
        nursery.cancel_scope.cancel()


async def test_a_slower_client_gets_everything_that_waits_in_one_frame() -> None:
    bus = EventBus()
    fanout = OutputFanout(bus)
    async with trio.open_nursery() as nursery:
        await nursery.start(fanout.run)
        with fanout.join() as slower, fanout.join() as keeping_up:
            for n in range(5):  # the fan-out runs between events: five batches of one
                bus.publish(line(n))
                await trio.testing.wait_all_tasks_blocked()
                frame = await keeping_up.next()
                assert frame is not None and texts(frame) == [str(n)]
            frame = await slower.next()
            assert frame is not None and json.loads(frame)["type"] == "execution_events"
            assert texts(frame) == ["0", "1", "2", "3", "4"]
        nursery.cancel_scope.cancel()
