"""The reference agent (``agentdeck agent``): connects to a hub's ``/ws`` and runs what it is given.

One task at a time. The running task lives outside the connection, so a dropped socket does not
stop the work: the agent reconnects (backoff 1 s doubling to 30 s), reports the task with
``state_report`` and keeps going unless the hub says ``abort``. A finished task's ``task_complete``
or ``task_failed`` is kept until the hub acknowledges it and is sent again after a reconnect, so a
result produced while the hub was unreachable is not lost.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, open_websocket_url

from agentdeck.actors.protocol import schema as protocol
from agentdeck.actors.reference_agent.assignment import metadata_of
from agentdeck.actors.reference_agent.attempt import WorkspaceOptions, run_attempt
from agentdeck.actors.reference_agent.claude_code import ClaudeOptions, supports_partial_messages
from agentdeck.actors.reference_agent.codex import CodexOptions
from agentdeck.actors.reference_agent.command_agent import CommandAgent
from agentdeck.actors.reference_agent.dispatch import Executors, refusal, run_target, target_of
from agentdeck.actors.reference_agent.output import DEFAULT_TIMEOUT
from agentdeck.actors.reference_agent.workspace import remove_stale

log = logging.getLogger("agentdeck.agent")

PLAIN_TARGETS = ("sidecar", "ollama")  # others are coding agents, which get CODING_TIMEOUT by default
CODING_TIMEOUT = 3600.0
AUTH_ERRORS = ("invalid_token", "token_agent_mismatch", "invalid_agent_id", "validation_failed")
FINAL_ACKS = ("complete", "retried", "dead_letter", "stale")


class AgentRefused(Exception):
    """The hub refused this agent's identity: retrying with the same settings cannot help."""


@attrs.frozen
class AgentSettings:
    hub_url: str
    agent_id: str
    token: str | None = None
    capabilities: tuple[str, ...] = ()
    ollama_url: str | None = None
    default_ollama_model: str = "llama3.2"
    claude_model: str = "claude-sonnet-4-5"
    name: str | None = None
    work_dir: str | None = None  # where shell commands run
    claude: ClaudeOptions | None = None  # None: no Claude Code executor
    codex: CodexOptions | None = None  # None: no Codex executor
    command_agents: tuple[CommandAgent, ...] = ()
    worktree_root: str | None = None  # default: <temp>/agentdeck-<agent id>
    keep_worktrees: bool = False
    keep_failed_branches: bool = False
    heartbeat_interval: float = 60.0  # well under the hub's stuck timeout (10 min)
    ping_interval: float = 30.0
    backoff_min: float = 1.0
    backoff_max: float = 30.0
    identify_timeout: float = 10.0


@attrs.define(eq=False)
class RunningTask:
    assignment: dict[str, Any]
    generation: int
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    status: str = "accepted"
    reported_generation: int | None = None  # sent in the last state_report

    @property
    def task_id(self) -> str:
        return self.assignment["task_id"]


def executors_of(settings: AgentSettings) -> Executors:
    return Executors(ollama_url=settings.ollama_url, default_ollama_model=settings.default_ollama_model,
                     claude_model=settings.claude_model, claude=settings.claude, codex=settings.codex,
                     commands=settings.command_agents)


def advertised_capabilities(settings: AgentSettings, executors: Executors) -> list[str]:
    """The agent's own capabilities plus one per executor it can run (``claude``, ``codex``, ...)."""
    return list(dict.fromkeys((*settings.capabilities, *executors.capabilities())))


def timeout_of(assignment: dict[str, Any], default: float = DEFAULT_TIMEOUT) -> float:
    """``timeout_seconds`` or ``timeout`` from the task (top level or metadata), else ``default``."""
    for source in (assignment, metadata_of(assignment)):
        for key in ("timeout_seconds", "timeout"):
            value = source.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                return float(value)
    return default


