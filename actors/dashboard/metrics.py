"""The metrics actor: Prometheus figures for the hub, in a registry of its own (never the global one).

Counters (events by kind, execution events, task durations, cost, tokens, task outcomes) are fed by
the bus as things happen. Gauges that describe the present (tasks by lane, agents by state, actor
restarts, bus subscribers) are set at scrape time from the dashboard snapshot and the supervisor's status, so
they are never out of step with what the dashboard shows. Scrapes are ``Request(GetMetrics())``s
answered with the text exposition format.

``stream_clients`` is the one piece other code touches directly: the SSE and dashboard WebSocket
handlers count their open connections with ``with hub.stream_clients.track("sse"): ...``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import trio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from agentdeck.actors.bus import EventBus
from agentdeck.actors.mailbox import reply
from agentdeck.actors.messages import (
    Event,
    ExecutionEvent,
    GetDashboardSnapshot,
    GetMetrics,
    Request,
    Resync,
    TaskCompleted,
    TaskDeadLettered,
    TaskReclaimed,
    TaskRetried,
)
from agentdeck.actors.protocol.schema import EVENT_TYPES
from agentdeck.actors.supervisor import ActorStatus

log = logging.getLogger("agentdeck.metrics")

MAX_BATCH = 2000  # bus events counted at once
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)
OUTCOMES = {TaskCompleted: "completed", TaskRetried: "retried", TaskDeadLettered: "dead_letter",
            TaskReclaimed: "reclaimed"}


class StreamClients:
    """Open live connections (``sse``, ``ws``) as a gauge; safe to use from any task."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._gauge = Gauge("agentdeck_stream_clients", "Open live dashboard connections",
                            ["transport"], registry=registry)
        for transport in ("sse", "ws"):
            self._gauge.labels(transport)

    @contextlib.contextmanager
    def track(self, transport: str) -> Iterator[None]:
        gauge = self._gauge.labels(transport)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def count(self, transport: str) -> int:
        value = self._registry.get_sample_value("agentdeck_stream_clients", {"transport": transport})
        return int(value or 0)


