"""Live output for every ``/ws/dashboard`` client: one bus subscriber, each event JSON-encoded once.

Execution events are the bulk of the bus's traffic (thousands a second). Were every dashboard
socket to take them from the bus itself, each would wake, encode and send once per event. Here one
task takes them instead, as many as arrived while it was busy, encodes each event once and hands
the encoded batch to every client's outbox. A client's socket sends everything in its outbox as
one frame: a client that keeps up gets each event at once, one that is slower (its last send still
under way) gets what came meanwhile in one frame, so the cost of sending shrinks as the rate grows
and no timer ever holds an event back. A client more than ``CLIENT_OUTBOX`` characters behind is
marked lagging; its socket then drops the backlog and sends a snapshot, as for any other overflow.
Events keep the bus's order.

Frames: ``{"type": "execution_event", "data": event}`` for one event,
``{"type": "execution_events", "data": [event, ...]}`` for more.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import trio

from agentdeck.actors.bus import EventBus
from agentdeck.actors.messages import ExecutionEvent
from agentdeck.web.json_frames import encode
from agentdeck.web.view.serialize import event_json

BUS_BUFFER = 50_000  # events behind before the fan-out itself resyncs (every client gets a snapshot)
CLIENT_OUTBOX = 4 * 1024 * 1024  # characters a client may be behind before it gets a snapshot instead
MAX_BATCH = 2000  # events the fan-out takes off the bus at once


class OutputClient:
    """One dashboard socket's side: encoded events waiting to be sent, or word that it fell
    behind. The backlog is bounded in characters, since a batch may hold one event or thousands."""

    def __init__(self, limit: int) -> None:
        # (events encoded and joined by commas, how many); None only wakes the socket to see
        # that it is lagging
        self._send, self._receive = trio.open_memory_channel[tuple[str, int] | None](math.inf)
        self._limit = limit
        self._queued = 0
        self.lagging = False

    def offer(self, events: str, count: int) -> None:
        if self.lagging:
            return
        if self._queued + len(events) > self._limit:  # the socket finds the flag when it reads
            self.lagging = True
            return
        self._queued += len(events)
        self._send.send_nowait((events, count))

    def fell_behind(self) -> None:
        self.lagging = True
        self._send.send_nowait(None)

    async def next(self) -> str | None:
        """One frame with every event waiting; None once it fell behind (send a snapshot instead)."""
        pieces = [await self._receive.receive()]
        with contextlib.suppress(trio.WouldBlock):
            while True:
                pieces.append(self._receive.receive_nowait())
        if self.lagging:
            self._queued = 0
            self.lagging = False
            return None
        batches = [piece for piece in pieces if piece is not None]
        self._queued -= sum(len(events) for events, _ in batches)
        count = sum(n for _, n in batches)
        if count == 0:
            return await self.next()
        if count == 1:
            return '{"type":"execution_event","data":' + batches[0][0] + "}"
        return '{"type":"execution_events","data":[' + ",".join(events for events, _ in batches) + "]}"


class OutputFanout:
    """Run once per app (supervised, see ``web/server.py``); each dashboard socket ``join``s."""

    def __init__(self, bus: EventBus, *, client_outbox: int = CLIENT_OUTBOX) -> None:
        self._bus = bus
        self._client_outbox = client_outbox
        self._clients: list[OutputClient] = []
        self.batches = 0

    @contextlib.contextmanager
    def join(self) -> Iterator[OutputClient]:
        client = OutputClient(self._client_outbox)
        self._clients.append(client)
        try:
            yield client
        finally:
            self._clients.remove(client)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self._bus.subscribe("dashboard-output", BUS_BUFFER, only=(ExecutionEvent,)) as events:
            task_status.started()
            while True:
                first = await events.receive()
                batch: list[Any] = [first]
                with contextlib.suppress(trio.WouldBlock):
                    while len(batch) < MAX_BATCH:
                        batch.append(events.receive_nowait())
                self._send(batch)

    def _send(self, batch: list[Any]) -> None:
        output = [encode(event_json(event)) for event in batch if isinstance(event, ExecutionEvent)]
        if len(output) < len(batch):  # a Resync: the fan-out itself fell behind
            for client in self._clients:
                client.fell_behind()
            return
        self.batches += 1
        events = ",".join(output)
        for client in self._clients:
            client.offer(events, len(output))


FANOUT_KEY = "agentdeck.dashboard_output"


def install_output_fanout(app: Any, bus: EventBus) -> OutputFanout:
    fanout = OutputFanout(bus)
    app.extensions[FANOUT_KEY] = fanout
    return fanout


def output_fanout_of(app: Any) -> OutputFanout:
    fanout: OutputFanout = app.extensions[FANOUT_KEY]
    return fanout
