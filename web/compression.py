"""gzip for the dashboard's text (HTML, CSS, JS, JSON, CSV, SSE) when the browser accepts it.

An ASGI middleware: a response is compressed when the request says ``Accept-Encoding: gzip``, its
type is text-like, it is not already encoded, and (when its length is known) it is worth it. Each
body chunk is compressed with a sync flush, so a streamed response reaches the client chunk by chunk.

The event stream encodes itself (``SharedEncoder``, ``EncodedStream``): every browser gets the same
flush, so each distinct flush is encoded once for all of them, its gzip form a deflate block that
starts from an empty window and ends byte-aligned (a sync flush), which any gzip stream can carry
next. 500 browsers cost one compression per flush instead of 500; each browser keeps only the
running CRC and length its gzip trailer needs.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Awaitable, Callable, Hashable, MutableMapping, Sequence
from typing import Any

import attrs

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
    return accepts_gzip_in([value for name, value in scope.get("headers") or ()
                            if name.lower() == b"accept-encoding"])


def accepts_gzip_in(values: list[bytes]) -> bool:
    """The same, from the values of the request's Accept-Encoding headers."""
    codings: dict[bytes, float] = {}
    for value in values:
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


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no time, unknown OS
GZIP_LAST_BLOCK = b"\x03\x00"  # an empty final block (fixed Huffman), after a sync flush
SHARED_ENTRIES = 64
SHARED_BYTES = 8 * 1024 * 1024


@attrs.define(eq=False)
class Encoded:
    """One flush as bytes, and (once a gzip browser asks) as a self-contained deflate block."""

    plain: bytes
    _block: bytes | None = None

    @property
    def block(self) -> bytes:
        if self._block is None:
            compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
            self._block = compressor.compress(self.plain) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return self._block

    @property
    def deflated(self) -> bool:
        return self._block is not None

    @property
    def size(self) -> int:
        return len(self.plain) + len(self._block or b"")


class SharedEncoder:
    """The last few distinct flushes, encoded once: a browser's flush is looked up by a key that
    names its content (e.g. the tuple of the events in it), so the 500 browsers sharing a flush
    share its bytes. Bounded in entries and in bytes; the oldest entries go first."""

    def __init__(self, entries: int = SHARED_ENTRIES, max_bytes: int = SHARED_BYTES) -> None:
        self.entries = entries
        self.max_bytes = max_bytes
        self._cache: dict[Hashable, Encoded] = {}
        self._bytes = 0
        self.encoded = 0  # distinct flushes encoded so far
        self.compressed = 0  # of those, deflated for gzip browsers

    def get(self, key: Hashable, text: Callable[[], str], gzip: bool) -> Encoded:
        """The flush named ``key`` (``text`` is called only when it is new); deflated if ``gzip``."""
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = Encoded(text().encode())
            self.encoded += 1
            self._bytes += found.size
        if gzip and not found.deflated:
            before = found.size
            _ = found.block
            self.compressed += 1
            self._bytes += found.size - before
        while len(self._cache) > self.entries or (self._bytes > self.max_bytes and len(self._cache) > 1):
            oldest = next(iter(self._cache))
            self._bytes -= self._cache.pop(oldest).size
        return found


class EncodedStream:
    """One browser's stream: plain bytes, or a gzip member made of the shared deflate blocks. Only
    the CRC and length of what it sent are its own (for the trailer that ends the member)."""

    def __init__(self, shared: SharedEncoder, gzip: bool) -> None:
        self.shared = shared
        self.gzip = gzip
        self._crc = 0
        self._length = 0
        self._started = False

    def write(self, key: Hashable, text: Callable[[], str]) -> bytes:
        """A flush of this browser's own (looked up by ``key`` in case others share it)."""
        return self.write_encoded((self.shared.get(key, text, self.gzip),))

    def write_encoded(self, flushes: Sequence[Encoded]) -> bytes:
        """Flushes already encoded (and shared with other browsers), as one write."""
        if not self.gzip:
            return flushes[0].plain if len(flushes) == 1 else b"".join(e.plain for e in flushes)
        for encoded in flushes:
            self._crc = zlib.crc32(encoded.plain, self._crc)
            self._length += len(encoded.plain)
        blocks = flushes[0].block if len(flushes) == 1 else b"".join(e.block for e in flushes)
        if self._started:
            return blocks
        self._started = True
        return GZIP_HEADER + blocks

    def end(self) -> bytes:
        """The gzip member's end (empty for a plain stream)."""
        if not self.gzip:
            return b""
        start = b"" if self._started else GZIP_HEADER
        self._started = True
        return start + GZIP_LAST_BLOCK + struct.pack("<II", self._crc, self._length & 0xFFFFFFFF)
