"""The frames a WebSocket client sent that its handler had not read when the connection ended.

On disconnect quart-trio cancels the handler and drops the frames it had buffered (up to 10), so an
agent that sends ``task_complete`` and then closes would lose it. This ASGI middleware notes, per
WebSocket connection, every frame the server received; the handler crosses one off per ``receive``
(:func:`took_one`) and, once the client is gone, reads the rest (:func:`unread`). It uses only the
ASGI interface and the request's public ``scope``: nothing of quart-trio's internals.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from hypercorn.typing import ASGIReceiveCallable, ASGIReceiveEvent, ASGISendCallable, Scope

ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]

LEDGER_KEY = "agentdeck.unread_frames"

Frame = str | bytes | None  # None: an empty binary frame, as quart hands it over


class FrameLedger:
    """ASGI middleware: ``app.asgi_app = FrameLedger(app.asgi_app, paths={"/ws"})``.

    Only the sockets at ``paths`` are noted: their handler must call :func:`took_one` per frame.
    """

    def __init__(self, app: ASGIApp, paths: set[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] != "websocket" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        frames: deque[Frame] = deque()

        async def receive_and_note() -> ASGIReceiveEvent:
            event = await receive()
            if event["type"] == "websocket.receive":
                frames.append(event.get("bytes") or event.get("text"))
            return event

        await self.app(cast(Scope, {**scope, LEDGER_KEY: frames}), receive_and_note, send)


def took_one(scope: Mapping[str, Any]) -> None:
    """The handler read a frame (frames reach it in the order they arrived)."""
    frames = scope.get(LEDGER_KEY)
    if frames:
        frames.popleft()


def unread(scope: Mapping[str, Any]) -> list[Frame]:
    """Frames that arrived and were never read, oldest first; the ledger is emptied."""
    frames = scope.get(LEDGER_KEY)
    if not frames:
        return []
    left = list(frames)
    frames.clear()
    return left