class Metrics:
    def __init__(self, bus: EventBus, actor_status: Callable[[], Sequence[ActorStatus]],
                 mailbox: trio.MemoryReceiveChannel,
                 ask_dashboard: Callable[[Any], Awaitable[Any]], *, bus_buffer: int = 20_000) -> None:
        self._bus = bus
        self._actor_status = actor_status
        self._mailbox = mailbox
        self._ask_dashboard = ask_dashboard
        self._bus_buffer = bus_buffer
        self.registry = registry = CollectorRegistry()
        self.stream_clients = StreamClients(registry)
        self.events = Counter("agentdeck_events", "Bus events by kind", ["kind"], registry=registry)
        self.missed = Counter("agentdeck_metrics_missed_events",
                              "Bus events the metrics actor fell behind on", registry=registry)
        self.execution_events = Counter("agentdeck_execution_events", "Live output events by type",
                                        ["event_type"], registry=registry)
        self.outcomes = Counter("agentdeck_task_outcomes", "Finished attempts by outcome", ["outcome"],
                                registry=registry)
        self.duration = Histogram("agentdeck_task_duration_seconds", "Assignment to completion",
                                  buckets=DURATION_BUCKETS, registry=registry)
        self.cost = Counter("agentdeck_cost_usd", "Estimated cost of finished attempts (priced ones)",
                            registry=registry)
        self.claude_equivalent = Counter("agentdeck_claude_equivalent_cost_usd",
                                         "What the finished attempts would have cost on Claude",
                                         registry=registry)
        self.unpriced = Counter("agentdeck_unpriced_attempts", "Attempts on models with no known price",
                                registry=registry)
        self.tokens = Counter("agentdeck_tokens", "Tokens of finished attempts", ["direction"],
                              registry=registry)
        self.tasks = Gauge("agentdeck_tasks", "Tasks by lane", ["lane"], registry=registry)
        self.agents = Gauge("agentdeck_agents", "Agents by state", ["state"], registry=registry)
        self.restarts = Gauge("agentdeck_actor_restarts", "Restarts of each actor since start",
                              ["actor"], registry=registry)
        self.subscribers = Gauge("agentdeck_bus_subscribers", "Bus subscribers", registry=registry)
        self.resyncs = Gauge("agentdeck_bus_resyncs", "Times a bus subscriber fell behind",
                             registry=registry)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self._bus.subscribe("metrics", self._bus_buffer) as subscription:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._follow_bus, subscription)
                task_status.started()
                async for message in self._mailbox:
                    if isinstance(message, Request):
                        nursery.start_soon(self._answer, message)

    async def _follow_bus(self, subscription: Any) -> None:
        async for event in subscription:
            events = [event]
            with contextlib.suppress(trio.WouldBlock, trio.EndOfChannel):
                while len(events) < MAX_BATCH:
                    events.append(subscription.receive_nowait())
            self.count_all(events)

    def count_all(self, events: Sequence[Event]) -> None:
        """Count a batch: live output (thousands a second) adds to each of its counters once."""
        output: collections.Counter[str] = collections.Counter()
        for event in events:
            if isinstance(event, ExecutionEvent):
                # agents name the type: only known names become labels, so none can grow the registry
                output[event.event_type if event.event_type in EVENT_TYPES else "other"] += 1
            else:
                self.count(event)
        if output:
            self.events.labels(ExecutionEvent.kind).inc(sum(output.values()))
            for kind, count in output.items():
                self.execution_events.labels(kind).inc(count)

    def count(self, event: Event) -> None:
        if isinstance(event, Resync):
            self.missed.inc(event.missed)
            return
        if isinstance(event, ExecutionEvent):
            self.count_all((event,))
            return
        self.events.labels(event.kind).inc()
        outcome = OUTCOMES.get(type(event))
        if outcome is None:
            return
        self.outcomes.labels(outcome).inc()
        if isinstance(event, TaskCompleted) and event.duration_ms is not None:
            self.duration.observe(event.duration_ms / 1000)
        result = getattr(event, "result", None)
        if result is not None:
            self.tokens.labels("in").inc(max(0, result.tokens_in or 0))
            self.tokens.labels("out").inc(max(0, result.tokens_out or 0))
            if not result.priced:
                self.unpriced.inc()
            if result.estimated_cost_usd is not None and result.estimated_cost_usd > 0:
                self.cost.inc(result.estimated_cost_usd)
            if result.equivalent_claude_cost_usd is not None and result.equivalent_claude_cost_usd > 0:
                self.claude_equivalent.inc(result.equivalent_claude_cost_usd)

    async def _answer(self, request: Request) -> None:
        if not isinstance(request.body, GetMetrics):
            reply(request, TypeError(f"metrics does not answer {type(request.body).__name__}"))
            return
        try:
            snapshot = await self._ask_dashboard(GetDashboardSnapshot())
        except Exception as error:
            log.warning("metrics without the dashboard snapshot: %s", error)
        else:
            self._set_present(snapshot)
        for actor in self._actor_status():
            self.restarts.labels(actor.name).set(actor.restarts)
        self.subscribers.set(self._bus.subscriber_count)
        self.resyncs.set(self._bus.resyncs)
        reply(request, generate_latest(self.registry))

    def _set_present(self, snapshot: dict[str, Any]) -> None:
        for lane, count in snapshot["queue"]["by_status"].items():
            self.tasks.labels(lane).set(count)
        states: dict[str, int] = {"offline": 0, "idle": 0, "assigned": 0, "working": 0}
        for agent in snapshot["agents"]:
            states[agent["state"]] = states.get(agent["state"], 0) + 1
        for state, count in states.items():
            self.agents.labels(state).set(count)
