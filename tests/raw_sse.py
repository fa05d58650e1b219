"""A browser's ``/events`` on a bare socket, for tests against the real server: chunked framing
and gzip undone as bytes arrive, the events parsed; it can be slow, stall (a tiny receive buffer,
never read) or drop the connection in the middle of a chunk."""

from __future__ import annotations

import re
import socket
import struct
import zlib

import attrs
import trio

from agentdeck.web.app import create_app
from agentdeck.web.routes.events import ENCODER_KEY, broadcaster_of
from agentdeck.web.server import serve

EVENT = re.compile(r"^id: (\S+)\nevent: (\S+)\n((?:data: .*\n)*)\n", re.MULTILINE)


@attrs.frozen
class Parsed:
    id: str
    name: str
    data: str


class RawStream:
    """A browser's ``/events`` on a bare socket: the body is un-chunked and (if asked) gunzipped as
    it arrives; ``body`` keeps the encoded bytes, ``text`` what they decode to."""

    def __init__(self, stream: trio.SocketStream, gzip: bool) -> None:
        self.stream = stream
        self.gzip = gzip
        self.inflate = zlib.decompressobj(31)
        self.head = b""
        self.raw = bytearray()
        self.need = 0  # bytes the chunk being read needs
        self._body: list[bytes] = []
        self._text: list[str] = []
        self.ended = False

    @property
    def body(self) -> bytes:
        if len(self._body) > 1:
            self._body[:] = [b"".join(self._body)]
        return self._body[0] if self._body else b""

    @property
    def text(self) -> str:
        if len(self._text) > 1:
            self._text[:] = ["".join(self._text)]
        return self._text[0] if self._text else ""

    @classmethod
    async def open(cls, base_url: str, gzip: bool, *, path: str = "/events", last_event_id: str | None = None,
                   receive_buffer: int | None = None) -> RawStream:
        """``receive_buffer``: a tiny kernel buffer, so a reader that never reads stalls the server's writes."""
        host, port = base_url.removeprefix("http://").split(":")
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        await sock.connect((host, int(port)))
        stream = trio.SocketStream(sock)
        encoding = "Accept-Encoding: gzip, deflate, br\r\n" if gzip else ""
        resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
                              f"{encoding}{resume}\r\n".encode())
        return cls(stream, gzip)

    def events(self) -> list[Parsed]:
        """Every whole event decoded so far (keepalive comments and the retry line left out)."""
        return [Parsed(m[1], m[2], "\n".join(line[6:] for line in m[3].splitlines()))
                for m in EVENT.finditer(self.text)]

    async def abort(self) -> None:
        """Gone at once, with a reset: as a browser tab that is killed."""
        self.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()

    async def read_until(self, needle: str, timeout: float = 10.0) -> None:
        with trio.fail_after(timeout):
            if needle in self.text:
                return
            tail = self.text[-len(needle):]
            while True:
                pieces = len(self._text)
                await self.read_some()
                new = tail + "".join(self._text[pieces:])
                if needle in new:
                    return
                tail = new[-len(needle):]

    async def read_some(self, size: int = 1 << 16) -> None:
        data = await self.stream.receive_some(size)
        if not data:
            raise EOFError
        if not self.head:
            self.raw += data
            if b"\r\n\r\n" not in self.raw:
                return
            self.head, _, data = self.raw.partition(b"\r\n\r\n")
            self.raw = bytearray()
            assert b"transfer-encoding: chunked" in self.head.lower()
        self.raw += data
        while len(self.raw) >= self.need:  # (a big chunk is parsed once it is all there)
            end = self.raw.find(b"\r\n")
            if end < 0:
                return
            size = int(bytes(self.raw[:end]).split(b";")[0], 16)
            if len(self.raw) < end + 2 + size + 2:
                self.need = end + 2 + size + 2
                return
            chunk = bytes(self.raw[end + 2:end + 2 + size])
            del self.raw[:end + 2 + size + 2]
            self.need = 0
            if size == 0:
                self.ended = True
                return
            self._body.append(chunk)
            self._text.append((self.inflate.decompress(chunk) if self.gzip else chunk).decode())


async def drain(browsers: list[RawStream], seconds: float) -> None:
    """Read whatever each browser is sent until its stream has been quiet for ``seconds``."""
    async def drain_one(browser: RawStream) -> None:
        while True:
            with trio.move_on_after(seconds) as quiet:
                await browser.read_some()
            if quiet.cancelled_caught:
                return

    async with trio.open_nursery() as nursery:
        for browser in browsers:
            nursery.start_soon(drain_one, browser)


async def serve_app(running_hub, nursery):
    """The hub's app served by real Hypercorn, with its broadcaster and encoder in reach."""
    app = create_app(running_hub.hub)
    broadcaster = broadcaster_of(app)
    await nursery.start(broadcaster.run)
    shutdown = trio.Event()
    addresses = await nursery.start(serve, app, "127.0.0.1", 0, shutdown)
    return next(a for a in addresses if a.startswith("http://")), broadcaster, app.extensions[ENCODER_KEY], shutdown
