"""The event bus: one publisher call fans an event out to every subscriber without ever waiting.

Each subscriber has its own bounded buffer. When a buffer is full the subscriber is marked as
lagging and stops receiving; the next time it reads it gets a ``Resync`` (its stale backlog is
thrown away) and it is expected to re-read the state it mirrors. A slow dashboard can therefore
never block the hub or the other subscribers, and it never builds an ever-growing backlog.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import trio

from agentdeck.actors.messages import Event, Resync


class Subscription:
    """One subscriber's view of the bus; iterate it (``async for event in sub``)."""

    def __init__(self, bus: EventBus, name: str, buffer: float,
                 only: type | tuple[type, ...] | None = None,
                 without: type | tuple[type, ...] | None = None) -> None:
        self.name = name
        self._bus = bus
        self._only = only
        self._without = without
        self._send, self._receive = trio.open_memory_channel[Event](buffer)
        self._missed = 0
        self.lagging = False
        self.delivered = 0

    def _offer(self, event: Event) -> None:
        if (self._only is not None and not isinstance(event, self._only)) or \
                (self._without is not None and isinstance(event, self._without)):
            return
        if self.lagging:
            self._missed += 1
            return
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self.lagging = True
            self._missed += 1

    async def receive(self) -> Event:
        if self.lagging:
            return self._resync()
        event = await self._receive.receive()
        if self.lagging:
            return self._resync()
        self.delivered += 1
        return event

    def receive_nowait(self) -> Event:
        """The next buffered event, or raise trio.WouldBlock."""
        if self.lagging:
            return self._resync()
        event = self._receive.receive_nowait()
        self.delivered += 1
        return event

    def _resync(self) -> Resync:
        dropped = 0
        while True:
            try:
                self._receive.receive_nowait()
                dropped += 1
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        missed, self._missed = self._missed + dropped, 0
        self.lagging = False
        return Resync(missed=missed)

    def close(self) -> None:
        self._bus._unsubscribe(self)
        self._send.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Fan-out of events to subscribers; ``publish`` is synchronous and never blocks."""

    def __init__(self, default_buffer: int = 1024) -> None:
        self._default_buffer = default_buffer
        self._subscribers: list[Subscription] = []
        self.published = 0
        self.resyncs = 0

    def subscribe(self, name: str, buffer: int | None = None, *,
                  only: type | tuple[type, ...] | None = None,
                  without: type | tuple[type, ...] | None = None) -> Subscription:
        """A new subscriber; ``only``/``without`` pick event classes (one wake-up less per event
        it has no use for, which counts for high-rate events such as live output)."""
        size = self._default_buffer if buffer is None else buffer
        sub = Subscription(self, name, size if size > 0 else math.inf, only, without)
        self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    def publish(self, event: Event) -> None:
        self.published += 1
        for sub in tuple(self._subscribers):
            was_lagging = sub.lagging
            sub._offer(event)
            if sub.lagging and not was_lagging:
                self.resyncs += 1

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribers(self) -> list[tuple[str, bool]]:
        return [(sub.name, sub.lagging) for sub in self._subscribers]
