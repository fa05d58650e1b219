"""``/ws``: the agents' WebSocket. Frames in go to the agent's session; frames out come from the
session's replies and from the queue (assignments) through the connection's outbox.

Served as plain ASGI in front of the Quart app (``web/asgi_ws.py``), not as a Quart route: agents
send thousands of small frames a second, and each read here takes every frame waiting and hands
them to the session as one batch. The gate (``web/guard.py``) still
checks the Host of every handshake; Origin, the connection limit, the identify deadline, tokens,
frame sizes and rates are checked here and in the session, as before.
"""

from __future__ import annotations

import trio

from agentdeck.actors.hub import Hub
from agentdeck.actors.protocol import schema as protocol
from agentdeck.actors.protocol.session import AgentSession
from agentdeck.web.asgi_ws import AsgiWebSocket
from agentdeck.web.origin import same_origin

AGENT_SOCKET_PATH = "/ws"

OUTBOX_SIZE = 256
HELD_OUTPUT_SECONDS = 0.25  # how often output held over the rate is looked at
TOKEN_RECHECK_SECONDS = 1.0  # a revoked token ends its session within this long
RELEASE_SECONDS = 5.0  # at most this long to hand held output over at each release


async def serve_agent(hub: Hub, ws: AsgiWebSocket) -> None:
    """One agent connection, from handshake to close."""
    if not await ws.connected():
        return
    if not same_origin(ws.headers):
        # agents are programs and send no Origin; a web page must not pose as one (it would be
        # handed tasks, and with no tokens configured it would be accepted)
        await ws.refuse(403, "cross-origin agent sockets are refused")
        return
    if hub.sessions.open_count >= hub.config.max_agent_connections:
        await ws.refuse(503, "too many agent connections")
        return
    outbox_send, outbox_receive = trio.open_memory_channel[dict](OUTBOX_SIZE)
    session = hub.sessions.open(outbox_send)
    ending = _Ending()
    try:
        await ws.accept()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_end_on_shutdown, hub.shutdown, ending, nursery.cancel_scope)
            nursery.start_soon(_police, session, hub.config.identify_timeout, ending, nursery.cancel_scope)
            nursery.start_soon(_release_held, session)
            pumping = False
            while True:
                frames = await ws.frames()
                if not frames:  # the agent went away; every frame it sent was read
                    nursery.cancel_scope.cancel()
                    break
                with trio.CancelScope(shield=True):  # frames taken off the socket reach the queue
                    reply = await session.handle_all(frames)
                for out in reply.frames:
                    await ws.send_text(protocol.encode(out))
                if not pumping and session.agent_id is not None:
                    # the queue may assign a task the moment the agent joins: it waits in the
                    # outbox until `identified` is out, so an agent always hears that first
                    nursery.start_soon(_pump, ws, outbox_receive, ending, nursery.cancel_scope)
                    pumping = True
                if reply.close is not None:
                    ending.set(reply.close, reply.reason)
                    nursery.cancel_scope.cancel()
                    break
        # every send is over (the nursery is done): only now may the socket be closed
        await ws.close(ending.code or 1000, ending.reason)
    finally:
        await session.closed(ending.reason)


async def _release_held(session: AgentSession) -> None:
    """Output held back over the rate reaches the dashboard even if the agent falls silent."""
    while True:
        await trio.sleep(HELD_OUTPUT_SECONDS)
        with trio.CancelScope(shield=True), trio.move_on_after(RELEASE_SECONDS):
            await session.release_held()


class _Ending:
    """Why this side ends the connection (close code and reason), decided once."""

    def __init__(self) -> None:
        self.code: int | None = None
        self.reason = "socket closed"

    def set(self, code: int, reason: str) -> None:
        if self.code is None:
            self.code, self.reason = code, reason


async def _pump(ws: AsgiWebSocket, outbox: trio.MemoryReceiveChannel, ending: _Ending,
                scope: trio.CancelScope) -> None:
    """Frames the queue sends (assignments, reassignments) go out as they come; when the queue
    closes the outbox (another connection took over this agent) the connection ends."""
    async for frame in outbox:
        await ws.send_text(protocol.encode(frame))
    ending.set(1000, "replaced by a newer connection")
    scope.cancel()


async def _police(session: AgentSession, identify_timeout: float, ending: _Ending,
                  scope: trio.CancelScope) -> None:
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
