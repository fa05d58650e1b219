"""``agentdeck fleet``: the reader(s) and the view, and a change signal for the pages that show it."""

from __future__ import annotations

import time
from typing import Any

import trio

from agentdeck.actors.fleet.reader import FleetCosts, FleetReader
from agentdeck.actors.fleet.view import STALE_AFTER, FleetView


class Fleet:
    def __init__(self, broker_url: str, telemetry_url: str | None = None, *,
                 budgets: dict[str, float | None] | None = None, stale_after: float = STALE_AFTER,
                 poll: float = 0.25) -> None:
        self.broker_url = broker_url
        self.telemetry_url = telemetry_url
        self.started_at = time.time()
        self.shutdown = trio.Event()
        self.view = FleetView(stale_after=stale_after)
        self._changed = trio.Event()
        self.reader = FleetReader(broker_url, self.view, self.notify, poll=poll)
        self.costs = (FleetCosts(telemetry_url, self.view, self.notify, budgets=budgets)
                      if telemetry_url is not None else None)
        self._snapshot: tuple[tuple[int, int], dict[str, Any]] | None = None

    def notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_changed(self, timeout: float) -> None:
        """Until the view changed, or ``timeout`` passed (reachability also changes with time)."""
        with trio.move_on_after(timeout):
            await self._changed.wait()

    def snapshot(self) -> dict[str, Any]:
        """The view's snapshot, computed once per change (and per half second) for every page."""
        now = trio.current_time()
        key = (self.view.version, int(now * 2))
        if self._snapshot is None or self._snapshot[0] != key:
            self._snapshot = (key, self.view.snapshot(now))
        return self._snapshot[1]

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.reader.run)
            if self.costs is not None:
                await nursery.start(self.costs.run)
            task_status.started()

    def stop(self) -> None:
        self.shutdown.set()
        self.notify()  # wakes the pages' streams, which end
