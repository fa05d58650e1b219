"""The event bus: every subscriber sees every event; a slow one is told to resync, never waited for."""

from __future__ import annotations

import time

import trio
import trio.lowlevel

from agentdeck.actors.bus import EventBus
from agentdeck.actors.messages import Resync, TaskProgress


def progress(n: int) -> TaskProgress:
    return TaskProgress(task_id=f"t{n}", agent_id="amy", progress=n)


def drain(sub) -> list:
    events = []
    while True:
        try:
            events.append(sub.receive_nowait())
        except trio.WouldBlock:
            return events


async def test_every_subscriber_gets_every_event_in_order() -> None:
    bus = EventBus()
    subs = [bus.subscribe(f"s{i}") for i in range(3)]
    for n in range(5):
        bus.publish(progress(n))
    for sub in subs:
        assert [e.progress for e in drain(sub)] == [0, 1, 2, 3, 4]
        assert sub.delivered == 5
    assert bus.published == 5 and bus.subscriber_count == 3


async def test_a_waiting_subscriber_wakes_up_on_publish() -> None:
    bus = EventBus()
    sub = bus.subscribe("waiting")
    got = []

    async def consume() -> None:
        async for event in sub:
            got.append(event.progress)
            if len(got) == 2:
                return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await trio.lowlevel.checkpoint()
        bus.publish(progress(1))
        bus.publish(progress(2))
    assert got == [1, 2]


async def test_a_slow_subscriber_gets_resync_and_the_others_are_unaffected() -> None:
    bus = EventBus()
    slow = bus.subscribe("slow", buffer=2)
    fast = bus.subscribe("fast", buffer=100)
    for n in range(5):
        bus.publish(progress(n))  # never blocks, although "slow" is full after two
    assert slow.lagging and not fast.lagging
    assert bus.resyncs == 1
    assert bus.subscribers() == [("slow", True), ("fast", False)]

    first = await slow.receive()
    assert isinstance(first, Resync) and first.missed == 5  # the stale backlog is thrown away too
    assert not slow.lagging
    bus.publish(progress(5))
    assert [e.progress for e in drain(slow)] == [5]
    assert [e.progress for e in drain(fast)] == [0, 1, 2, 3, 4, 5]


async def test_publishing_with_a_stuck_subscriber_stays_fast() -> None:
    bus = EventBus()
    bus.subscribe("never-reads", buffer=1)
    live = bus.subscribe("live", buffer=20_000)
    started = time.perf_counter()
    for n in range(10_000):
        bus.publish(progress(n))
    assert time.perf_counter() - started < 1
    assert len(drain(live)) == 10_000


async def test_receive_nowait_also_reports_resync() -> None:
    bus = EventBus()
    sub = bus.subscribe("s", buffer=1)
    bus.publish(progress(1))
    bus.publish(progress(2))
    assert isinstance(sub.receive_nowait(), Resync)


async def test_buffer_zero_means_unbounded() -> None:
    bus = EventBus()
    sub = bus.subscribe("archive", buffer=0)
    for n in range(5000):
        bus.publish(progress(n))
    assert not sub.lagging and len(drain(sub)) == 5000


async def test_a_closed_subscription_stops_receiving_and_its_loop_ends() -> None:
    bus = EventBus()
    with bus.subscribe("gone") as sub:
        bus.publish(progress(1))
    assert bus.subscriber_count == 0
    bus.publish(progress(2))
    with trio.fail_after(1):
        remaining = [event async for event in sub]
    assert [e.progress for e in remaining] == [1]


async def test_a_subscriber_may_take_only_some_classes_or_leave_some_out() -> None:
    bus = EventBus()
    only = bus.subscribe("only", only=(Resync,))
    without = bus.subscribe("without", without=(TaskProgress,))
    everything = bus.subscribe("everything")
    resync = Resync(missed=2)
    bus.publish(progress(1))
    bus.publish(resync)
    bus.publish(progress(3))
    assert drain(only) == [resync] and drain(without) == [resync]
    assert [type(e).__name__ for e in drain(everything)] == ["TaskProgress", "Resync", "TaskProgress"]
