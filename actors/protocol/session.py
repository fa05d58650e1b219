"""One agent connection: identification, tokens, protocol errors and rate limits.

The session holds only what belongs to the connection (who it is, how often it misbehaved); what
an agent's messages mean for tasks is the queue's business, reached through its mailbox. The one
exception is live output (``task_progress``), the bulk of all traffic: the session checks it
against the queue's read-only view of who holds which task and publishes it on the bus itself,
telling the queue only that the task shows signs of life (``OutputSeen``, at most once a second per
task). Output therefore never waits behind task moves in the queue's mailbox, and stays in order
with the agent's other messages because one session handles its frames one after the other. The
WebSocket handler feeds frames in and sends back what ``handle`` returns.
"""

from __future__ import annotations

import collections
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import trio

from agentdeck.actors.bus import EventBus
from agentdeck.actors.mailbox import ActorUnavailable, ask
from agentdeck.actors.messages import (
    AgentConnect,
    AgentDisconnect,
    AgentSaid,
    ExecutionEvent,
    OutputSeen,
    Request,
    SecurityWarning,
    Task,
    TaskProgress,
)
from agentdeck.actors.protocol import schema as protocol
from agentdeck.actors.protocol.auth import TokenStore, valid_agent_id
from agentdeck.actors.protocol.throttle import OutputThrottle

log = logging.getLogger("agentdeck.session")

MAX_VIOLATIONS = 10
VIOLATION_WINDOW = 60.0
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
RATE_NOTICE_SECONDS = 10.0  # an agent over the output rate is told at most this often
# a task's outcome is never refused for the rate: losing it would cost the whole attempt
ALWAYS_PROCESSED = frozenset({"task_accepted", "task_complete", "task_failed", "task_rejected",
                              "task_recovering", "state_report"})
OUTPUT_SEEN_SECONDS = 1.0  # the queue hears that a task streams output at most this often
MAX_NOTED_ATTEMPTS = 64  # attempts a session remembers telling the queue about

# the queue's read-only view: the task if this agent, over this connection, holds it
Holding = Callable[[str, int, str], Task | None]


@attrs.frozen
class Reply:
    """What to do after a frame: frames to send, and a close code when the connection must end."""

    frames: tuple[dict[str, Any], ...] = ()
    close: int | None = None
    reason: str = ""


def frame_too_large(frame: str | bytes) -> bool:
    """Over the limit in UTF-8 bytes (a text frame's length counts characters, up to 4 bytes each)."""
    limit = protocol.MAX_FRAME_BYTES
    if len(frame) > limit:
        return True
    return isinstance(frame, str) and len(frame) * 4 > limit and \
        len(frame.encode("utf-8", "surrogatepass")) > limit


class RateLimit:
    """A token bucket: ``burst`` frames at once, then ``rate`` per second; trio's clock, so tests
    can drive it. Output over the rate is held back or dropped (``OutputThrottle``), so a chatty
    agent cannot starve the others, and it is never disconnected for it."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = burst
        self._at: float | None = None

    def allow(self, now: float) -> bool:
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class SessionFactory:
    """Shared by every connection of one hub: numbering, tokens, the queue's mailbox, and the
    hub's frame rate (each session gets its own buckets of that size)."""

    def __init__(self, queue: trio.MemorySendChannel, tokens: TokenStore, bus: EventBus,
                 holding: Holding, *, allow_anonymous: bool,
                 output_seen_every: float = OUTPUT_SEEN_SECONDS,
                 frame_rate: protocol.FrameRate = protocol.DEFAULT_FRAME_RATE):
        self.queue = queue
        self.frame_rate = frame_rate
        self.output_seen_every = output_seen_every
        self.tokens = tokens
        self.bus = bus
        self.holding = holding
        self._allow_anonymous = allow_anonymous
        self._numbers = itertools.count(1)
        self.warned = False
        self.open_count = 0  # sockets on /ws, identified or not
        self._live: dict[str, int] = {}  # agent id -> the connection that holds it

    def open(self, outbox: trio.MemorySendChannel) -> AgentSession:
        self.open_count += 1
        return AgentSession(self, next(self._numbers), outbox)

    def holder(self, agent_id: str) -> int | None:
        return self._live.get(agent_id)

    def hold(self, agent_id: str, connection_id: int) -> None:
        self._live[agent_id] = connection_id

    def release(self, agent_id: str | None, connection_id: int) -> None:
        self.open_count -= 1
        if agent_id is not None and self._live.get(agent_id) == connection_id:
            del self._live[agent_id]

    def anonymous_allowed(self) -> bool:
        """No tokens configured on a loopback bind: accept, and say so once on the bus."""
        if not (self._allow_anonymous and self.tokens.is_empty()):
            return False
        if not self.warned:
            self.warned = True
            self.bus.publish(SecurityWarning(
                message="agents are accepted without tokens (no tokens configured)"))
        return True


