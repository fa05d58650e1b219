"""How the broadcaster paces its flushes with many browsers: a change that finds it idle goes out at
once (the old window after every flush held a change to 500 browsers back ~0.32 s even when the
hub had nothing else to do), a burst is still coalesced into a few flushes, and the budget keeps
the broadcaster to its share of the loop while changes keep coming."""

from __future__ import annotations

import math

import pytest
import trio

from agentdeck.web.live.broadcaster import Broadcaster
from agentdeck.web.live.clients import Client
from agentdeck.web.live.pacing import BUSY_SHARE, CREDIT_S, MAX_WINDOW_S, FlushPacer, flush_cost
from agentdeck.web.live.regions import MAIN_REGIONS, BoardFilter

BROWSERS = 500


def _browsers(broadcaster: Broadcaster, count: int) -> list[Client]:
    clients = [Client(BoardFilter(), frozenset(MAIN_REGIONS)) for _ in range(count)]
    for client in clients:
        broadcaster.fanout.add(client)
    return clients


def _change(broadcaster: Broadcaster, task: str) -> None:
    """What a task's change makes the bus reader do for the ``task-changed`` event (no render needed)."""
    broadcaster._changed_tasks.add(task)
    broadcaster._mark_name("task-changed")
    broadcaster._wake.set()


async def _arrival(client: Client, task: str, deadline: float = 5.0) -> float:
    """When ``task`` reaches the browser's log (trio time)."""
    with trio.fail_after(deadline):
        while True:
            audience = client.audience
            assert audience is not None
            if any(task.encode() in chunk.plain for chunk in client.take()):
                return trio.current_time()
            await audience.wake.wait()


async def test_a_change_that_finds_the_broadcaster_idle_goes_to_500_browsers_at_once(autojump_clock):
    broadcaster = Broadcaster(hub=None, renderer=None)
    first, *_, last = _browsers(broadcaster, BROWSERS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(broadcaster._flush_loop)
        for gap in (0.2, 0.15, 0.3, 0.12):  # changes spaced like people's edits, the hub idle between
            await trio.sleep(gap)
            started = trio.current_time()
            _change(broadcaster, f"t{gap}")
            assert await _arrival(first, f"t{gap}") - started < 0.01
            assert await _arrival(last, f"t{gap}") - started < 0.01
        nursery.cancel_scope.cancel()


async def test_a_burst_to_500_browsers_is_coalesced_and_none_of_it_is_lost(autojump_clock):
    broadcaster = Broadcaster(hub=None, renderer=None)
    (browser,) = _browsers(broadcaster, 1)
    _browsers(broadcaster, BROWSERS - 1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(broadcaster._flush_loop)
        started = trio.current_time()
        tasks = [f"b{index:03}" for index in range(100)]
        for task in tasks:  # 100 changes in one second: 20 full flushes would take 1.5 s of the loop
            _change(broadcaster, task)
            await trio.sleep(0.01)
        flushes, seen, last_at = 0, "", started
        with trio.fail_after(5):
            while not all(task in seen for task in tasks):
                chunks = browser.take()
                if chunks:
                    flushes += 1
                    seen += b"".join(chunk.plain for chunk in chunks).decode()
                    last_at = trio.current_time()
                else:
                    assert browser.audience is not None
                    await browser.audience.wake.wait()
        nursery.cancel_scope.cancel()
    affordable = ((last_at - started) * BUSY_SHARE + CREDIT_S) / flush_cost(0.0, BROWSERS)
    assert 2 <= flushes <= 2 + math.ceil(affordable)  # within the budget (and no flush per change)
    assert last_at - started < 1.0 + MAX_WINDOW_S


def test_the_budget_refills_at_its_share_and_never_holds_a_change_past_the_cap():
    pacer = FlushPacer(share=0.2, credit=0.2, max_wait=1.0)
    assert pacer.ready_at == -math.inf
    pacer.spent(10.0, 0.08)  # a flush to 500 browsers after a quiet spell: the next may go at once
    assert pacer.ready_at == -math.inf
    pacer.spent(10.1, 0.08)
    pacer.spent(10.2, 0.08)  # three back to back use up the credit and what 0.2 s earned
    pacer.spent(10.3, 0.08)  # a fourth puts it in debt: the next waits until the share pays it back
    assert pacer.ready_at == pytest.approx(10.3 + 0.06 / 0.2)
    for second in range(11, 20):  # a flush to 500 browsers every second stays within the share
        pacer.spent(float(second), 0.08)
        assert pacer.ready_at == -math.inf
    pacer.spent(30.0, 5.0)  # one enormous flush never holds the next back longer than the cap
    assert pacer.ready_at == pytest.approx(31.0)
    pacer.waive()
    assert pacer.ready_at == -math.inf
