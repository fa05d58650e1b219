"""One WebSocket over plain ASGI: the frames waiting taken in one go, text frames out.

Quart hands each incoming frame through two task hops (its reader task, then its own queue) before
a handler sees it; at thousands of frames a second that is most of what a socket costs. Here the
handler reads Hypercorn's ASGI events itself. Hypercorn's trio worker gives the app the bound
``receive`` of a trio memory channel: when that is so, ``frames()`` takes every frame already in it
without a checkpoint each (``batched`` says whether it can). With any other server it takes one
event per call, which is correct, only slower.

Hypercorn puts ``websocket.disconnect`` after every frame it read, so a handler that reads until
``frames()`` returns ``[]`` has seen every frame the client sent before it went away.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import trio
from werkzeug.datastructures import Headers

Frame = str | bytes
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]

MAX_FRAMES_PER_READ = 256  # a read that takes more leaves the rest for the next one


class AsgiWebSocket:
    """The server side of one ASGI WebSocket connection."""

    def __init__(self, scope: Mapping[str, Any], receive: Receive, send: Send) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        channel = getattr(receive, "__self__", None)
        self._receive_nowait: Callable[[], Mapping[str, Any]] | None = \
            channel.receive_nowait if isinstance(channel, trio.MemoryReceiveChannel) else None
        self.headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ())])
        self.gone = False  # the client went away (or never connected): no frame comes any more
        self.closed = False  # this side sent its close

    @property
    def batched(self) -> bool:
        """Frames waiting are taken together (the server hands over a trio channel)."""
        return self._receive_nowait is not None

    async def connected(self) -> bool:
        """Wait for the handshake event; False if the client went away first."""
        event = await self._receive()
        if event.get("type") != "websocket.connect":
            self.gone = True
            return False
        return True

    async def accept(self) -> None:
        await self._send({"type": "websocket.accept"})

    async def refuse(self, status: int, text: str, content_type: bytes = b"text/plain; charset=utf-8") -> None:
        """Answer the handshake with an HTTP status and a short body (no WebSocket is opened)."""
        if "websocket.http.response" not in (self._scope.get("extensions") or {}):
            await self._send({"type": "websocket.close", "code": 1008, "reason": text[:120]})
            return
        body = text.encode()
        await self._send({"type": "websocket.http.response.start", "status": status, "headers": [
            (b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
        await self._send({"type": "websocket.http.response.body", "body": body})

    async def frames(self) -> list[Frame]:
        """Every frame waiting, oldest first, at least one; ``[]`` once the client is gone.

        An empty binary frame is ``b""``; a disconnect ends the list (nothing follows it)."""
        frames: list[Frame] = []
        while not frames and not self.gone:
            event = await self._receive()
            while True:
                kind = event.get("type")
                if kind == "websocket.receive":
                    text = event.get("text")
                    frames.append(text if text is not None else bytes(event.get("bytes") or b""))
                elif kind == "websocket.disconnect":
                    self.gone = True
                    break
                if self._receive_nowait is None or len(frames) >= MAX_FRAMES_PER_READ:
                    break
                try:
                    event = self._receive_nowait()
                except trio.WouldBlock:
                    break
                except trio.EndOfChannel:
                    self.gone = True
                    break
        return frames

    async def send_text(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": text})

    async def close(self, code: int, reason: str = "") -> None:
        """Close with ``code`` (once: later calls, or a close after the client left, do nothing)."""
        if self.closed or self.gone:
            return
        self.closed = True
        await self._send({"type": "websocket.close", "code": code, "reason": reason})


Handler = Callable[[AsgiWebSocket], Awaitable[None]]


class PlainSockets:
    """ASGI middleware: the WebSocket paths in ``handlers`` served by their handler, everything else
    handed to ``app``. Put it behind the gate (``web/guard.py``): it checks no Host or session."""

    def __init__(self, app: ASGIApp, handlers: Mapping[str, Handler]) -> None:
        self.app = app
        self.handlers = dict(handlers)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        handler = self.handlers.get(scope.get("path", "")) if scope.get("type") == "websocket" else None
        if handler is None:
            await self.app(scope, receive, send)
        else:
            await handler(AsgiWebSocket(scope, receive, send))
