"""The dashboard's JSON snapshot (``GET /api/dashboard/state``) and its live socket (``/ws/dashboard``).

Both only relay: the snapshot comes from the dashboard state actor, events come from the bus, and
retry/cancel become ``RetryTask``/``CancelTask`` commands to the queue.

Socket protocol (JSON text frames). Server -> client: ``{"type": "snapshot", "data": {...}}`` on
connect, on request and whenever this client fell behind; ``{"type": "events", "data": [event...]}``
(a lone event goes out at once, events in the next 100 ms are merged into one batch);
``{"type": "execution_event", "data": event}`` for live output, at once, or
``{"type": "execution_events", "data": [event...]}`` for all the output that came while the last
frame was being sent (``web/dashboard_output.py``: encoded once for every client); ``retry_result`` /
``cancel_result`` ``{task_id, status}``; ``error {error, message}`` for a command it cannot read.
Client -> server: ``request_snapshot``, ``retry_task {task_id}``, ``cancel_task {task_id}``; anything
else is ignored.

A client that stops reading blocks only its own sender; its bus subscription then overflows and,
instead of a backlog, it gets one fresh snapshot when it reads again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from quart import Blueprint, jsonify

from agentdeck.actors.mailbox import ActorUnavailable
from agentdeck.actors.messages import (
    CancelTask,
    Event,
    ExecutionEvent,
    GetDashboardSnapshot,
    Resync,
    RetryTask,
)
from agentdeck.actors.protocol.session import RateLimit
from agentdeck.web.asgi_ws import AsgiWebSocket
from agentdeck.web.context import current_hub
from agentdeck.web.dashboard_output import OutputClient, output_fanout_of
from agentdeck.web.json_frames import encode
from agentdeck.web.origin import same_origin
from agentdeck.web.routes.events import stream_clients_full
from agentdeck.web.view.serialize import event_json

log = logging.getLogger("agentdeck.dashboard_ws")

dashboard_api = Blueprint("dashboard_api", __name__)

BATCH_WINDOW = 0.1  # seconds during which further events are merged into one batch
CLIENT_BUFFER = 512  # bus events a client may be behind before it gets a snapshot instead
MAX_BATCH = 1000  # a batch larger than this is replaced by a snapshot
MAX_TASK_ID = 256
COMMANDS_PER_SECOND = 10.0  # a person clicks; a snapshot costs the hub a full board render
COMMAND_BURST = 30.0
JSON = b"application/json"
COMMANDS = {"retry_task": (RetryTask, "retry_result"), "cancel_task": (CancelTask, "cancel_result")}


@dashboard_api.get("/api/dashboard/state")
async def dashboard_state():
    snapshot = await current_hub().ask_dashboard(GetDashboardSnapshot())  # no answer: 503 (web/errors.py)
    return jsonify(snapshot)


DASHBOARD_SOCKET_PATH = "/ws/dashboard"


def dashboard_socket_handler(app: Any, hub: Any) -> Callable[[AsgiWebSocket], Awaitable[None]]:
    """``/ws/dashboard`` as plain ASGI (``web/asgi_ws.py``): its sends skip Quart's per-frame path,
    which counts at thousands of output lines a second to every dashboard."""

    async def serve(ws: AsgiWebSocket) -> None:
        if not await ws.connected():
            return
        if not same_origin(ws.headers):
            await ws.refuse(403, encode({"error": "forbidden", "message": "cross-origin dashboard sockets "
                                                                          "are refused"}), JSON)
            return
        if stream_clients_full(hub):
            await ws.refuse(503, encode({"error": "unavailable", "message": "too many live connections"}), JSON)
            return
        socket = DashboardSocket(hub, ws, window=app.config.get("DASHBOARD_WS_WINDOW", BATCH_WINDOW))
        buffer = app.config.get("DASHBOARD_WS_BUFFER", CLIENT_BUFFER)
        with hub.bus.subscribe("dashboard-ws", buffer, without=(ExecutionEvent,)) as subscription, \
                output_fanout_of(app).join() as output, hub.stream_clients.track("ws"):
            await ws.accept()
            await socket.serve(subscription, output)
            await ws.close(1000)

    return serve


class DashboardSocket:
    """One dashboard connection: a pump from the bus and a reader of commands, sharing one sender."""

    def __init__(self, hub: Any, ws: AsgiWebSocket, *, window: float = BATCH_WINDOW) -> None:
        self._hub = hub
        self._ws = ws
        self._window = window
        self._send_lock = trio.Lock()
        self.sent_batches = 0

    async def serve(self, subscription: Any, output: OutputClient) -> None:
        await self._send_snapshot()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, subscription)
            nursery.start_soon(self._pump_output, output)
            nursery.start_soon(self._close_on_shutdown, nursery.cancel_scope)
            await self._read_commands()
            nursery.cancel_scope.cancel()

    async def _close_on_shutdown(self, scope: trio.CancelScope) -> None:
        """End the connection (1001, going away) as soon as the hub begins to stop."""
        await self._hub.shutdown.wait()
        await self._ws.close(1001, "hub shutting down")
        scope.cancel()

    async def _send(self, message: dict[str, Any]) -> None:
        await self._send_text(encode(message))

    async def _send_text(self, text: str) -> None:
        async with self._send_lock:
            await self._ws.send_text(text)

    async def _pump_output(self, output: OutputClient) -> None:
        """Live output, already batched and encoded by the fan-out; behind, a snapshot instead."""
        while True:
            frame = await output.next()
            if frame is None:
                await self._send_snapshot()
            else:
                await self._send_text(frame)

    async def _send_snapshot(self) -> None:
        try:
            snapshot = await self._hub.ask_dashboard(GetDashboardSnapshot())
        except ActorUnavailable as error:
            await self._send({"type": "error", "error": "unavailable", "message": str(error)})
            return
        await self._send({"type": "snapshot", "data": snapshot})

    async def _send_batch(self, events: list[Event]) -> None:
        self.sent_batches += 1
        await self._send({"type": "events", "data": [event_json(event) for event in events]})

    async def _pump(self, subscription: Any) -> None:
        """Leading-edge throttle: the first event goes at once, the rest of its window as one batch."""
        batch: list[Event] = []
        window_end: float | None = None
        while True:
            event: Event | None = None
            if window_end is None:
                event = await subscription.receive()
            else:
                with trio.move_on_at(window_end):
                    event = await subscription.receive()
            if event is None:  # the window closed
                if batch:
                    await self._send_batch(batch)
                    batch, window_end = [], trio.current_time() + self._window
                else:
                    window_end = None
            elif isinstance(event, Resync):
                batch = []
                await self._send_snapshot()
            elif window_end is None:
                await self._send_batch([event])
                window_end = trio.current_time() + self._window
            else:
                batch.append(event)
                if len(batch) > MAX_BATCH:
                    batch = []
                    await self._send_snapshot()

    async def _read_commands(self) -> None:
        """Until the client goes away (or floods: closed with 1008)."""
        limit = RateLimit(COMMANDS_PER_SECOND, COMMAND_BURST)
        while frames := await self._ws.frames():
            for raw in frames:
                if not limit.allow(trio.current_time()):
                    await self._send({"type": "error", "error": "rate_limited",
                                      "limit_per_second": COMMANDS_PER_SECOND, "burst": COMMAND_BURST})
                    await self._ws.close(1008, "rate limited")
                    return
                await self._command_frame(raw)

    async def _command_frame(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except (TypeError, ValueError, RecursionError):
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "request_snapshot":
            await self._send_snapshot()
        elif kind in COMMANDS:
            await self._command(kind, message.get("task_id"))

    async def _command(self, kind: str, task_id: Any) -> None:
        command, answer = COMMANDS[kind]
        if not isinstance(task_id, str) or not task_id or len(task_id) > MAX_TASK_ID:
            await self._send({"type": "error", "error": "invalid_task_id", "request": kind,
                              "message": f"{kind} needs a task_id: a non-empty string of at most "
                                         f"{MAX_TASK_ID} characters"})
            return
        try:
            status = await self._hub.ask_queue(command(task_id))
        except Exception as error:
            status = "error"
            log.warning("%s %s failed: %s", kind, task_id, error)
        await self._send({"type": answer, "task_id": task_id, "status": status})
