"""The part of the queue actor that deals with agents: who is connected, who holds which task, and
what each protocol message does to the board. It owns the agent table; the queue owns the board and
the file writes, and hands this object a ``write`` function. Every transition is one file move.
Its ``bus`` holds events and frames to agents back until the moves before them are durable
(``AfterCommit``): a handler may go on as if its move were done, nobody hears of it before it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from agentdeck.actors.board import lifecycle
from agentdeck.actors.board.board import Board
from agentdeck.actors.config import HubConfig
from agentdeck.actors.messages import (
    AgentConnect,
    AgentDisconnect,
    AgentJoined,
    AgentLeft,
    AgentReported,
    AgentSaid,
    AgentStateChanged,
    ExecutionResult,
    OutputSeen,
    Task,
    TaskAssigned,
    TaskCompleted,
    TaskDeadLettered,
    TaskReclaimed,
    TaskRequeued,
    TaskRetried,
)
from agentdeck.actors.numbers import bounded_int, bounded_number, instant_seconds
from agentdeck.actors.protocol import assignment
from agentdeck.actors.protocol import schema as protocol
from agentdeck.actors.protocol.verification import verification_of
from agentdeck.actors.queue.after_commit import AfterCommit
from agentdeck.actors.queue.agents import AgentRecord, pick_task, seen
from agentdeck.actors.queue.routing import complexity_of, decide
from agentdeck.actors.queue.waiting import WaitReason, backoff_delay, retry_after, why_waiting
from agentdeck.actors.telemetry.pricing import reconcile

log = logging.getLogger("agentdeck.coordinator")

Write = Callable[[Task, str, dict[str, Any]], Awaitable[Task | None]]
LOST_ON_RESTART = "agent restarted and lost the task"
RECOVERY_PROOF_SECONDS = 1.0  # after task_recovering, how long a state_report may still save the task
HUB_RESTARTED = "agent did not reconnect after the hub restarted"  # not the task's fault: no retry
MAX_WAIT_REASONS = 10_000
REPORTS = ("resource_report", "ollama_report", "wake_result", "agent_restarting")
# a state_report with one of these says the agent no longer runs the task
NOT_RUNNING = frozenset({"failed", "error", "idle", "done", "completed", "cancelled", "abandoned", "lost"})


class Coordinator:
    def __init__(self, config: HubConfig, board: Board, bus: AfterCommit, write: Write) -> None:
        self._config = config
        self._board = board
        self._bus = bus
        self._write = write
        self.agents: dict[str, AgentRecord] = {}
        # reasons that depend only on the task and the agents, while those stay the same
        self._waiting: dict[str, tuple[Task, WaitReason]] = {}
        self._waiting_agents: tuple = ()
        self._last_progress: dict[str, float] = {}  # task id -> trio time of its last sign of life
        self._last_error: dict[str, str] = {}  # task id -> text of its last `error` execution event

    # ------------------------------------------------------------------ connections

    def adopt_assigned(self) -> None:
        """After a (re)start, tasks already in assigned/<agent>/ wait for their agent's return."""
        deadline = trio.current_time() + self._config.reconnect_grace
        for task in self._board.tasks():
            if task.lane == "assigned" and task.lane_agent:
                agent = self.agents.setdefault(task.lane_agent, AgentRecord(task.lane_agent))
                if agent.task_id is None and not agent.connected:
                    agent.task_id = task.id
                    agent.deadline, agent.deadline_reason = deadline, HUB_RESTARTED

    async def connect(self, msg: AgentConnect) -> None:
        agent = self.agents.setdefault(msg.agent_id, AgentRecord(msg.agent_id))
        if agent.outbox is not None and agent.connection_id != msg.connection_id:
            self._send(agent, protocol.error_message("replaced_by_new_connection"))
            self._bus.later(agent.outbox.close)
        agent.name, agent.capabilities = msg.name or msg.agent_id, tuple(msg.capabilities)
        agent.ollama_url = msg.ollama_url or agent.ollama_url
        agent.executors = msg.executors
        agent.connection_id, agent.outbox = msg.connection_id, msg.outbox
        agent.connected_at = agent.last_seen = time.time()
        self._bus.publish(AgentJoined(agent_id=agent.agent_id, name=agent.name,
                                      capabilities=agent.capabilities))
        if agent.task_id is None:
            self._set_state(agent, "idle")
        else:
            # keeps its task for now; a state_report decides, else the grace deadline does
            self._set_state(agent, "assigned", deadline=trio.current_time() + self._config.reconnect_grace,
                            reason="no state_report after reconnect")

    async def disconnect(self, msg: AgentDisconnect) -> None:
        agent = self.agents.get(msg.agent_id)
        if agent is None or agent.connection_id != msg.connection_id:
            return
        agent.connection_id, agent.outbox = None, None
        self._bus.publish(AgentLeft(agent_id=agent.agent_id, reason=msg.reason))
        deadline = trio.current_time() + self._config.reconnect_grace if agent.task_id else None
        self._set_state(agent, "offline", deadline=deadline, reason="agent disconnected")

    # ------------------------------------------------------------------ protocol messages

    async def said(self, msg: AgentSaid) -> list[dict[str, Any]]:
        agent = self.agents.get(msg.agent_id)
        if agent is None or agent.connection_id != msg.connection_id:
            return [protocol.error_message("not_identified")]
        agent.last_seen = time.time()
        body = msg.message
        kind = body["type"]
        handler = getattr(self, f"_on_{kind}", None)
        if kind in REPORTS:
            return self._on_report(agent, body)
        if handler is None:
            return []
        return await handler(agent, body)

    def _held(self, agent: AgentRecord, task_id: Any, generation: Any = None) -> Task | None:
        """The task, if this agent holds it (and the generation, when given, is current)."""
        task = self._board.get(str(task_id))
        if task is None or task.lane != "assigned" or task.lane_agent != agent.agent_id:
            return None
        if generation is not None and generation != task.generation:
            return None
        return task

    async def _on_task_accepted(self, agent: AgentRecord, body: Mapping[str, Any]) -> list[dict]:
        task = self._held(agent, body["task_id"])
        if task is None:
            return [_ack(body["task_id"], "stale")]
        self._last_progress[task.id] = trio.current_time()
        self._working(agent, task)
        return [_ack(task.id, "accepted")]

    def holding(self, agent_id: str, connection_id: int, task_id: str) -> Task | None:
        """The task, if this connection is the agent's current one and the agent holds the task:
        a read-only view for the sessions, which check every execution event against it without
        a message to the queue (the board and the agent table change only inside the queue)."""
        agent = self.agents.get(agent_id)
        if agent is None or agent.connection_id != connection_id:
            return None
        return self._held(agent, task_id)

    def output_seen(self, msg: OutputSeen) -> None:
        agent = self.agents.get(msg.agent_id)
        if agent is None or agent.connection_id != msg.connection_id:
            return
        agent.last_seen = time.time()
        task = self._held(agent, msg.task_id)
        if task is None:
            return
        self._last_progress[task.id] = trio.current_time()
        if agent.state != "working":
            self._working(agent, task)
        if msg.last_error:
            self._last_error[task.id] = msg.last_error

    async def _on_task_complete(self, agent: AgentRecord, body: Mapping[str, Any]) -> list[dict]:
        task = self._held(agent, body["task_id"], body.get("generation"))
        if task is None:
            return [_ack(body["task_id"], "stale")]
        raw = lifecycle.kept_result(body.get("result"))
        if raw.get("status") in ("failed", "error"):
            error = str(raw.get("error") or self._last_error.get(task.id)
                        or f"agent reported status {raw['status']}")
            return [_ack(task.id, await self._fail(agent, task, error, raw))]
        result = self._priced(raw, body.get("tokens_used"))
        duration = _duration_ms(task)
        stored = {**raw, "model_used": result.model_used, "tokens_in": result.tokens_in,
                  "tokens_out": result.tokens_out, "estimated_cost_usd": result.estimated_cost_usd,
                  "equivalent_claude_cost_usd": result.equivalent_claude_cost_usd,
                  "priced": result.priced}
        for key in ("verification_report", "verification_history"):
            stored.pop(key, None)
        if result.agent_cost_usd is not None:
            stored["agent_estimated_cost_usd"] = result.agent_cost_usd
        if result.cost_disagreement:
            stored["cost_disagreement"] = True
            log.warning("task %s: %s priced %s by the agent, %s by the hub", task.id,
                        result.model_used, result.agent_cost_usd, result.estimated_cost_usd)
        verification = verification_of(body, raw)
        dst, fields = lifecycle.complete(task, agent.agent_id, stored, verification)
        done = await self._write(task, dst, fields)
        if done is None:
            return [_ack(task.id, "error")]
        self._finish(agent, task)
        self._bus.publish(TaskCompleted(task=done, previous=task, agent_id=agent.agent_id,
                                        result=result, duration_ms=duration))
        return [_ack(task.id, "complete")]

    async def _on_task_failed(self, agent: AgentRecord, body: Mapping[str, Any]) -> list[dict]:
        task = self._held(agent, body["task_id"], body.get("generation"))
        if task is None:
            return [_ack(body["task_id"], "stale")]
        error = str(body.get("error") or body.get("reason") or self._last_error.get(task.id)
                    or "task failed")
        return [_ack(task.id, await self._fail(agent, task, error, lifecycle.kept_result(body.get("result"))))]

    async def _on_task_rejected(self, agent: AgentRecord, body: Mapping[str, Any]) -> list[dict]:
        task = self._held(agent, body["task_id"])
        if task is None:
            return []
        reason = str(body.get("reason") or "agent busy")
        log.info("task %s rejected by %s: %s", task.id, agent.agent_id, reason)
        dst, fields = lifecycle.back_to_inbox(task)
        back = await self._write(task, dst, fields)
        self._finish(agent, task)
        agent.available_at = trio.current_time() + 2.0
        if back is not None:
            self._bus.publish(TaskReclaimed(task=back, agent_id=agent.agent_id,
                                            reason=f"rejected: {reason}"))
        return []

    async def _on_task_recovering(self, agent: AgentRecord, body: Mapping[str, Any]) -> list[dict]:
        """A restarted sidecar reports the task it held when it died. Its process is gone, so it
        runs the task only if it says so: a ``state_report`` with the current generation on this
        connection, before this report or within ``RECOVERY_PROOF_SECONDS`` after it (a sidecar
        that only lost its socket sends one right behind). Otherwise the task is taken back (a lost
        attempt) and the agent told to drop it. Answers go through the outbox, in order with the
        assignment that may follow at once."""
        task_id = str(body["task_id"])
        task = self._held(agent, task_id)
        if task is not None and agent.proven == (task.id, task.generation):
            log.info("task %s recovering on %s: still running, continue", task.id, agent.agent_id)
            self._send(agent, protocol.task_continue(task.id, task.generation))
        elif task is not None and agent.assigned_on == agent.connection_id:
            # assigned on this very connection: the report is about an earlier attempt, and a
            # task_reassign would make the sidecar forget the generation it is running now
            log.info("task %s recovering on %s: report of an earlier attempt, ignored", task.id,
                     agent.agent_id)
        elif task is not None:
            log.info("task %s recovering on %s (last status %s): reassigned unless a state_report "
                     "shows it running", task.id, agent.agent_id, body.get("last_status") or "unknown")
            self._set_state(agent, agent.state, deadline=trio.current_time() + RECOVERY_PROOF_SECONDS,
                            reason=LOST_ON_RESTART)
        else:
            log.info("task %s recovering on %s: not held, reassign", task_id, agent.agent_id)
            self._send(agent, protocol.task_reassign(task_id))
        return []

    async def _on_state_report(self, agent: AgentRecord, body: Mapping[str, Any]) -> list[dict]:
        task = self._held(agent, body["task_id"], body.get("generation"))
        status = str(body.get("status") or "").lower()
        if task is None or status in NOT_RUNNING:
            return [protocol.state_report_ack(body["task_id"], "abort")]
        self._last_progress[task.id] = trio.current_time()
        agent.proven = (task.id, task.generation)
        self._working(agent, task)
        return [protocol.state_report_ack(task.id, "continue")]

    def _on_report(self, agent: AgentRecord, body: Mapping[str, Any]) -> list[dict]:
        data = {k: v for k, v in body.items() if k != "type"}
        if body["type"] == "resource_report":
            # kept on the agent and shown: only the schema's keys, or any key would live forever
            data = protocol.known_fields(body)
            agent.resources = data
        elif body["type"] == "ollama_report" and body.get("ollama_url"):
            agent.ollama_url = str(body["ollama_url"])
        self._bus.publish(AgentReported(agent_id=agent.agent_id, report_type=body["type"], data=data))
        return []

    # ------------------------------------------------------------------ transitions

    async def _fail(self, agent: AgentRecord | None, task: Task, error: str,
                    raw: Mapping[str, Any]) -> str:
        delay = backoff_delay(task.retry_count + 1, self._config.retry_backoff,
                              self._config.retry_backoff_max)
        result = self._priced(raw, None) if raw else None
        dst, fields, outcome = lifecycle.fail(task, agent.agent_id if agent else None, error,
                                              self._config.max_retries, raw, delay,
                                              result.estimated_cost_usd if result else None)
        moved = await self._write(task, dst, fields)
        if moved is None:
            return "error"
        if agent is not None:
            self._finish(agent, task)
        event = TaskDeadLettered if outcome == "dead_letter" else TaskRetried
        self._bus.publish(event(task=moved, agent_id=agent.agent_id if agent else None, error=error,
                                retry_count=moved.retry_count, result=result))
        return outcome

    async def reclaim(self, agent: AgentRecord, reason: str) -> None:
        """Take the agent's task back; a lost attempt counts as a retry (dead letter at the limit),
        except one lost to a restart of the hub itself."""
        task = self._board.get(agent.task_id) if agent.task_id else None
        self._finish(agent, task)
        if task is None or task.lane != "assigned":
            return
        if agent.connected:
            self._send(agent, protocol.task_reassign(task.id, reason))
        dst, fields, outcome = lifecycle.reclaim(task, reason, self._config.max_retries,
                                                 count_retry=reason != HUB_RESTARTED)
        back = await self._write(task, dst, fields)
        if back is None:
            return
        log.info("reclaimed %s from %s: %s (%s)", task.id, agent.agent_id, reason, outcome)
        if outcome == "dead_letter":
            self._bus.publish(TaskDeadLettered(task=back, agent_id=agent.agent_id,
                                               error=str(back.fields.get("last_error") or reason),
                                               retry_count=back.retry_count))
        else:
            self._bus.publish(TaskReclaimed(task=back, agent_id=agent.agent_id, reason=reason))

    async def requeue(self, task: Task) -> bool:
        dst, fields = lifecycle.requeue(task)
        back = await self._write(task, dst, fields)
        if back is not None:
            self._bus.publish(TaskRequeued(task=back))
        return back is not None

    async def cancel(self, task: Task) -> bool:
        holder = self.agents.get(task.lane_agent or "") if task.lane == "assigned" else None
        if holder is not None and holder.task_id == task.id:
            # what a sidecar acts on: it frees its slot at once and takes the next task
            self._send(holder, protocol.task_cancelled(task.id, int(time.time() * 1000), "cancelled"))
            self._finish(holder, task)
        log.info("task %s cancelled (held by %s)", task.id, holder.agent_id if holder else "no agent")
        dst, fields = lifecycle.cancel(task, "cancelled from the dashboard")
        moved = await self._write(task, dst, fields)
        if moved is not None:
            self._bus.publish(TaskDeadLettered(task=moved, agent_id=task.lane_agent,
                                               error="cancelled from the dashboard",
                                               retry_count=moved.retry_count))
        return moved is not None

    async def check_deadlines(self) -> None:
        now = trio.current_time()
        for agent in list(self.agents.values()):
            if agent.task_id and agent.state == "working":
                last = self._last_progress.get(agent.task_id, now)
                if now - last > self._config.stuck_timeout:
                    await self.reclaim(agent, f"no progress for {self._config.stuck_timeout:g} s")
                    continue
            if agent.deadline is not None and now >= agent.deadline:
                await self.reclaim(agent, agent.deadline_reason)

    async def schedule(self, inbox: list[Task]) -> None:
        """Offer the best waiting task to every idle, connected agent (longest idle first)."""
        now = trio.current_time()
        idle = sorted((a for a in self.agents.values()
                       if a.state == "idle" and a.connected and a.available_at <= now),
                      key=lambda a: a.last_state_change)
        taken: set[str] = set()
        for agent in idle:
            task = pick_task(inbox, agent, self._board, taken)
            if task is None:
                continue
            taken.add(task.id)
            try:
                await self._assign(agent, task)
            except Exception:
                # one task's odd fields must never stop scheduling for every other task
                log.exception("could not assign %s (it stays in the inbox)", task.id)

    def why_waiting(self, task_ids: tuple[str, ...]) -> dict[str, WaitReason]:
        """Why each of these inbox tasks is not running (the rules ``schedule`` applies).

        The page asks for the first 100 inbox tasks on every inbox change; a reason that depends
        only on the task and the agents (no dependencies, no retry backoff) is kept until either
        changes."""
        agents = tuple(seen(agent) for agent in self.agents.values())
        if agents != self._waiting_agents or len(self._waiting) > MAX_WAIT_REASONS:
            self._waiting_agents, self._waiting = agents, {}
        now = time.time()
        reasons = {}
        for task_id in task_ids:
            task = self._board.get(task_id)
            if task is None or task.lane != "inbox":
                continue
            known = self._waiting.get(task_id)
            if known is not None and known[0] is task:
                reasons[task_id] = known[1]
                continue
            reasons[task_id] = reason = why_waiting(task, agents, self._board, now)
            if not task.dependencies and retry_after(task) is None:
                self._waiting[task_id] = (task, reason)
        return reasons

    async def _assign(self, agent: AgentRecord, task: Task) -> None:
        routing = decide(task.fields, agent.ollama_url, default_ollama_model=self._config.ollama_model,
                         claude_model=self._config.claude_model, capabilities=agent.capabilities,
                         executors=agent.executors)
        dst, fields = lifecycle.assign(task, agent.agent_id, routing)
        assigned = await self._write(task, dst, fields)
        if assigned is None:
            return
        agent.task_id, agent.assigned_on, agent.proven = assigned.id, agent.connection_id, None
        self._set_state(agent, "assigned", deadline=trio.current_time() + self._config.accept_timeout,
                        reason=f"not accepted within {self._config.accept_timeout:g} s")
        self._bus.publish(TaskAssigned(task=assigned, previous=task, agent_id=agent.agent_id,
                                       generation=assigned.generation, routing_decision=routing))
        self._send(agent, task_assign_message(assigned, routing))

    # ------------------------------------------------------------------ helpers

    def _working(self, agent: AgentRecord, task: Task) -> None:
        agent.task_id = task.id
        self._last_progress.setdefault(task.id, trio.current_time())
        self._set_state(agent, "working")

    def _finish(self, agent: AgentRecord, task: Task | None) -> None:
        if task is not None:
            self._last_progress.pop(task.id, None)
            self._last_error.pop(task.id, None)
        agent.task_id, agent.assigned_on, agent.proven = None, None, None
        self._set_state(agent, "idle" if agent.connected else "offline")

    def _set_state(self, agent: AgentRecord, state: str, *, deadline: float | None = None,
                   reason: str = "") -> None:
        agent.deadline, agent.deadline_reason = deadline, reason
        if agent.state != state:
            agent.state = state
            agent.last_state_change = time.time()
            self._bus.publish(AgentStateChanged(agent_id=agent.agent_id, state=state,
                                                task_id=agent.task_id))

    def _send(self, agent: AgentRecord, frame: dict[str, Any]) -> None:
        """To the agent's connection of now, once the moves before it are durable."""
        outbox = agent.outbox
        if outbox is None:
            return

        def deliver() -> None:
            try:
                outbox.send_nowait(frame)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                log.warning("could not send %s to %s (socket gone or not reading)", frame["type"],
                            agent.agent_id)

        self._bus.later(deliver)

    def _priced(self, raw: Mapping[str, Any], tokens_used: Any) -> ExecutionResult:
        tokens_in, tokens_out = _int(raw.get("tokens_in")), _int(raw.get("tokens_out"))
        if not tokens_in and not tokens_out and _int(tokens_used):
            tokens_out = _int(tokens_used)
        model = raw.get("model_used")
        price = reconcile(model, tokens_in, tokens_out,
                          cache_read_tokens=_int(raw.get("cache_read_tokens")),
                          cache_write_tokens=_int(raw.get("cache_creation_tokens")),
                          agent_cost_usd=_float(raw.get("estimated_cost_usd")),
                          agent_equivalent_usd=_float(raw.get("equivalent_claude_cost_usd")),
                          claude_model=self._config.claude_model)
        return ExecutionResult(
            status=str(raw.get("status") or "success"), output=str(raw.get("output") or ""),
            error=raw.get("error"), model_used=model, tokens_in=tokens_in, tokens_out=tokens_out,
            estimated_cost_usd=price.cost_usd, equivalent_claude_cost_usd=price.equivalent_claude_cost_usd,
            execution_ms=_int(raw.get("execution_ms")) or None, priced=price.priced,
            agent_cost_usd=price.agent_cost_usd, cost_disagreement=price.disagrees)


def task_assign_message(task: Task, routing: Mapping[str, Any]) -> dict[str, Any]:
    return assignment.build(task.id, task.fields, description=task.description or task.title,
                            generation=task.generation, complexity=complexity_of(task.fields),
                            routing_decision=routing, now=time.time())


def _ack(task_id: Any, status: str) -> dict[str, Any]:
    return protocol.task_ack(str(task_id), status)


def _int(value: Any) -> int:
    number = bounded_int(value)
    return number if number is not None and number > 0 else 0


def _float(value: Any) -> float | None:
    number = bounded_number(value)
    return None if number is None else float(number)


def _duration_ms(task: Task) -> int | None:
    start = instant_seconds(str(task.fields.get("assigned_at")))
    return None if start is None else max(0, int((time.time() - start) * 1000))
