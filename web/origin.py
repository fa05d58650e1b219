"""Whether a WebSocket handshake comes from a page of this very site (or from no page at all)."""

from __future__ import annotations

from urllib.parse import urlsplit

from werkzeug.datastructures import Headers


def same_origin(headers: Headers) -> bool:
    """A browser page from another site may not open our sockets: the dashboard's can retry and
    cancel tasks, and a page posing as an agent would be handed tasks. Programs send no Origin."""
    origin = headers.get("Origin")
    if origin is None:
        return True  # not a browser: agents, scripts and tests
    return urlsplit(origin).netloc.lower() == headers.get("Host", "").lower()
