"""The dashboard state actor: one aggregator that keeps the whole dashboard snapshot ready for every viewer.

It follows the bus and keeps just what the dashboard shows (board counts, agents, dead letters, the
last 100 completions, a sliding hour of throughput, costs, health inputs). Each part of the snapshot
is rebuilt only when something it depends on changed, so answering ``GetDashboardSnapshot`` costs
about nothing however many viewers ask. Board counts and agents are seeded from the queue at start
and after a ``Resync``, then maintained from events. Intervals use the trio clock; wall-clock time
only appears in the displayed timestamps.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from agentdeck.actors.bus import EventBus
from agentdeck.actors.config import HubConfig
from agentdeck.actors.dashboard import health
from agentdeck.actors.dashboard.live_runs import LiveRuns
from agentdeck.actors.dashboard.tables import AgentRoster, BoardTally
from agentdeck.actors.dashboard.throughput import HOUR, SlidingHour
from agentdeck.actors.dashboard.views import (
    completion_entry,
    completion_from_file,
    costs_json,
    epoch_ms,
    finished_attempts,
    tokens_of,
)
from agentdeck.actors.mailbox import reply
from agentdeck.actors.messages import (
    ActorRestarted,
    AgentJoined,
    AgentLeft,
    AgentStateChanged,
    BoardView,
    BudgetThreshold,
    Event,
    ExecutionEvent,
    GetDashboardSnapshot,
    GetHealth,
    GetStats,
    ListAgents,
    ListTasks,
    Request,
    Resync,
    SecurityWarning,
    Task,
    TaskAssigned,
    TaskCompleted,
    TaskConflict,
    TaskDeadLettered,
    TaskInvalid,
    TaskProgress,
    TaskReclaimed,
    TaskRemoved,
    TaskRetried,
    TelemetryChanged,
    WatcherModeChanged,
)
from agentdeck.actors.replies import POLLING_FORCED, HealthReport, StatsReply, StatusSources

log = logging.getLogger("agentdeck.dashboard")

RECENT_COMPLETIONS = 100
DEAD_LETTER_SHOWN = 200  # the snapshot lists the newest ones; queue.dead_letter has the count
SECTIONS = ("health", "agents", "queue", "dead_letter_tasks", "recent_completions", "throughput", "costs",
            "running")


Ask = Callable[[Any], Awaitable[Any]]


class DashboardState:
    """Gets what it reads as seams: the bus, its mailbox, ``ask_queue``/``ask_telemetry``, and the
    read-only ``StatusSources`` (supervisor, watcher, telemetry, broker); never the hub."""

    def __init__(self, config: HubConfig, bus: EventBus, mailbox: trio.MemoryReceiveChannel, *,
                 ask_queue: Ask, sources: StatusSources, ask_telemetry: Ask | None = None,
                 started_at: float | None = None, bus_buffer: int = 20_000,
                 queue_check_interval: float = 60.0, costs_refresh: float = 60.0,
                 health_ttl: float = 1.0) -> None:
        self._config = config
        self._bus = bus
        self._ask_queue = ask_queue
        self._ask_telemetry = ask_telemetry
        self._sources = sources
        self._started_at = time.time() if started_at is None else started_at
        self._mailbox = mailbox
        self._bus_buffer = bus_buffer
        self._queue_check_interval = queue_check_interval
        self._costs_refresh = costs_refresh
        self._health_ttl = health_ttl
        self._board = BoardTally()
        self._agents = AgentRoster()
        self._runs = LiveRuns(config.claude_model)
        self._seeded = False
        self._completions: deque[dict[str, Any]] = deque(maxlen=RECENT_COMPLETIONS)
        self._hour = SlidingHour()
        self._queue_samples: deque[int] = deque(maxlen=health.QUEUE_GROWTH_CHECKS + 1)
        self._restarts: dict[str, tuple[float, int]] = {}
        self._crashes: dict[str, deque[float]] = {}  # trio clock times of each actor's last crashes
        self._crash_errors: dict[str, str] = {}
        self._budget_levels: dict[str, tuple[int, float, float, str]] = {}
        self._security: list[str] = []
        self._watcher_fallback: str | None = None
        self._stats: StatsReply | None = None
        self._costs_stale = trio.Event()
        # the snapshot, part by part
        self._sections: dict[str, Any] = {}
        self._dirty: set[str] = set(SECTIONS)
        self._health_until = -float("inf")
        self._answering = False  # run() answers its mailbox
        self._handlers: dict[type, Callable[[Any], None]] = {
            AgentJoined: self._on_agent_joined, AgentLeft: self._on_agent_left,
            AgentStateChanged: self._on_agent_state, TaskAssigned: self._on_assigned,
            TaskCompleted: self._on_completed, TaskRetried: self._on_failed,
            TaskDeadLettered: self._on_failed, TaskRemoved: self._on_removed,
            TaskProgress: self._on_progress, ExecutionEvent: self._on_output,
            TaskReclaimed: self._on_released,
            TaskInvalid: self._on_invalid, TaskConflict: self._on_conflict,
            ActorRestarted: self._on_restart, BudgetThreshold: self._on_budget,
            WatcherModeChanged: self._on_watcher, SecurityWarning: self._on_security,
            TelemetryChanged: lambda event: self._costs_stale.set(),
        }

    # ------------------------------------------------------------------ running

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self._bus.subscribe("dashboard", self._bus_buffer) as subscription:
            self._seed_from_sources()
            await self._seed_from_queue(first=not self._seeded)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._follow_bus, subscription)
                nursery.start_soon(self._sample_queue)
                nursery.start_soon(self._follow_costs)
                self._answering = True
                task_status.started()
                try:
                    async for message in self._mailbox:
                        self._handle(message)
                finally:
                    self._answering = False

    def read_snapshot(self) -> dict[str, Any] | None:
        """Read-only: the snapshot a ``GetDashboardSnapshot`` would be answered with now, without
        the round trip (the live dashboard reads it on every change); None while the actor
        (re)starts and seeds itself."""
        return self.snapshot() if self._answering else None

    def _handle(self, message: Any) -> None:
        if not isinstance(message, Request):
            log.warning("dashboard ignored an unexpected message %r", type(message).__name__)
        elif isinstance(message.body, GetDashboardSnapshot):
            reply(message, self.snapshot())
        elif isinstance(message.body, GetHealth):
            reply(message, self.health_report())
        else:
            reply(message, TypeError(f"the dashboard does not answer {type(message.body).__name__}"))

    async def _follow_bus(self, subscription: Any) -> None:
        async for event in subscription:
            if isinstance(event, Resync):
                log.info("dashboard fell %d events behind; re-reading the board", event.missed)
                await self._seed_from_queue(first=False)
            else:
                self.apply(event)

    async def _sample_queue(self) -> None:
        while True:
            self._queue_samples.append(self._board.queued)
            self._dirty.add("health")
            await trio.sleep(self._queue_check_interval)

    async def _follow_costs(self) -> None:
        while True:
            ask_telemetry = self._ask_telemetry
            if ask_telemetry is not None:
                try:
                    self._stats = await ask_telemetry(GetStats())
                    self._dirty.update(("costs", "health"))
                except Exception as error:
                    log.debug("no stats from telemetry: %s", error)
            with trio.move_on_after(self._costs_refresh):
                await self._costs_stale.wait()
            self._costs_stale = trio.Event()
            await trio.sleep(0.2)  # one refresh for a burst of writes

    # ------------------------------------------------------------------ seeding

    def _seed_from_sources(self) -> None:
        """What happened before this dashboard subscribed (hub start-up, or its own restart)."""
        now, wall = trio.current_time(), time.time()
        for actor in self._sources.actors():
            at = actor.last_restart_at
            if at is not None and wall - at <= health.RESTART_WINDOW:
                self._restarts[actor.name] = (now - (wall - at), actor.restarts)
            if actor.recent_crashes:
                self._crashes[actor.name] = deque((now - (wall - crash) for crash in actor.recent_crashes),
                                                  maxlen=health.CRASH_LOOP_CRASHES)
                self._crash_errors[actor.name] = actor.last_error or "unknown error"
        watcher = self._sources.watcher()
        forced = watcher.reason == POLLING_FORCED
        self._watcher_fallback = watcher.reason if watcher.mode == "polling" and not forced else None
        self._dirty.add("health")

    async def _seed_from_queue(self, *, first: bool) -> None:
        """Board counts and agents from the queue (whole tables, replacing what was kept)."""
        try:
            view = await self._ask_queue(ListTasks())
        except Exception as error:
            log.warning("dashboard could not read the board: %s", error)
        else:
            self._board.reset(view, trio.current_time())
            if first:
                self._refill_history(view)
            self._seeded = True
            self._dirty.update(SECTIONS)
        try:
            agents = await self._ask_queue(ListAgents())
        except Exception as error:
            log.debug("dashboard could not list agents: %s", error)
            return
        self._agents.reset(agents, trio.current_time(), time.time(), health.AGENT_OFFLINE_WINDOW)
        self._dirty.update(("agents", "health"))

    def _refill_history(self, view: BoardView) -> None:
        """After a hub start, the recent completions and the last hour's attempts from the files."""
        if not self._completions:
            self._completions.extend(completion_from_file(task) for task in view.done[:RECENT_COMPLETIONS])
        if not len(self._hour):
            now, wall = trio.current_time(), time.time()
            tasks = (*view.inbox, *view.assigned, *view.done, *view.dead)
            for finished_ms, ok, duration_ms, tokens in finished_attempts(tasks, int((wall - HOUR) * 1000)):
                self._hour.add(now - (wall - finished_ms / 1000), ok=ok, duration_ms=duration_ms,
                               tokens=tokens)

    # ------------------------------------------------------------------ events

    def apply(self, event: Event) -> None:
        """Fold one bus event into the state (public so tests and benchmarks can feed it directly)."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)
        task = getattr(event, "task", None)
        if isinstance(task, Task) and not isinstance(event, TaskRemoved):
            self._upsert(task)

    def _upsert(self, task: Task) -> None:
        was_dead = task.id in self._board.dead
        if self._board.upsert(task, trio.current_time()):
            self._dirty.update(("queue", "health"))
            if was_dead or task.lane == "dead":  # the dead-letter table sorts every dead task
                self._dirty.add("dead_letter_tasks")

    def _on_removed(self, event: TaskRemoved) -> None:
        was_dead = event.task.id in self._board.dead
        if self._board.remove(event.task.id):
            self._dirty.update(("queue", "health"))
            if was_dead:
                self._dirty.add("dead_letter_tasks")

    def _on_assigned(self, event: TaskAssigned) -> None:
        self._board.alive(event.task.id, trio.current_time())

    def _on_progress(self, event: TaskProgress | ExecutionEvent) -> None:
        self._board.alive(event.task_id, trio.current_time())

    def _on_output(self, event: ExecutionEvent) -> None:
        self._on_progress(event)
        self._runs.output(event)
        self._dirty.add("running")

    def _on_released(self, event: Any) -> None:
        """The attempt ended (done, failed, reclaimed, removed): no agent holds the task now."""
        task_id = event.task.id if getattr(event, "task", None) is not None else event.task_id
        if self._runs.forget(task_id):
            self._dirty.add("running")
        if self._agents.release(task_id):
            self._dirty.add("agents")

    def _on_completed(self, event: TaskCompleted) -> None:
        self._on_released(event)
        self._completions.appendleft(completion_entry(event))
        self._hour.add(trio.current_time(), ok=True, duration_ms=event.duration_ms,
                       tokens=tokens_of(event.result))
        self._dirty.update(("recent_completions", "throughput", "health"))

    def _on_failed(self, event: TaskRetried | TaskDeadLettered) -> None:
        self._on_released(event)
        self._hour.add(trio.current_time(), ok=False, tokens=tokens_of(event.result))
        self._dirty.update(("throughput", "health"))

    def _on_invalid(self, event: TaskInvalid) -> None:
        if event.invalid is None:
            self._board.invalid.discard(event.path)
        else:
            self._board.invalid.add(event.path)
        self._dirty.add("health")

    def _on_conflict(self, event: TaskConflict) -> None:
        self._board.invalid.update(event.paths[1:])
        self._dirty.add("health")

    def _on_agent_joined(self, event: AgentJoined) -> None:
        self._agents.joined(event.agent_id, event.name, event.capabilities, event.at)
        self._dirty.update(("agents", "health"))

    def _on_agent_left(self, event: AgentLeft) -> None:
        self._agents.set_state(event.agent_id, "offline", None, event.at, trio.current_time())
        self._dirty.update(("agents", "health"))

    def _on_agent_state(self, event: AgentStateChanged) -> None:
        self._agents.set_state(event.agent_id, event.state, event.task_id, event.at, trio.current_time())
        self._dirty.update(("agents", "health"))

    def _on_restart(self, event: ActorRestarted) -> None:
        now = trio.current_time()
        self._restarts[event.name] = (now, event.restarts)
        self._crashes.setdefault(event.name, deque(maxlen=health.CRASH_LOOP_CRASHES)).append(now)
        self._crash_errors[event.name] = event.error
        self._dirty.add("health")

    def _on_budget(self, event: BudgetThreshold) -> None:
        name = event.period if event.scope == "hub" else f"{event.scope} {event.period}"
        self._budget_levels[name] = (event.level, event.spent, event.budget,
                                             _period_key(event.period, event.at))
        self._dirty.add("health")

    def _on_watcher(self, event: WatcherModeChanged) -> None:
        self._watcher_fallback = event.reason if event.mode == "polling" else None
        self._dirty.add("health")

    def _on_security(self, event: SecurityWarning) -> None:
        if event.message not in self._security:
            self._security = [*self._security, event.message][-20:]
            self._dirty.add("health")

    # ------------------------------------------------------------------ the snapshot

    def snapshot(self) -> dict[str, Any]:
        """The whole snapshot, JSON-ready. Parts are shared between callers: never mutate them."""
        now = trio.current_time()
        self._housekeep(now)
        if now >= self._health_until:
            self._dirty.add("health")
        for name in SECTIONS:
            if name in self._dirty:
                self._sections[name] = getattr(self, f"_build_{name}")(now)
        self._dirty.clear()
        wall = time.time()
        return {"uptime_ms": int((wall - self._started_at) * 1000), "timestamp": epoch_ms(wall),
                **self._sections}

    def _housekeep(self, now: float) -> None:
        if self._hour.expire(now):
            self._dirty.update(("throughput", "health"))
        if self._agents.prune(now, health.AGENT_OFFLINE_WINDOW):
            self._dirty.update(("agents", "health"))

    def conditions(self, now: float) -> list[health.Condition]:
        return [
            *health.agents_offline(self._agents.offline_since, now),
            *health.queue_growing(self._queue_samples),
            *health.stuck_tasks(self._board.activity, now),
            *health.failure_rate(self._hour.completed, self._hour.failed),
            *health.budget_thresholds(self._budget_now()),
            *health.invalid_files(self._board.invalid),
            *health.actor_crash_loops(self._crashes, self._crash_errors, now),
            *health.actor_restarts(self._restarts, now, looping=health.looping_actors(self._crashes, now)),
            *health.watcher_polling("polling" if self._watcher_fallback is not None else None,
                                    self._watcher_fallback or ""),
            *health.security_warnings(self._security),
        ]

    def _budget_now(self) -> dict[str, tuple[int, float, float]]:
        """This period's budget levels: from threshold events, and from the stats (which outlive them)."""
        wall = time.time()
        levels = {period: (level, spent, budget)
                  for period, (level, spent, budget, key) in self._budget_levels.items()
                  if key == _period_key(period, wall)}
        budget = self._stats.budget if self._stats is not None else {}
        for period, status in budget.items():
            if (isinstance(status, dict) and status.get("level") in ("warning", "critical")
                    and status.get("period_key", _period_key(period, wall)) == _period_key(period, wall)):
                level = 100 if status["level"] == "critical" else 80
                if level >= levels.get(period, (0, 0.0, 0.0))[0]:
                    levels[period] = (level, float(status.get("spent_usd") or 0.0),
                                      float(status.get("budget_usd") or 0.0))
        return levels

    def health_report(self) -> HealthReport:
        """``/health``: the snapshot's own health part (rebuilt only if due) and each part's status."""
        now = trio.current_time()
        self._housekeep(now)
        if now >= self._health_until or "health" in self._dirty:
            self._sections["health"] = self._build_health(now)
            self._dirty.discard("health")
        part = self._sections["health"]
        return HealthReport(status=part["status"], conditions=tuple(part["conditions"]),
                            uptime_s=round(time.time() - self._started_at, 3), started_at=self._started_at,
                            actors=tuple(self._sources.actors()), watcher=self._sources.watcher(),
                            telemetry=self._sources.telemetry(), broker=self._sources.broker())

    def _build_health(self, now: float) -> dict[str, Any]:
        self._health_until = now + self._health_ttl
        conditions = self.conditions(now)
        return {"status": health.status_of(conditions), "conditions": [c.text() for c in conditions],
                "condition_tasks": [list(c.task_ids) for c in conditions]}

    def _build_running(self, now: float) -> dict[str, dict[str, Any]]:
        return self._runs.json()

    def _build_agents(self, now: float) -> list[dict[str, Any]]:
        return self._agents.json()

    def _build_queue(self, now: float) -> dict[str, Any]:
        return self._board.queue_json()

    def _build_dead_letter_tasks(self, now: float) -> list[dict[str, Any]]:
        return self._board.dead_letter_json(DEAD_LETTER_SHOWN)

    def _build_recent_completions(self, now: float) -> list[dict[str, Any]]:
        return list(self._completions)

    def _build_throughput(self, now: float) -> dict[str, Any]:
        return self._hour.json()

    def _build_costs(self, now: float) -> dict[str, Any]:
        config = self._config
        return costs_json(self._stats, config.budget_daily, config.budget_monthly)


def _period_key(period: str, wall: float) -> str:
    return time.strftime("%Y-%m" if period == "monthly" else "%Y-%m-%d", time.localtime(wall))
