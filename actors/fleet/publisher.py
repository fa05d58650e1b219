"""The publisher: this hub's lifecycle events and state, sent to Redis for ``agentdeck fleet``.

It follows the bus, turns the events a fleet shows into small entries (``wire.entry_for``) and keeps
them in an outbox until Redis took them: while Redis is down (or restarting, or slow) entries wait,
up to ``outbox_limit`` (then the oldest go, counted), and are sent in order once it is back; /health
shows it (``status()``). The state (lane counts, agents, costs, health) is not queued: only the
latest matters, so it is sent with every round that has something to send, and at least every
``heartbeat`` seconds, which is how the fleet tells a live hub from a gone one.

The Redis client (redis-py) blocks: every call runs in a worker thread, one at a time, so the event
loop never waits on the network. Nothing here writes the board or the telemetry.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import trio

from agentdeck.actors.bus import EventBus, Subscription
from agentdeck.actors.config import redact_url
from agentdeck.actors.fleet import wire
from agentdeck.actors.messages import Resync

log = logging.getLogger("agentdeck.fleet")

class Publisher:
    def __init__(self, hub: str, url: str, bus: EventBus,
                 state: Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]],
                 registration: Callable[[], Mapping[str, Any]], shutdown: trio.Event, *,
                 output: bool = False, output_rate: int = 20,
                 stream_maxlen: int = 10_000, outbox_limit: int = 100_000, heartbeat: float = 1.0,
                 min_interval: float = 0.1, state_ttl: float = 15.0, retry_max: float = 2.0) -> None:
        self.hub = hub
        self.url = url
        self._bus = bus
        self._state = state
        self._registration = registration
        self._shutdown = shutdown
        self._output = output
        self._output_rate = output_rate
        self._output_window = -1.0
        self._output_sent = 0
        self.output_skipped = 0
        self._maxlen = stream_maxlen
        self._outbox: deque[str] = deque()
        self._outbox_limit = outbox_limit
        self._heartbeat = heartbeat
        self._min_interval = min_interval
        self._state_ttl_ms = int(state_ttl * 1000)
        self._retry_max = retry_max
        self._subscription: Subscription | None = None
        self._wake = trio.Event()
        self._seq = 0
        self._client: Any = None
        self._registered = False
        self.connected = False
        self.error: str | None = None
        self.published = 0
        self.dropped = 0
        self.outage_started: float | None = None
        self.last_sent_at: float | None = None

    def status(self) -> dict[str, Any]:
        """For /health: whether events reach the broker, and what waits for it."""
        return {"url": redact_url(self.url), "hub": self.hub, "connected": self.connected,
                "buffering": bool(self._outbox) and not self.connected, "pending_events": len(self._outbox),
                "published": self.published, "dropped": self.dropped, "output_skipped": self.output_skipped,
                "error": self.error,
                "down_since": self.outage_started, "last_sent_at": self.last_sent_at}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self._subscription is None:  # kept across restarts: no event is lost to a crash here
            self._subscription = self._bus.subscribe("fleet-publisher", 50_000)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._follow, self._subscription)
            nursery.start_soon(self._announce_stop)
            task_status.started()
            await self._publish_forever()

    async def _follow(self, subscription: Subscription) -> None:
        async for event in subscription:
            if isinstance(event, Resync):
                log.warning("fleet publisher fell behind the bus: %d event(s) not published", event.missed)
                self.dropped += event.missed
                continue
            try:
                entry = wire.entry_for(event, output=self._output)
                if entry is None or (entry["level"] == "output" and not self._output_allowed()):
                    continue
                encoded = wire.encode(entry)
            except (AttributeError, TypeError, ValueError) as error:
                log.error("fleet publisher cannot encode %s: %s", type(event).__name__, error)
                continue
            self._outbox.append(encoded)
            if len(self._outbox) > self._outbox_limit:
                self._outbox.popleft()
                self.dropped += 1
            self._wake.set()

    def _output_allowed(self) -> bool:
        """At most ``output_rate`` output lines a second: output must not push events out of the
        capped stream."""
        now = trio.current_time()
        if now - self._output_window >= 1.0:
            self._output_window, self._output_sent = now, 0
        if self._output_sent >= self._output_rate:
            self.output_skipped += 1
            return False
        self._output_sent += 1
        return True

    async def _publish_forever(self) -> None:
        delay = self._min_interval
        while True:
            with trio.move_on_after(self._heartbeat):
                await self._wake.wait()
            self._wake = trio.Event()
            batch = list(self._outbox)[:5000]
            self._seq += 1
            payload = None
            try:
                if not self._shutdown.is_set():  # a stopping hub sends no more signs of life
                    state = await self._state(self.status())
                    payload = wire.encode(wire.hub_state(self.hub, self._seq, time.time(), **state))
            except Exception as error:  # an actor that does not answer: send the events anyway
                log.debug("fleet publisher has no state this round: %s", error)
            try:
                await trio.to_thread.run_sync(self._send, batch, payload)
            except Exception as error:  # redis.RedisError, OSError: Redis is down or restarting
                self._note_down(error)
                delay = min(max(delay * 2, 0.1), self._retry_max)
                await trio.sleep(delay)
                self._wake.set()
                continue
            delay = self._min_interval
            for _ in range(len(batch)):
                self._outbox.popleft()
            self.published += len(batch)
            self._note_up()
            await trio.sleep(self._min_interval)
            if self._outbox or batch:  # one more state soon: the dashboard may not have seen them yet
                self._wake.set()

    def _send(self, entries: Sequence[str], state: str | None) -> None:
        """Runs in a worker thread: one pipelined round trip (entries in order, then the state)."""
        client = self._connect()
        try:
            pipe = client.pipeline(transaction=False)
            key = wire.events_key(self.hub)
            for entry in entries:
                pipe.xadd(key, {wire.ENTRY_FIELD: entry}, maxlen=self._maxlen, approximate=True)
            if state is not None:
                pipe.set(wire.state_key(self.hub), state, px=self._state_ttl_ms)
            if state is not None or not self._registered:  # Redis may have restarted empty
                pipe.hset(wire.REGISTRY_KEY, self.hub, wire.encode(self._registration()))
            pipe.execute()
            self._registered = True
        except BaseException:
            self._drop_client()
            raise

    def _connect(self) -> Any:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(self.url, socket_timeout=2.0, socket_connect_timeout=1.0,
                                                retry_on_timeout=False)
            self._registered = False
        return self._client

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception as error:  # closing a broken connection: nothing more to do
                log.debug("closing the Redis client: %s", error)

    def _note_down(self, error: BaseException) -> None:
        message = f"{type(error).__name__}: {error}"
        if self.connected or self.error is None:
            log.warning("broker unavailable (%s): buffering %d event(s)", message, len(self._outbox))
        if self.outage_started is None:
            self.outage_started = time.time()
        self.connected = False
        self.error = message

    def _note_up(self) -> None:
        if not self.connected and self.outage_started is not None:
            log.info("broker reachable again after %.1f s", time.time() - self.outage_started)
        self.connected = True
        self.error = None
        self.outage_started = None
        self.last_sent_at = time.time()

    async def _announce_stop(self) -> None:
        await self._shutdown.wait()
        with trio.CancelScope(shield=True), trio.move_on_after(1.0):
            await trio.to_thread.run_sync(self._send_stop, abandon_on_cancel=True)

    def _send_stop(self) -> None:
        """Best effort at shutdown, in a thread: tell the fleet this hub stopped (not crashed)."""
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        entry = wire.encode({"kind": "hub.stopped", "at": time.time(), "level": "warning",
                             "text": "hub stopped"})
        try:
            client.xadd(wire.events_key(self.hub), {wire.ENTRY_FIELD: entry}, maxlen=self._maxlen,
                        approximate=True)
            client.delete(wire.state_key(self.hub))
        except Exception as error:
            log.debug("could not announce the stop: %s", error)
        finally:
            client.close()
