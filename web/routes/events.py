"""``GET /events``: one server-sent event stream per browser, carrying rendered HTML fragments.

The ``Broadcaster`` (``web/live/broadcaster.py``) renders; this module connects a browser to it: the
request's filters and ``Last-Event-ID`` (or ``since``) are read up front, then the stream sends
what the browser missed (or a full resync) and every later event, each flush as one write, with a
keepalive comment every 15 s. Streams end as soon as the hub shuts down.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import trio
from quart import Blueprint, Quart, current_app, request

from agentdeck.actors.hub import Hub
from agentdeck.web.context import current_hub
from agentdeck.web.errors import error_response
from agentdeck.web.live.broadcaster import Broadcaster, Client
from agentdeck.web.live.regions import GRAPH_REGIONS, MAIN_REGIONS, BoardFilter, Renderer, fragment_env

KEEPALIVE_S = 15.0
TAB_ID = re.compile(r"[0-9a-f]{16,64}")  # a page's id (``secrets.token_hex``)


async def stream(broadcaster: Broadcaster, client: Client, since: str | None) -> AsyncIterator[str]:
    """One browser's events; whatever is queued goes out as one write (one flush, one chunk)."""
    counter = getattr(broadcaster.hub, "stream_clients", None)
    with counter.track("sse") if counter is not None else contextlib.nullcontext():
        try:
            first = broadcaster.connect(client, since)
            yield "retry: 1000\n\n" + "".join(item.text for item in first)
            while True:
                if client.lagging:
                    yield "".join(item.text for item in broadcaster.catch_up(client))
                item = None
                with trio.move_on_after(KEEPALIVE_S):
                    try:
                        item = client.taken(await client.receive.receive())
                    except (trio.EndOfChannel, trio.ClosedResourceError):
                        return
                if item is None:
                    yield ": keepalive\n\n"
                    continue
                texts = [item.text]
                while len(texts) < 256:
                    try:
                        texts.append(client.taken(client.receive.receive_nowait()).text)
                    except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                        break
                yield "".join(texts)
        finally:
            broadcaster.disconnect(client)


sse = Blueprint("sse", __name__)


BROADCASTER_KEY = "agentdeck.sse"


def install_broadcaster(app: Quart, hub: Hub) -> Broadcaster:
    """The app's one broadcaster. It is not started here: the hub runs it under its supervisor
    (``web/server.py``), so a crash restarts it and shows in ``/health``."""
    broadcaster = Broadcaster(hub, Renderer(fragment_env(app), hub, card_cache=5000))
    app.extensions[BROADCASTER_KEY] = broadcaster
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
    response = current_app.response_class(stream(broadcaster, client, since), headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.timeout = None
    return response


__all__ = ["Broadcaster", "Client", "broadcaster_of", "current_broadcaster", "install_broadcaster", "sse",
           "stream_clients_full"]
