"""A WebSocket client written out by hand, for what well-behaved libraries will not send: any Host
header, a permessage-deflate offer, frames compressed to inflate far beyond their size."""

from __future__ import annotations

import base64
import os
import struct
import zlib

import trio


class RawSocket:
    def __init__(self, stream: trio.SocketStream, status: int, headers: dict[str, str], rest: bytes) -> None:
        self.stream = stream
        self.status = status
        self.headers = headers
        self._buffer = rest

    @classmethod
    async def connect(cls, port: int, path: str, *, host: str | None = None, deflate: bool = False,
                      origin: str | None = None, extra: tuple[tuple[str, str], ...] = ()) -> RawSocket:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        if origin:
            lines.append(f"Origin: {origin}")
        lines.extend(f"{k}: {v}" for k, v in extra)
        await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1]) if status_line else 0
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        return cls(stream, status, headers, rest)

    async def send_frame(self, payload: bytes, *, opcode: int = 1, compressed: bool = False) -> None:
        await self.stream.send_all(frame_bytes(payload, opcode=opcode, compressed=compressed))

    async def send_text(self, text: str) -> None:
        await self.send_frame(text.encode())

    async def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise EOFError("connection closed")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    async def receive_frame(self) -> tuple[int, bytes]:
        first, second = await self._read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._read(8))
        return first & 0x0F, await self._read(length)

    async def close_code(self, timeout: float = 5.0) -> int | None:
        """Read frames until the server's close frame (its code) or the end of the stream (None)."""
        with trio.move_on_after(timeout):
            try:
                while True:
                    opcode, payload = await self.receive_frame()
                    if opcode == 8:
                        return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            except (EOFError, trio.BrokenResourceError, trio.ClosedResourceError):
                return None
        raise AssertionError("no close within the timeout")

    async def aclose(self) -> None:
        await self.stream.aclose()


def frame_bytes(payload: bytes, *, opcode: int = 1, compressed: bool = False) -> bytes:
    """One masked client frame as it goes on the wire (several may be sent in one write)."""
    first = 0x80 | (0x40 if compressed else 0) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    mask = os.urandom(4)
    repeated = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big") \
        if length else b""
    return header + mask + masked


def deflate_bomb(inflated_bytes: int) -> bytes:
    """A permessage-deflate payload (RFC 7692: raw deflate, tail removed) of zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\x00" * (1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(inflated_bytes // len(chunk))]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    payload = b"".join(parts)
    return payload[:-4] if payload.endswith(b"\x00\x00\xff\xff") else payload
