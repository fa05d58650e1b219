"""permessage-deflate with a bound on what one message may inflate to.

Hypercorn offers permessage-deflate (wsproto's extension) on every WebSocket and checks its message
size limit only after a frame is decompressed: one 1 MiB frame of compressed zeros inflated to about
1 GiB before anything said no, with no ``identify`` needed. Node's ``ws`` clients (the sidecars)
offer the extension, so refusing it would cost them nothing but bandwidth; bounding it keeps it.
This extension inflates at most ``MAX_INFLATED_BYTES`` per message (plus one byte to notice) and
closes with 1009 beyond that. Hypercorn builds the extension itself, with no setting for it, so
``install()`` points its WebSocket handshake at this class once, before serving.
"""

from __future__ import annotations

import zlib
from typing import Any

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason

# hypercorn's own backstop for a whole message (web/server.py): nothing inflates beyond it
MAX_INFLATED_BYTES = 4 * 1024 * 1024


class BoundedPerMessageDeflate(PerMessageDeflate):
    """wsproto's extension, inflating incrementally and never past the message limit."""

    def __init__(self, *args: Any, max_inflated: int = MAX_INFLATED_BYTES, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_inflated = max_inflated
        self._inflated = 0

    def frame_inbound_payload_data(self, proto: Any, data: bytes) -> bytes | CloseReason:
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return super().frame_inbound_payload_data(proto, data)
        assert self._decompressor is not None
        budget = self.max_inflated - self._inflated
        try:
            out = self._decompressor.decompress(bytes(data), budget + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(out)
        if self._inflated > self.max_inflated:
            self._decompressor = None  # drop its window and pending output now
            return CloseReason.MESSAGE_TOO_BIG
        return out

    def frame_inbound_complete(self, proto: Any, fin: bool) -> bytes | CloseReason | None:
        if self._decompressor is None and self._inbound_compressed:
            return CloseReason.MESSAGE_TOO_BIG
        result = super().frame_inbound_complete(proto, fin)
        if fin:
            self._inflated = 0
        if isinstance(result, bytes) and self._inflated + len(result) > self.max_inflated:
            return CloseReason.MESSAGE_TOO_BIG
        return result


def install() -> None:
    """Make Hypercorn's WebSocket handshake offer the bounded extension (idempotent).

    Fails loudly if Hypercorn no longer builds the extension where expected: serving with an
    unbounded inflater would reopen the hole silently.
    """
    from hypercorn.protocol import ws_stream

    current = getattr(ws_stream, "PerMessageDeflate", None)
    if current is BoundedPerMessageDeflate:
        return
    if current is not PerMessageDeflate:
        raise RuntimeError("hypercorn no longer negotiates wsproto's PerMessageDeflate in "
                           "hypercorn.protocol.ws_stream: check agentdeck.web.ws_inflate")
    ws_stream.PerMessageDeflate = BoundedPerMessageDeflate  # type: ignore[misc]
