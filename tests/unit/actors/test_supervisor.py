"""Supervision: a crashing actor is restarted with capped exponential backoff; the others run on."""

from __future__ import annotations

import itertools
import logging

import pytest
import trio

from agentdeck.actors.bus import EventBus
from agentdeck.actors.messages import ActorRestarted
from agentdeck.actors.supervisor import Supervisor


class Flaky:
    """An actor that reports ready, then crashes ``crashes`` times before settling down."""

    def __init__(self, crashes: int, *, crash_before_ready: bool = False) -> None:
        self.crashes = crashes
        self.crash_before_ready = crash_before_ready
        self.starts: list[float] = []
        self.settled = trio.Event()

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self.starts.append(trio.current_time())
        if not self.crash_before_ready:
            task_status.started()
        if len(self.starts) <= self.crashes:
            raise RuntimeError(f"boom {len(self.starts)}")
        task_status.started()
        self.settled.set()
        await trio.sleep_forever()


class Ticker:
    def __init__(self) -> None:
        self.ticks = 0

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await trio.sleep(0.01)
            self.ticks += 1


async def test_a_crash_is_restarted_with_doubling_backoff_and_counted(autojump_clock, caplog) -> None:
    bus = EventBus()
    events = bus.subscribe("test")
    supervisor = Supervisor(bus, base_delay=0.05, max_delay=5.0)
    flaky = Flaky(crashes=3)
    caplog.set_level(logging.ERROR, logger="agentdeck.supervisor")
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run, "flaky", flaky.run)
        await flaky.settled.wait()
        gaps = [round(b - a, 6) for a, b in itertools.pairwise(flaky.starts)]
        assert gaps == [0.05, 0.1, 0.2]
        [record] = supervisor.status()
        assert record.name == "flaky" and record.restarts == 3 and record.running
        assert record.last_error == "RuntimeError: boom 3"
        restarts = [events.receive_nowait() for _ in range(3)]
        assert all(isinstance(e, ActorRestarted) for e in restarts)
        assert [e.restarts for e in restarts] == [1, 2, 3]
        nursery.cancel_scope.cancel()
    crash_logs = [r for r in caplog.records if "actor flaky crashed" in r.getMessage()]
    assert len(crash_logs) == 3 and all(r.exc_info for r in crash_logs)  # with the traceback


async def test_backoff_is_capped(autojump_clock) -> None:
    supervisor = Supervisor(EventBus(), base_delay=0.05, max_delay=0.3)
    flaky = Flaky(crashes=6)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run, "flaky", flaky.run)
        await flaky.settled.wait()
        gaps = [round(b - a, 6) for a, b in itertools.pairwise(flaky.starts)]
        assert gaps == [0.05, 0.1, 0.2, 0.3, 0.3, 0.3]
        nursery.cancel_scope.cancel()


async def test_backoff_resets_after_a_healthy_run(autojump_clock) -> None:
    runs: list[float] = []

    async def crashes_after_a_while(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        runs.append(trio.current_time())
        if len(runs) in (3, 4):
            await trio.sleep(60)  # healthy for longer than healthy_after
        if len(runs) < 6:
            raise RuntimeError("boom")
        await trio.sleep_forever()

    supervisor = Supervisor(EventBus(), base_delay=0.05, healthy_after=30)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run, "a", crashes_after_a_while)
        await trio.sleep(1000)
        gaps = [round(b - a, 6) for a, b in itertools.pairwise(runs)]
        assert gaps == [0.05, 0.1, 60.05, 60.05, 0.1]
        nursery.cancel_scope.cancel()


async def test_other_actors_keep_running_while_one_crashes(autojump_clock) -> None:
    supervisor = Supervisor(EventBus(), base_delay=1.0, max_delay=1.0)
    ticker = Ticker()
    flaky = Flaky(crashes=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run, "ticker", ticker.run)
        await nursery.start(supervisor.run, "flaky", flaky.run)
        ticks_before = ticker.ticks
        await flaky.settled.wait()  # five crashes, five seconds of backoff
        assert ticker.ticks - ticks_before >= 450
        status = {r.name: r for r in supervisor.status()}
        assert status["ticker"].restarts == 0 and status["ticker"].running
        assert status["flaky"].restarts == 5
        nursery.cancel_scope.cancel()


async def test_start_waits_for_the_first_ready_incarnation(autojump_clock) -> None:
    supervisor = Supervisor(EventBus(), base_delay=0.05)
    flaky = Flaky(crashes=2, crash_before_ready=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run, "late", flaky.run)
        assert len(flaky.starts) == 3 and flaky.settled.is_set()
        nursery.cancel_scope.cancel()


async def test_an_actor_that_returns_is_not_restarted(autojump_clock) -> None:
    calls = []

    async def once(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        calls.append(1)
        task_status.started()

    supervisor = Supervisor(EventBus())
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run, "once", once)
    assert calls == [1]
    assert supervisor.status()[0].running is False and supervisor.status()[0].restarts == 0


async def test_cancellation_is_not_a_crash(autojump_clock) -> None:
    supervisor = Supervisor(EventBus())
    ticker = Ticker()
    with trio.move_on_after(1):
        await supervisor.run("ticker", ticker.run)
    assert supervisor.status()[0].restarts == 0


async def test_restarts_since(autojump_clock) -> None:
    supervisor = Supervisor(EventBus(), base_delay=0.01)
    flaky = Flaky(crashes=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run, "flaky", flaky.run)
        await flaky.settled.wait()
        assert supervisor.restarts_since(0) == ["flaky"]
        assert supervisor.restarts_since(float("inf")) == []
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("error", "described"),
    [(KeyError("k"), "KeyError: 'k'"), (ValueError("v"), "ValueError: v"),
     (ExceptionGroup("nursery", [OSError("disk"), ZeroDivisionError("zero")]),
      "OSError: disk; ZeroDivisionError: zero")],
)
async def test_any_exception_is_supervised(autojump_clock, error: Exception, described: str) -> None:
    attempts = []

    async def raises(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        attempts.append(1)
        if len(attempts) == 1:
            raise error
        await trio.sleep_forever()

    supervisor = Supervisor(EventBus(), base_delay=0.01)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run, "x", raises)
        await trio.sleep(1)
        assert len(attempts) == 2 and supervisor.status()[0].restarts == 1
        assert supervisor.status()[0].last_error == described
        nursery.cancel_scope.cancel()
