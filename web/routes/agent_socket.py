"""``/ws``: the agents' WebSocket. Frames in go to the agent's session; frames out come from the
session's replies and from the queue (assignments) through the connection's outbox."""

from __future__ import annotations

import trio
from quart import Blueprint, websocket

from agentdeck.actors.protocol import schema as protocol
from agentdeck.actors.protocol.session import AgentSession
from agentdeck.web.context import current_hub
from agentdeck.web.frame_ledger import took_one, unread
from agentdeck.web.origin import same_origin

agent_ws = Blueprint("agent_ws", __name__)

AGENT_SOCKET_PATH = "/ws"

OUTBOX_SIZE = 256
DRAIN_SECONDS = 5.0
HELD_OUTPUT_SECONDS = 0.25  # how often output held over the rate is looked at
TOKEN_RECHECK_SECONDS = 1.0  # a revoked token ends its session within this long


@agent_ws.websocket(AGENT_SOCKET_PATH)
async def agent_socket():
    if not same_origin(websocket.headers):
        # agents are programs and send no Origin; a web page must not pose as one (it would be
        # handed tasks, and with no tokens configured it would be accepted)
        return "cross-origin agent sockets are refused", 403
    hub = current_hub()
    if hub.sessions.open_count >= hub.config.max_agent_connections:
        return "too many agent connections", 503
    outbox_send, outbox_receive = trio.open_memory_channel[dict](OUTBOX_SIZE)
    session = hub.sessions.open(outbox_send)
    ending = _Ending()
    try:
        await websocket.accept()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_end_on_shutdown, hub.shutdown, ending, nursery.cancel_scope)
            nursery.start_soon(_police, session, hub.config.identify_timeout, ending, nursery.cancel_scope)
            nursery.start_soon(_release_held, session)
            pumping = False
            while True:
                frame = await websocket.receive()
                took_one(websocket.scope)
                # quart gives None for an empty binary frame (b"" or None): it is still a frame
                with trio.CancelScope(shield=True):  # a frame taken off the socket reaches the queue
                    reply = await session.handle(frame if frame is not None else b"")
                for out in reply.frames:
                    await websocket.send(protocol.encode(out))
                if not pumping and session.agent_id is not None:
                    # the queue may assign a task the moment the agent joins: it waits in the
                    # outbox until `identified` is out, so an agent always hears that first
                    nursery.start_soon(_pump, outbox_receive, ending, nursery.cancel_scope)
                    pumping = True
                if reply.close is not None:
                    ending.set(reply.close, reply.reason)
                    nursery.cancel_scope.cancel()
                    break
        # every send is over (the nursery is done): only now may the socket be closed
        if ending.code is not None:
            await websocket.close(ending.code, ending.reason)
    finally:
        if ending.code is None and not hub.shutdown.is_set():
            with trio.CancelScope(shield=True), trio.move_on_after(DRAIN_SECONDS):
                for left in unread(websocket.scope):
                    await session.handle(left if left is not None else b"")
        await session.closed(ending.reason)


async def _release_held(session: AgentSession) -> None:
    """Output held back over the rate reaches the dashboard even if the agent falls silent."""
    while True:
        await trio.sleep(HELD_OUTPUT_SECONDS)
        with trio.CancelScope(shield=True), trio.move_on_after(DRAIN_SECONDS):
            await session.release_held()


class _Ending:
    """Why this side ends the connection (close code and reason), decided once."""

    def __init__(self) -> None:
        self.code: int | None = None
        self.reason = "socket closed"

    def set(self, code: int, reason: str) -> None:
        if self.code is None:
            self.code, self.reason = code, reason


async def _pump(outbox: trio.MemoryReceiveChannel, ending: _Ending, scope: trio.CancelScope) -> None:
    """Frames the queue sends (assignments, reassignments) go out as they come; when the queue
    closes the outbox (another connection took over this agent) the connection ends."""
    async for frame in outbox:
        await websocket.send(protocol.encode(frame))
    ending.set(1000, "replaced by a newer connection")
    scope.cancel()


async def _police(session, identify_timeout: float, ending: _Ending, scope: trio.CancelScope) -> None:
    """A socket must identify in time, and its token must stay valid while it is open."""
    with trio.move_on_after(identify_timeout):
        await session.identified.wait()
    if session.agent_id is None:
        ending.set(1008, "identify timeout")
        scope.cancel()
        return
    while True:
        await trio.sleep(TOKEN_RECHECK_SECONDS)
        if not session.still_authorised():
            ending.set(1008, "token revoked")
            scope.cancel()
            return


async def _end_on_shutdown(shutdown: trio.Event, ending: _Ending, scope: trio.CancelScope) -> None:
    """End the connection cleanly (1001, going away) as soon as the hub begins to stop."""
    await shutdown.wait()
    ending.set(1001, "hub shutting down")
    scope.cancel()
