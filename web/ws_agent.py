"""``/ws``: the agents' WebSocket. Frames in go to the agent's session; frames out come from the
session's replies and from the queue (assignments) through the connection's outbox."""

from __future__ import annotations

import trio
from quart import Blueprint, websocket

from actors import protocol

from .app import current_hub

agent_ws = Blueprint("agent_ws", __name__)

OUTBOX_SIZE = 256


@agent_ws.websocket("/ws")
async def agent_socket():
    hub = current_hub()
    outbox_send, outbox_receive = trio.open_memory_channel[dict](OUTBOX_SIZE)
    session = hub.sessions.open(outbox_send)
    reason = "socket closed"
    await websocket.accept()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_pump, outbox_receive, nursery.cancel_scope)
            nursery.start_soon(_close_on_shutdown, hub.shutdown, nursery.cancel_scope)
            while True:
                frame = await websocket.receive()
                # quart gives None for an empty binary frame (b"" or None): it is still a frame
                reply = await session.handle(frame if frame is not None else b"")
                for frame in reply.frames:
                    await websocket.send(protocol.encode(frame))
                if reply.close is not None:
                    reason = reply.reason
                    await websocket.close(reply.close, reply.reason)
                    nursery.cancel_scope.cancel()
                    break
    finally:
        await session.closed(reason)


async def _pump(outbox: trio.MemoryReceiveChannel, scope: trio.CancelScope) -> None:
    """Frames the queue sends (assignments, reassignments) go out as they come; when the queue
    closes the outbox (another connection took over this agent) the connection ends."""
    async for frame in outbox:
        await websocket.send(protocol.encode(frame))
    await websocket.close(1000, "replaced by a newer connection")
    scope.cancel()


async def _close_on_shutdown(shutdown: trio.Event, scope: trio.CancelScope) -> None:
    """End the connection cleanly (1001, going away) as soon as the hub begins to stop."""
    await shutdown.wait()
    await websocket.close(1001, "hub shutting down")
    scope.cancel()