class AgentSession:
    def __init__(self, factory: SessionFactory, connection_id: int,
                 outbox: trio.MemorySendChannel) -> None:
        self._factory = factory
        self._queue = factory.queue
        self._bus = factory.bus
        self._holding = factory.holding
        self._outbox = outbox
        self._noted: dict[tuple[str, int], float] = {}  # attempt -> trio time the queue was told
        self.connection_id = connection_id
        self.agent_id: str | None = None
        self._violations: collections.deque[float] = collections.deque()
        rate, burst = factory.frame_rate.per_second, factory.frame_rate.burst
        self._rate = RateLimit(rate, burst)  # control frames: pings, reports; a flood ends the socket
        self._output_rate = RateLimit(rate, burst)  # task_progress: over it held back, not refused
        self._throttle = OutputThrottle()
        self._told_rate_limited: float | None = None  # trio time the agent was last told
        self._order = trio.Lock()  # frames and late releases of held output reach the queue in order
        self._token: str | None = None  # kept to re-check: a revoked token ends the session
        self.identified = trio.Event()
        self._released = False

    async def handle(self, frame: str | bytes) -> Reply:
        return await self.handle_all((frame,))

    async def handle_all(self, frames: Iterable[str | bytes]) -> Reply:
        """The frames of one read, in order, under one hold of ``_order``: their replies joined,
        and the first that ends the connection ends it (the frames after it are not read)."""
        out: list[dict[str, Any]] = []
        try:
            self._order.acquire_nowait()  # free nearly always: no trip through the scheduler then
        except trio.WouldBlock:
            await self._order.acquire()
        try:
            for frame in frames:
                reply = await self._handle(frame)
                out.extend(reply.frames)
                if reply.close is not None:
                    return Reply(tuple(out), reply.close, reply.reason)
        finally:
            self._order.release()
        return Reply(tuple(out))

    async def release_held(self) -> None:
        """Deliver held output once the rate allows, also when the agent has gone quiet (called
        periodically by the socket); ``_order`` keeps it in sequence with the frames."""
        if self.agent_id is None or not self._throttle.holding:
            return
        async with self._order:
            if self._throttle.holding and self._output_rate.allow(trio.current_time()):
                await self._release()

    async def _handle(self, frame: str | bytes) -> Reply:
        if frame_too_large(frame):
            return Reply((protocol.error_message("frame_too_large", limit=protocol.MAX_FRAME_BYTES),),
                         close=POLICY_VIOLATION, reason="frame too large")
        try:
            message = protocol.decode(frame)
        except protocol.ProtocolError as error:
            return self._violation(error.payload)
        kind = message["type"]
        now = trio.current_time()
        if self.agent_id is not None and kind == "task_progress":
            if not self._output_rate.allow(now):
                return self._hold(message)
            if self._throttle.holding:
                await self._release()
        elif not self._rate.allow(now) and kind not in ALWAYS_PROCESSED:
            log.warning("connection %d (%s) flooded the hub: closed", self.connection_id,
                        self.agent_id or "not identified")
            return Reply((protocol.error_message("rate_limited", limit_per_second=self._rate.rate,
                                                 burst=self._rate.burst),),
                         close=POLICY_VIOLATION, reason="rate limited")
        elif self.agent_id is not None and self._throttle.holding and "task_id" in message:
            await self._release(str(message["task_id"]))  # its output before its outcome
        if self.agent_id is None:
            if kind != "identify":
                return self._violation(protocol.error_message(
                    "not_identified", detail="send identify first"))
            return await self._identify(message)
        if kind == "identify":
            return self._violation(protocol.error_message("already_identified"))
        if kind == "ping":
            return Reply((protocol.pong(int(time.time() * 1000)),))
        if kind == "task_progress":
            await self._output(message)
            return Reply()
        try:
            frames = await ask(self._queue, AgentSaid(self.agent_id, self.connection_id, message))
        except ActorUnavailable:
            return Reply((protocol.error_message("hub_busy", detail="try again"),))
        return Reply(tuple(frames))

    async def _identify(self, message: dict[str, Any]) -> Reply:
        agent_id = message["agent_id"]
        if not valid_agent_id(agent_id):
            return self._violation(protocol.error_message(
                "invalid_agent_id",
                detail="letters, digits, '-', '_' and '.' only, 1 to 128 characters"))
        if not self._factory.anonymous_allowed():
            verdict = self._factory.tokens.verify(agent_id, message.get("token"))
            if verdict != "ok":
                log.warning("agent %r refused: %s", agent_id, verdict)
                return Reply((protocol.error_message(verdict),), close=POLICY_VIOLATION, reason=verdict)
            self._token = message.get("token")
        elif self._factory.holder(agent_id) is not None:
            # without tokens nothing proves who is who: a live agent's id is not handed to another
            # connection (the real agent reconnects once its old socket is gone)
            log.warning("agent id %r refused: already connected (no tokens to prove a takeover)", agent_id)
            return Reply((protocol.error_message(
                "agent_id_in_use", detail="another connection holds this agent id; with no tokens "
                "configured it cannot be taken over"),), close=POLICY_VIOLATION, reason="agent id in use")
        capabilities = tuple(str(c) for c in (message.get("capabilities") or ()))
        executors = message.get("executors")
        self.agent_id = agent_id  # from here on, closing this session tells the queue
        self._factory.hold(agent_id, self.connection_id)
        self.identified.set()
        try:
            await ask(self._queue, AgentConnect(
                agent_id=agent_id, connection_id=self.connection_id,
                name=str(message.get("name") or ""), capabilities=capabilities,
                ollama_url=message.get("ollama_url"), outbox=self._outbox,
                executors=tuple(str(e) for e in executors) if isinstance(executors, list) else None))
        except ActorUnavailable:
            return Reply((protocol.error_message("hub_busy", detail="try again later"),),
                         close=TRY_AGAIN_LATER, reason="hub busy")
        log.info("agent %s identified (connection %d)", agent_id, self.connection_id)
        return Reply((protocol.identified(agent_id),))

    def _hold(self, message: dict[str, Any]) -> Reply:
        self._throttle.hold(message)
        now = trio.current_time()
        if self._told_rate_limited is not None and now - self._told_rate_limited < RATE_NOTICE_SECONDS:
            return Reply()
        self._told_rate_limited = now
        log.info("connection %d (%s) over %g frames/s: output held back", self.connection_id,
                 self.agent_id, self._rate.rate)
        return Reply((protocol.error_message(
            "rate_limited", limit_per_second=self._rate.rate, burst=self._rate.burst,
            detail="output over the rate is joined and delivered late, or dropped with a marker; "
                   "the connection stays open"),))

    async def _release(self, task_id: str | None = None) -> None:
        for message in self._throttle.release(task_id):
            await self._output(message)

    async def _output(self, message: Mapping[str, Any]) -> None:
        """A ``task_progress``: published if this agent holds the task now, else dropped (as the
        queue would: output for a task taken back or finished is stale)."""
        agent_id = self.agent_id
        assert agent_id is not None
        task = self._holding(agent_id, self.connection_id, str(message["task_id"]))
        if task is None:
            return
        if message.get("progress") is not None:
            self._bus.publish(TaskProgress(task_id=task.id, agent_id=agent_id,
                                           progress=message["progress"]))
        event = message.get("execution_event")
        error = None
        if isinstance(event, Mapping):
            output = ExecutionEvent(
                task_id=task.id, agent_id=agent_id, generation=task.generation,
                event_type=str(event.get("event_type") or "stdout"), text=str(event.get("text") or ""),
                tokens_so_far=event.get("tokens_so_far"), model=event.get("model"),
                timestamp=event.get("timestamp"))
            self._bus.publish(output)
            if output.event_type == "error" and output.text:
                error = output.text
        await self._tell_queue(task, error)

    async def _tell_queue(self, task: Task, error: str | None) -> None:
        """``OutputSeen`` for the first output of an attempt, then at most every
        ``output_seen_every`` seconds, and for every error event."""
        assert self.agent_id is not None
        attempt = (task.id, task.generation)
        now = trio.current_time()
        told = self._noted.get(attempt)
        if error is None and told is not None and now - told < self._factory.output_seen_every:
            return
        if told is None and len(self._noted) >= MAX_NOTED_ATTEMPTS:
            self._noted.clear()
        self._noted[attempt] = now
        await self._queue.send(Request(OutputSeen(self.agent_id, self.connection_id, task.id, error)))

    def _violation(self, error: dict[str, Any]) -> Reply:
        now = trio.current_time()
        self._violations.append(now)
        while self._violations and now - self._violations[0] > VIOLATION_WINDOW:
            self._violations.popleft()
        if len(self._violations) > MAX_VIOLATIONS:
            return Reply((error,), close=POLICY_VIOLATION, reason="too many protocol violations")
        return Reply((error,))

    def still_authorised(self) -> bool:
        """False once the token this session identified with was revoked (or replaced)."""
        return self._token is None or self._factory.tokens.verify(self.agent_id or "", self._token) == "ok"

    async def closed(self, reason: str) -> None:
        """The socket is gone: tell the queue (its grace period for our task starts now)."""
        if not self._released:
            self._released = True
            self._factory.release(self.agent_id, self.connection_id)
        if self.agent_id is None:
            return
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await self._release()
            await ask(self._queue, AgentDisconnect(self.agent_id, self.connection_id, reason))
