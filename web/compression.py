"""gzip for the dashboard's text (HTML, CSS, JS, JSON, CSV, SSE) when the browser accepts it.

An ASGI middleware: a response is compressed when the request says ``Accept-Encoding: gzip``, its
type is text-like, it is not already encoded, and (when its length is known) it is worth it. Each
body chunk is compressed with a sync flush, so a streamed response (Server-Sent Events) reaches the
browser event by event, each carried in a few bytes thanks to the shared window.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[..., Awaitable[None]]

COMPRESSIBLE = (b"text/", b"application/javascript", b"application/json", b"image/svg+xml")
MIN_SIZE = 512  # smaller bodies of known length are sent as they are
LEVEL = 6


def _quality(params: bytes) -> float:
    for param in params.split(b";"):
        name, _, value = param.strip().partition(b"=")
        if name.strip().lower() == b"q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def accepts_gzip(scope: Scope) -> bool:
    """The request's Accept-Encoding allows gzip (named, or ``*``, with a quality above 0)."""
    codings: dict[bytes, float] = {}
    for name, value in scope.get("headers") or ():
        if name.lower() == b"accept-encoding":
            for part in value.split(b","):
                coding, _, params = part.strip().partition(b";")
                codings[coding.strip().lower()] = _quality(params)
    if b"gzip" in codings:
        return codings[b"gzip"] > 0
    return codings.get(b"*", 0.0) > 0


class GzipMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope.get("method") == "HEAD" or not accepts_gzip(scope):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = {"compressor": None}

        async def gzip_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                if message.get("status", 200) not in (204, 304) and _worth_compressing(headers):
                    state["compressor"] = zlib.compressobj(LEVEL, zlib.DEFLATED, 31)
                    headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                    headers.append((b"content-encoding", b"gzip"))
                    vary = [v for k, v in headers if k.lower() == b"vary"]
                    if not any(b"accept-encoding" in v.lower() for v in vary):
                        headers.append((b"vary", b"Accept-Encoding"))
                    message = {**message, "headers": headers}
                await send(message)
                return
            compressor = state["compressor"]
            if compressor is None or message["type"] != "http.response.body":
                await send(message)
                return
            body = message.get("body", b"")
            more = message.get("more_body", False)
            data = compressor.compress(body) + (compressor.flush(zlib.Z_SYNC_FLUSH) if more else compressor.flush())
            if more and not data:
                return
            await send({**message, "body": data})

        await self.app(scope, receive, gzip_send)


def _worth_compressing(headers: list[tuple[bytes, bytes]]) -> bool:
    found = {k.lower(): v for k, v in headers}
    if b"content-encoding" in found:
        return False
    kind = found.get(b"content-type", b"").lower()
    if not kind.startswith(COMPRESSIBLE):
        return False
    length = found.get(b"content-length")
    return not (length is not None and length.isdigit() and int(length) < MIN_SIZE)
