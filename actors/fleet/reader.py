"""The fleet reader: follows every hub on the broker (and, optionally, the shared telemetry database)
and folds what it reads into a ``FleetView``. It only reads: it never writes a task file, a stream or
a hub's state.

One round, in a worker thread (redis-py blocks): the hub registry (every ``registry_every`` s), the
last ``backlog`` entries of a hub seen for the first time, ``XREAD BLOCK`` on every hub's stream for
at most ``poll`` seconds, then every hub's state in one ``MGET``. The results are applied to the view
in the Trio thread, so the view has one writer. When Redis is down the view says so and the reader
retries; after a restart (an empty Redis) hubs reappear as soon as they publish again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import attrs
import trio

from agentdeck.actors.config import HUB_ID
from agentdeck.actors.fleet import wire
from agentdeck.actors.fleet.view import FleetView

log = logging.getLogger("agentdeck.fleet")


@attrs.frozen
class Round:
    registry: dict[str, Any] | None
    backlog: dict[str, list[tuple[str, Any]]]
    entries: dict[str, list[tuple[str, Any]]]
    states: dict[str, Any]


class FleetReader:
    def __init__(self, url: str, view: FleetView, changed: Callable[[], None], *, poll: float = 0.25,
                 registry_every: float = 1.0, backlog: int = 50, retry: float = 0.5) -> None:
        self.url = url
        self.view = view
        self._changed = changed
        self._poll = poll
        self._registry_every = registry_every
        self._backlog = backlog
        self._retry = retry
        self._client: Any = None
        self._last_ids: dict[str, str] = {}
        self._registry_at = -float("inf")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            version = self.view.version
            try:
                result = await trio.to_thread.run_sync(self._read, list(self.view.hubs),
                                                       abandon_on_cancel=True)
            except Exception as error:  # redis.RedisError, OSError: the broker is down
                self._drop_client()
                self.view.broker_down(f"{type(error).__name__}: {error}", time.time())
                await trio.sleep(self._retry)
            else:
                self._apply(result, trio.current_time())
            if self.view.version != version:
                self._changed()

    def _apply(self, result: Round, now: float) -> None:
        view = self.view
        view.broker_up()
        if result.registry is not None:
            view.registered(result.registry, now)
            view.forget_gone(now)
        for hub, entries in (*result.backlog.items(), *result.entries.items()):
            if entries:
                self._last_ids[hub] = max(self._last_ids.get(hub, "0-0"), entries[-1][0], key=_id_order)
            view.entries(hub, entries)
        for hub, raw in result.states.items():
            view.state(hub, raw, now)

    def _read(self, known: list[str]) -> Round:
        """Runs in a worker thread."""
        client = self._connect()
        registry = None
        backlog: dict[str, list[tuple[str, Any]]] = {}
        if time.monotonic() - self._registry_at >= self._registry_every:
            registry = {_text(hub): raw for hub, raw in client.hgetall(wire.REGISTRY_KEY).items()
                        if HUB_ID.fullmatch(_text(hub))}
            self._registry_at = time.monotonic()
            for hub in registry:
                if hub not in self._last_ids and hub not in known:
                    newest = client.xrevrange(wire.events_key(hub), count=self._backlog)
                    backlog[hub] = [(_text(entry_id), fields.get(wire.ENTRY_FIELD.encode()))
                                    for entry_id, fields in reversed(newest)]
                    self._last_ids.setdefault(hub, backlog[hub][-1][0] if backlog[hub] else "0-0")
        hubs = sorted(set(known) | set(registry or ()))
        entries: dict[str, list[tuple[str, Any]]] = {}
        if hubs:
            streams = {wire.events_key(hub): self._last_ids.get(hub, "0-0") for hub in hubs}
            for key, items in client.xread(streams, count=1000, block=int(self._poll * 1000)) or []:
                hub = _text(key).split(":")[2]
                entries[hub] = [(_text(entry_id), fields.get(wire.ENTRY_FIELD.encode()))
                                for entry_id, fields in items]
            values = client.mget([wire.state_key(hub) for hub in hubs])
            states = dict(zip(hubs, values, strict=True))
        else:
            time.sleep(self._poll)
            states = {}
        return Round(registry, backlog, entries, states)

    def _connect(self) -> Any:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(self.url, socket_timeout=self._poll + 2.0,
                                                socket_connect_timeout=1.0)
        return self._client

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._registry_at = -float("inf")
        if client is not None:
            try:
                client.close()
            except Exception as error:
                log.debug("closing the Redis client: %s", error)


class FleetCosts:
    """Reads the fleet's figures from the shared PostgreSQL telemetry (read-only, but for the fleet
    budgets it was asked to set) every ``interval`` seconds."""

    def __init__(self, url: str, view: FleetView, changed: Callable[[], None], *,
                 budgets: dict[str, float | None] | None = None, interval: float = 1.0) -> None:
        from agentdeck.actors.telemetry.postgres import PostgresTelemetryStore

        self.store = PostgresTelemetryStore(url, None, verify_interval=30.0)
        self.view = view
        self._changed = changed
        self._budgets = budgets or {}
        self._interval = interval

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            while True:
                try:
                    stats = await trio.to_thread.run_sync(self._read)
                except self.store.unavailable as error:
                    self.view.costs(None, f"{type(error).__name__}: {error}")
                else:
                    self.view.costs(stats)
                self._changed()
                await trio.sleep(self._interval)
        finally:
            self.store.close()

    def _read(self) -> dict[str, Any] | None:
        self.store.open()
        if self._budgets:
            self.store.set_fleet_budgets(self._budgets)
            self._budgets = {}
        self.store.refresh()
        return self.store.fleet_stats()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _id_order(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    try:
        return int(millis), int(seq or 0)
    except ValueError:
        return 0, 0
