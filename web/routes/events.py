"""``GET /events``: one server-sent event stream per browser, carrying rendered HTML fragments.

The ``Broadcaster`` (``web/live/broadcaster.py``) renders; this module connects a browser to it: the
request's filters and ``Last-Event-ID`` (or ``since``) are read up front, then the stream sends
what the browser missed (or a full resync) and every later event, each flush as one write (the
broadcaster adds a keepalive comment every 15 s). Streams end as soon as the hub shuts down.

Browsers that share a flush share its bytes: each distinct flush is encoded (and gzip-compressed,
when the browser accepts gzip) once for all of them (``web/compression.py``), so the stream sets its
own Content-Encoding and the gzip middleware leaves it alone.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import trio
from quart import Blueprint, Quart, current_app, request

from agentdeck.actors.hub import Hub
from agentdeck.web.compression import EncodedStream, SharedEncoder, accepts_gzip_in
from agentdeck.web.context import current_hub
from agentdeck.web.errors import error_response
from agentdeck.web.live.broadcaster import Broadcaster, Client, Emitted
from agentdeck.web.live.regions import GRAPH_REGIONS, MAIN_REGIONS, BoardFilter, Renderer, fragment_env

TAB_ID = re.compile(r"[0-9a-f]{16,64}")  # a page's id (``secrets.token_hex``)
MAX_ITEMS_PER_WRITE = 256
RETRY = "retry: 1000\n\n"


def _texts(items: tuple[Emitted, ...], prefix: str = "") -> Callable[[], str]:
    return lambda: prefix + "".join(item.text for item in items)


async def stream(broadcaster: Broadcaster, client: Client, since: str | None,
                 out: EncodedStream) -> AsyncIterator[bytes]:
    """One browser's events; whatever is queued goes out as one write (one flush, one chunk). The
    items of a write name its bytes, so browsers given the same flush share one encoding of it."""
    counter = getattr(broadcaster.hub, "stream_clients", None)
    with counter.track("sse") if counter is not None else contextlib.nullcontext():
        try:
            first = tuple(broadcaster.connect(client, since))
            yield out.write((RETRY, *first), _texts(first, RETRY))
            while True:
                if client.lagging:
                    resync = tuple(broadcaster.catch_up(client))
                    if resync:
                        yield out.write(resync, _texts(resync))
                try:
                    items = [client.taken(await client.receive.receive())]
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    yield out.end()
                    return
                while len(items) < MAX_ITEMS_PER_WRITE:
                    try:
                        items.append(client.taken(client.receive.receive_nowait()))
                    except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                        break
                flush = tuple(items)
                yield out.write(flush, _texts(flush))
        finally:
            broadcaster.disconnect(client)


sse = Blueprint("sse", __name__)


BROADCASTER_KEY = "agentdeck.sse"
ENCODER_KEY = "agentdeck.sse.encoder"


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


def stream_clients_full(hub: Any) -> bool:
    """The cap on open live connections (SSE streams and dashboard sockets together)."""
    return hub.stream_clients.count("sse") + hub.stream_clients.count("ws") >= hub.config.max_stream_clients


def current_broadcaster() -> Broadcaster:
    return broadcaster_of(current_app)


@sse.get("/events")
async def events():
    broadcaster = current_broadcaster()
    if broadcaster.closed:
        return error_response("unavailable", "the hub is shutting down", 503)
    if stream_clients_full(current_hub()):
        return error_response("unavailable", "too many live connections", 503)
    view = request.args.get("view", "board")
    tab = request.args.get("tab", "")
    client = Client(BoardFilter.from_args(request.args),
                    frozenset(GRAPH_REGIONS if view == "graph" else MAIN_REGIONS),
                    tab if TAB_ID.fullmatch(tab) else "")
    since = request.headers.get("Last-Event-ID") or request.args.get("since")
    gzip = accepts_gzip_in([value.encode("latin-1") for value in request.headers.getlist("Accept-Encoding")])
    out = EncodedStream(current_app.extensions[ENCODER_KEY], gzip)
    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
               "Vary": "Accept-Encoding"}
    if gzip:
        headers["Content-Encoding"] = "gzip"
    response = current_app.response_class(stream(broadcaster, client, since, out), headers=headers)
    response.timeout = None
    return response


__all__ = ["Broadcaster", "Client", "broadcaster_of", "current_broadcaster", "install_broadcaster", "sse",
           "stream_clients_full"]