class ReferenceAgent:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.running: RunningTask | None = None
        self.unacked: dict[str, dict[str, Any]] = {}
        self.identified_count = 0
        self._ws: WebSocketConnection | None = None
        self._send_lock = trio.Lock()
        self._nursery: trio.Nursery | None = None
        self.executors = executors_of(settings)
        root = settings.worktree_root or os.path.join(tempfile.gettempdir(), f"agentdeck-{settings.agent_id}")
        self.workspace_options = WorkspaceOptions(
            root=Path(root), base_dir=Path(settings.work_dir or os.getcwd()),
            keep_worktrees=settings.keep_worktrees, keep_failed_branches=settings.keep_failed_branches)

    # ------------------------------------------------------------------ connection

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, serve, reconnect with backoff, forever; raises AgentRefused on a bad identity."""
        refused: AgentRefused | None = None
        claude = self.executors.claude
        if claude is not None and claude.partial_messages and not await supports_partial_messages(claude.binary):
            log.info("%s has no --include-partial-messages: text arrives per message", claude.binary)
            self.executors = attrs.evolve(self.executors, claude=attrs.evolve(claude, partial_messages=False))
        log.info("agent %s can run: %s", self.settings.agent_id, ", ".join(self.executors.capabilities()))
        for path in await remove_stale(self.workspace_options.root,
                                       drop_branches=not self.workspace_options.keep_failed_branches):
            log.warning("removed the worktree of an attempt that did not finish: %s", path)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                await self._reconnect_forever()
            except AgentRefused as error:
                refused = error
                nursery.cancel_scope.cancel()
        if refused is not None:
            raise refused

    async def _reconnect_forever(self) -> None:
        delay = self.settings.backoff_min
        while True:
            before = self.identified_count
            try:
                await self._connect_once()
                reason = "connection closed"
            except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError) as error:
                reason = f"{type(error).__name__}: {error}"
            if self.identified_count > before:
                delay = self.settings.backoff_min
            log.warning("agent %s: %s; reconnecting in %.1f s", self.settings.agent_id, reason, delay)
            await trio.sleep(delay)
            delay = min(delay * 2, self.settings.backoff_max)

    async def _connect_once(self) -> None:
        async with open_websocket_url(self.settings.hub_url,
                                      max_message_size=protocol.MAX_FRAME_BYTES * 4) as ws:
            await ws.send_message(protocol.encode(self._identify_message()))
            early = await self._await_identified(ws)
            self._ws = ws
            self.identified_count += 1
            log.info("agent %s identified at %s", self.settings.agent_id, self.settings.hub_url)
            try:
                await self._resume()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._ping_forever)
                    try:
                        for message in early:
                            await self._dispatch(message)
                        while True:
                            await self._dispatch(_parse(await ws.get_message()))
                    except ConnectionClosed as closed:
                        log.info("hub closed the connection: %s", closed.reason)
                    nursery.cancel_scope.cancel()
            finally:
                self._ws = None

    def _identify_message(self) -> dict[str, Any]:
        s = self.settings
        return {"type": "identify", "agent_id": s.agent_id, "token": s.token or "",
                "name": s.name or s.agent_id, "status": "busy" if self.running else "idle",
                "capabilities": advertised_capabilities(s, self.executors),
                "executors": list(self.executors.capabilities()),
                "ollama_url": s.ollama_url, "protocol_version": protocol.PROTOCOL_VERSION,
                "client_type": "agentdeck-reference-agent"}

    async def _await_identified(self, ws: WebSocketConnection) -> list[dict[str, Any]]:
        """Read until ``identified``; messages that raced ahead of it are returned for later."""
        early: list[dict[str, Any]] = []
        with trio.fail_after(self.settings.identify_timeout):
            while True:
                message = _parse(await ws.get_message())
                if message.get("type") == "identified":
                    return early
                if message.get("type") == "error":
                    if message.get("error") in AUTH_ERRORS:
                        raise AgentRefused(f"hub refused agent {self.settings.agent_id!r}: "
                                           f"{message.get('error')}")
                    log.warning("hub error before identified: %s", message)
                    continue
                early.append(message)

    async def _resume(self) -> None:
        """After a (re)connect: report the running task, resend results the hub never acked."""
        running = self.running
        if running is not None:
            running.reported_generation = running.generation
            await self.send({"type": "state_report", "task_id": running.task_id,
                             "status": running.status, "generation": running.generation})
        for final in list(self.unacked.values()):
            await self.send(final)

    async def _ping_forever(self) -> None:
        while True:
            await trio.sleep(self.settings.ping_interval)
            await self.send({"type": "ping"})

    async def send(self, message: dict[str, Any]) -> bool:
        """Send if connected; False when there is no connection (progress is then dropped)."""
        ws = self._ws
        if ws is None:
            return False
        try:
            async with self._send_lock:
                await ws.send_message(protocol.encode(message))
        except ConnectionClosed:
            return False
        return True

    # ------------------------------------------------------------------ hub messages

    def _forget_unacked(self, task_id: object) -> None:
        if isinstance(task_id, str):
            self.unacked.pop(task_id, None)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        task_id = message.get("task_id")
        mine = self.running if self.running is not None and self.running.task_id == task_id else None
        if kind == "task_assign":
            await self._assigned(message)
        elif kind == "task_ack" and message.get("status") in FINAL_ACKS:
            self._forget_unacked(task_id)
        elif kind == "task_continue" and mine is not None and isinstance(message.get("generation"), int):
            mine.generation = message["generation"]
        elif kind in ("task_reassign", "task_cancelled"):
            self._forget_unacked(task_id)
            if mine is not None:
                self._abandon(mine, str(kind))
        elif kind == "state_report_ack" and message.get("action") == "abort" and mine is not None:
            if mine.reported_generation == mine.generation:
                self._abandon(mine, "state_report_ack abort")
        elif kind == "error":
            log.warning("hub error: %s", message)

    async def _assigned(self, assignment: dict[str, Any]) -> None:
        task_id = assignment.get("task_id")
        if not isinstance(task_id, str):
            return
        generation = assignment.get("generation")
        generation = generation if isinstance(generation, int) else 0
        current = self.running
        if current is not None:
            if current.task_id != task_id:
                await self.send({"type": "task_rejected", "task_id": task_id,
                                 "reason": f"busy with {current.task_id}"})
                return
            if generation <= current.generation:
                return
            # the hub reclaimed our attempt and gave the task back: start over under the new generation
            self._abandon(current, f"reassigned as generation {generation}")
        self.unacked.pop(task_id, None)
        running = RunningTask(assignment, generation)
        self.running = running
        await self.send({"type": "task_accepted", "task_id": task_id})
        assert self._nursery is not None
        self._nursery.start_soon(self._execute, running)

    def _abandon(self, running: RunningTask, why: str) -> None:
        log.info("task %s (generation %d) abandoned: %s", running.task_id, running.generation, why)
        if self.running is running:
            self.running = None
        running.scope.cancel()

    async def _execute(self, running: RunningTask) -> None:
        result = None
        with running.scope:
            try:
                result = await self._run_executor(running)
            except Exception as error:  # an executor bug must fail the task, not the agent
                log.exception("executor crashed on task %s", running.task_id)
                result = refusal(f"executor crashed: {type(error).__name__}: {error}")
        if self.running is running:
            self.running = None
        if result is None or running.scope.cancelled_caught:
            return
        base: dict[str, Any] = {"task_id": running.task_id, "generation": running.generation}
        final: dict[str, Any]
        if result["status"] == "success":
            reports: dict[str, Any] = {key: result.pop(key) for key in ("verification_report", "verification_history")
                       if key in result}
            final = {"type": "task_complete", **base, "result": result, **reports,
                     "tokens_used": result["tokens_in"] + result["tokens_out"]}
        else:
            final = {"type": "task_failed", **base, "error": result["error"], "result": result}
        self.unacked[running.task_id] = final
        await self.send(final)

    async def _run_executor(self, running: RunningTask) -> dict[str, Any]:
        assignment = running.assignment
        target = target_of(assignment, self.executors)

        async def emit(event: dict[str, Any]) -> None:
            if self.running is running:
                running.status = "working"
                await self.send({"type": "task_progress", "task_id": running.task_id,
                                 "execution_event": event})

        timeout = timeout_of(assignment, DEFAULT_TIMEOUT if target in PLAIN_TARGETS else CODING_TIMEOUT)

        async def execute(cwd: str | None, feedback: str | None) -> dict[str, Any]:
            return await run_target(target, assignment, self.executors, emit=emit, timeout=timeout,
                                    cwd=cwd, feedback=feedback)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._heartbeat, running)
            result = await run_attempt(assignment, run_executor=execute, emit=emit,
                                       options=self.workspace_options, cwd=self.settings.work_dir,
                                       timeout=timeout)
            nursery.cancel_scope.cancel()
        return result

    async def _heartbeat(self, running: RunningTask) -> None:
        """A coding agent can be silent for many minutes (a long test run inside a tool call): a
        ``task_progress`` without output every minute tells the hub the task is alive."""
        started = trio.current_time()
        while True:
            await trio.sleep(self.settings.heartbeat_interval)
            if self.running is running:
                await self.send({"type": "task_progress", "task_id": running.task_id,
                                 "progress": {"state": "running",
                                              "elapsed_s": int(trio.current_time() - started)}})


def _parse(frame: str | bytes) -> dict[str, Any]:
    try:
        message = json.loads(frame)
    except ValueError:
        log.warning("hub sent a frame that is not JSON: %r", frame[:200])
        return {}
    return message if isinstance(message, dict) else {}


async def run_agent(settings: AgentSettings) -> None:
    """Run until cancelled; AgentRefused propagates (the command exits non-zero)."""
    await ReferenceAgent(settings).run()
