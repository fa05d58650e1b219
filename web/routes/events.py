"""``GET /events``: one server-sent event stream per browser, carrying rendered HTML fragments.

The ``Broadcaster`` (``web/live/broadcaster.py``) renders; this module connects a browser to it: the
request's filters and ``Last-Event-ID`` (or ``since``) are read up front, then the stream sends
what the browser missed (or a full resync) and then reads its audience's shared log
(``web/live/clients.py``) at its own pace, everything that piled up as one write (the broadcaster
adds a keepalive comment every 15 s). Streams end as soon as the hub shuts down.

It is a plain ASGI app in front of Quart (``EventStreams``; the request guard still checks Host and
the session, and adds the security headers): 500 browsers cost 500 ASGI sends per flush and no
more, not Quart's per-chunk generator and response hops besides. Browsers that share a flush share
its bytes: each flush is encoded (and gzip-compressed, when the browser accepts gzip) once for all
of them (``web/compression.py``), so the stream sets its own Content-Encoding.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import trio
from quart import Quart, current_app

from agentdeck.actors.hub import Hub
from agentdeck.web.compression import EncodedStream, SharedEncoder, accepts_gzip_in
from agentdeck.web.live.broadcaster import Broadcaster
from agentdeck.web.live.clients import Client, Emitted
from agentdeck.web.live.regions import GRAPH_REGIONS, MAIN_REGIONS, BoardFilter, Renderer, fragment_env

PATH = "/events"
TAB_ID = re.compile(r"[0-9a-f]{16,64}")  # a page's id (``secrets.token_hex``)
RETRY = "retry: 1000\n\n"
BROADCASTER_KEY = "agentdeck.sse"
ENCODER_KEY = "agentdeck.sse.encoder"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def install_broadcaster(app: Quart, hub: Hub) -> Broadcaster:
    """The app's one broadcaster (and the encoder its streams share). It is not started here: the
    hub runs it under its supervisor (``web/server.py``), so a crash restarts it and shows in
    ``/health``."""
    broadcaster = Broadcaster(hub, Renderer(fragment_env(app), hub, card_cache=5000))
    app.extensions[BROADCASTER_KEY] = broadcaster
    app.extensions[ENCODER_KEY] = SharedEncoder()
    return broadcaster


def broadcaster_of(app: Quart) -> Broadcaster:
    broadcaster: Broadcaster = app.extensions[BROADCASTER_KEY]
    return broadcaster


def current_broadcaster() -> Broadcaster:
    return broadcaster_of(current_app)


def stream_clients_full(hub: Any) -> bool:
    """The cap on open live connections (SSE streams and dashboard sockets together)."""
    return hub.stream_clients.count("sse") + hub.stream_clients.count("ws") >= hub.config.max_stream_clients


def _texts(items: Iterable[Emitted], prefix: str = "") -> Callable[[], str]:
    return lambda: prefix + "".join(item.text for item in items)


def _headers(scope: Scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope.get("headers") or () if key.lower() == name]


def _args(scope: Scope) -> dict[str, str]:
    """The query's parameters, the first of each name winning (as ``request.args.get`` reads them)."""
    args: dict[str, str] = {}
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True,
                                 errors="replace"):
        args.setdefault(name, value)
    return args


async def _answer(send: Send, status: int, code: str, message: str, extra: tuple = ()) -> None:
    """An error as every route answers it: JSON ``{"error": code, "message": text}``."""
    body = json.dumps({"error": code, "message": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})


class EventStreams:
    """ASGI middleware: serves ``GET /events`` itself and hands every other request to ``app``."""

    def __init__(self, app: ASGIApp, broadcaster: Broadcaster, hub: Hub, encoder: SharedEncoder) -> None:
        self.app = app
        self.broadcaster = broadcaster
        self.hub = hub
        self.encoder = encoder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != PATH:
            await self.app(scope, receive, send)
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await _answer(send, 405, "method_not_allowed", "The method is not allowed for the requested URL.",
                          ((b"allow", b"GET, HEAD"),))
            return
        if self.broadcaster.closed:
            await _answer(send, 503, "unavailable", "the hub is shutting down")
            return
        if stream_clients_full(self.hub):
            await _answer(send, 503, "unavailable", "too many live connections")
            return
        args = _args(scope)
        tab = args.get("tab", "")
        client = Client(BoardFilter.from_args(args),
                        frozenset(GRAPH_REGIONS if args.get("view", "board") == "graph" else MAIN_REGIONS),
                        tab if TAB_ID.fullmatch(tab) else "")
        since = next((v.decode("latin-1") for v in _headers(scope, b"last-event-id") if v), None) or args.get("since")
        gzip = accepts_gzip_in(_headers(scope, b"accept-encoding"))
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
                   (b"x-accel-buffering", b"no"), (b"vary", b"Accept-Encoding")]
        if gzip:
            headers.append((b"content-encoding", b"gzip"))
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        with self.hub.stream_clients.track("sse"):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_until_disconnect, receive, nursery.cancel_scope)
                try:
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    await self._stream(client, since, EncodedStream(self.encoder, gzip), send)
                finally:
                    self.broadcaster.disconnect(client)
                    nursery.cancel_scope.cancel()

    async def _stream(self, client: Client, since: str | None, out: EncodedStream, send: Send) -> None:
        """What the browser missed, then its audience's log from its cursor, each wake-up one write."""
        broadcaster = self.broadcaster
        first = broadcaster.connect(client, since)
        if first is None:
            await send({"type": "http.response.body", "body": out.end()})
            return
        items = (RETRY, *first)
        await _write(send, out.write(items, _texts(first, RETRY)))
        while True:
            if broadcaster.closed:
                await send({"type": "http.response.body", "body": out.end()})
                return
            if client.lagging:
                resync = tuple(broadcaster.catch_up(client))
                if resync:
                    await _write(send, out.write(resync, _texts(resync)))
                continue
            audience = client.audience
            chunks = client.take()
            if chunks:
                await _write(send, out.write_encoded(chunks))
            elif audience is not None:
                await audience.wake.wait()
            else:  # disconnected meanwhile
                return


async def _write(send: Send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def _until_disconnect(receive: Receive, scope: trio.CancelScope) -> None:
    """The browser went away (or sent something a GET never sends): the stream ends."""
    with contextlib.suppress(Exception):
        while (await receive())["type"] != "http.disconnect":
            pass
    scope.cancel()


__all__ = ["EventStreams", "broadcaster_of", "current_broadcaster", "install_broadcaster", "stream_clients_full"]
