"""Live output for every ``/ws/dashboard`` client: one bus subscriber, one JSON encoding per batch.

Execution events are the bulk of the bus's traffic (thousands a second). Were every dashboard
socket to take them from the bus itself, each would wake, encode and send once per event. Here one
task takes them instead, as many as arrived while it was busy (no timer: a lone event goes at
once, a flood goes in few large batches), encodes the batch once, and hands the same text to each
client's bounded outbox. A client whose outbox is full is marked lagging; its socket then drops
the backlog and sends a snapshot, as for any other overflow. Events keep the bus's order.

Frames: ``{"type": "execution_event", "data": event}`` for a batch of one,
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
MAX_BATCH = 2000  # events in one frame


class OutputClient:
    """One dashboard socket's side: encoded batches to send, or word that it fell behind. The
    backlog is bounded in characters, since a batch may hold one event or thousands."""

    def __init__(self, limit: int) -> None:
        # None in the outbox only wakes the socket to see that it is lagging
        self._send, self._receive = trio.open_memory_channel[str | None](math.inf)
        self._limit = limit
        self._queued = 0
        self.lagging = False

    def offer(self, frame: str) -> None:
        if self.lagging:
            return
        if self._queued + len(frame) > self._limit:  # the socket finds the flag when it reads
            self.lagging = True
            return
        self._queued += len(frame)
        self._send.send_nowait(frame)

    def fell_behind(self) -> None:
        self.lagging = True
        self._send.send_nowait(None)

    async def next(self) -> str | None:
        """The next frame to send; None once it fell behind (send a snapshot instead)."""
        frame = await self._receive.receive()
        if frame is not None:
            self._queued -= len(frame)
        if not self.lagging:
            return frame
        with contextlib.suppress(trio.WouldBlock):
            while True:
                self._receive.receive_nowait()
        self._queued = 0
        self.lagging = False
        return None


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
        output = [event_json(event) for event in batch if isinstance(event, ExecutionEvent)]
        if len(output) < len(batch):  # a Resync: the fan-out itself fell behind
            for client in self._clients:
                client.fell_behind()
            return
        self.batches += 1
        if len(output) == 1:
            frame = encode({"type": "execution_event", "data": output[0]})
        else:
            frame = encode({"type": "execution_events", "data": output})
        for client in self._clients:
            client.offer(frame)


FANOUT_KEY = "agentdeck.dashboard_output"


def install_output_fanout(app: Any, bus: EventBus) -> OutputFanout:
    fanout = OutputFanout(bus)
    app.extensions[FANOUT_KEY] = fanout
    return fanout


def output_fanout_of(app: Any) -> OutputFanout:
    fanout: OutputFanout = app.extensions[FANOUT_KEY]
    return fanout
