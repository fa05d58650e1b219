"""A WebSocket served as plain ASGI under the real Hypercorn: frames waiting are taken together, in
order, every frame sent before a close is read, and the handshake can be refused with a status."""

from __future__ import annotations

import struct

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from raw_ws import RawSocket, frame_bytes

from agentdeck.web.asgi_ws import AsgiWebSocket


async def _serve(app, nursery: trio.Nursery) -> tuple[int, trio.Event]:
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.graceful_timeout = 0.1
    stop = trio.Event()
    addresses = await nursery.start(lambda task_status: serve(app, config, shutdown_trigger=stop.wait,
                                                              task_status=task_status))
    return int(addresses[0].rsplit(":", 1)[1]), stop


async def test_frames_sent_in_one_write_are_read_in_batches_in_order_and_all_before_the_close() -> None:
    reads: list[list[str | bytes]] = []
    batched: list[bool] = []
    done = trio.Event()

    async def app(scope, receive, send) -> None:
        ws = AsgiWebSocket(scope, receive, send)
        assert await ws.connected()
        await ws.accept()
        batched.append(ws.batched)
        while frames := await ws.frames():
            reads.append(frames)
            await trio.sleep(0.01)  # a busy handler: more frames wait meanwhile
        done.set()

    sent = [f'{{"n":{n}}}' for n in range(60)]
    async with trio.open_nursery() as nursery:
        port, stop = await _serve(app, nursery)
        sock = await RawSocket.connect(port, "/ws")
        assert sock.status == 101
        wire = b"".join(frame_bytes(text.encode()) for text in sent)
        wire += frame_bytes(b"", opcode=2)  # an empty binary frame is a frame too
        wire += frame_bytes(struct.pack("!H", 1000), opcode=8)
        await sock.stream.send_all(wire)
        with trio.fail_after(10):
            await done.wait()
        await sock.aclose()
        stop.set()
    assert batched == [True]
    assert [frame for read in reads for frame in read] == [*sent, b""]
    assert max(len(read) for read in reads) > 1 and len(reads) < len(sent)


async def test_a_refused_handshake_answers_with_its_status_and_opens_no_socket() -> None:
    async def app(scope, receive, send) -> None:
        ws = AsgiWebSocket(scope, receive, send)
        assert await ws.connected()
        await ws.refuse(403, "not for you")

    async with trio.open_nursery() as nursery:
        port, stop = await _serve(app, nursery)
        sock = await RawSocket.connect(port, "/ws")
        assert sock.status == 403
        await sock.aclose()
        stop.set()
