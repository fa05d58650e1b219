"""A real hub running in a background thread (its own ``trio.run``), for Playwright's sync API.

Playwright's sync API blocks the calling thread, so the hub cannot share it: ``HubThread`` starts
the hub (actors + Hypercorn on 127.0.0.1) in a thread, reports its URL, lets the test run functions
inside the hub's event loop (``call``), and stops it cleanly. Also used by the dashboard benchmark.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.web.server import run_hub

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def wait_for_script(page: Any, expression: str, timeout_ms: float) -> None:
    """Poll ``expression`` until it is truthy.

    Playwright's ``wait_for_function`` re-evaluates its predicate with ``eval`` inside the page
    once the first check fails, which the hub's Content-Security-Policy (rightly) refuses; a
    ``page.evaluate`` from outside is not subject to it.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_ms:.0f} ms: {expression}")
        page.wait_for_timeout(50)


class HubThread:
    def __init__(self, work_dir: Path, port: int = 0, **config: Any) -> None:
        self.config = HubConfig(work_dir=work_dir, port=port, fsync=False, **config)
        self.hub: Hub | None = None
        self.base_url = ""
        self.port = port
        self._token: trio.lowlevel.TrioToken | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._nursery: trio.Nursery | None = None
        self._thread = threading.Thread(target=self._main, name="hub", daemon=True)

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as error:
            self._error = error
            self._ready.set()

    async def _serve(self) -> None:
        self.hub = Hub(self.config)
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(run_hub, self.hub)
            self.base_url = next(a for a in addresses if a.startswith("http://"))
            self.port = int(self.base_url.rsplit(":", 1)[1])
            async with trio.open_nursery() as extras:
                self._nursery = extras
                self._ready.set()
                await self.hub.shutdown.wait()
                extras.cancel_scope.cancel()

    def start(self, timeout: float = 15.0) -> HubThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("hub did not start")
        if self._error is not None:
            raise RuntimeError("hub failed to start") from self._error
        return self

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a synchronous function inside the hub's event loop (e.g. ``hub.bus.publish``)."""
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def run(self, afn: Callable[..., Any], *args: Any) -> Any:
        """Run an async function inside the hub's event loop and return its result."""
        return trio.from_thread.run(afn, *args, trio_token=self._token)

    def spawn(self, afn: Callable[..., Any], *args: Any) -> None:
        """Start a background task (e.g. a reference agent) in the hub's event loop."""
        self.call(self._nursery.start_soon, afn, *args)

    def stop(self, timeout: float = 15.0) -> None:
        if self.hub is not None and self._thread.is_alive():
            with contextlib.suppress(trio.RunFinishedError):
                self.call(self.hub.stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("hub did not stop")
