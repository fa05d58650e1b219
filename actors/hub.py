"""The hub: every actor, wired to its channels, started under one supervisor.

The ``Hub`` object is also the handle the web layer holds: the web layer sends messages to actors
(``ask``) or subscribes to the bus; it never reaches into their state. The one exception is a
few read-only answers the live dashboard needs on every change (the board, why inbox tasks wait,
the dashboard snapshot): ``read_queue`` and ``read_snapshot`` give what the mailbox would answer,
without the round trip, or None while the actor restarts (then ask).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Mapping
from typing import Any

import trio

from agentdeck.actors.board.store import BoardStore
from agentdeck.actors.board.watcher import Watcher
from agentdeck.actors.bus import EventBus
from agentdeck.actors.config import HubConfig
from agentdeck.actors.dashboard.actor import DashboardState
from agentdeck.actors.dashboard.metrics import Metrics
from agentdeck.actors.fleet.publisher import Publisher
from agentdeck.actors.mailbox import ask
from agentdeck.actors.messages import GetDashboardSnapshot, GetStats, ListTasks, WhyWaiting
from agentdeck.actors.protocol.auth import TokenStore
from agentdeck.actors.protocol.execution_log import ExecutionLog
from agentdeck.actors.protocol.run_history import RunHistory
from agentdeck.actors.protocol.session import OUTPUT_SEEN_SECONDS, SessionFactory
from agentdeck.actors.queue.actor import TaskQueue
from agentdeck.actors.replies import StatusSources
from agentdeck.actors.supervisor import ActorFn, Supervisor
from agentdeck.actors.telemetry.actor import Telemetry, telemetry_store_factory

log = logging.getLogger("agentdeck.hub")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Hub:
    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.started_at = time.time()
        self.bus = EventBus()
        self.supervisor = Supervisor(self.bus)
        self.shutdown = trio.Event()
        self.addresses: list[str] = []
        config.board_dir.mkdir(parents=True, exist_ok=True)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = BoardStore(config.board_dir, config.state_dir, fsync=config.fsync)
        self.queue_mailbox, queue_inbox = trio.open_memory_channel[Any](10_000)
        self.watcher = Watcher(config.board_dir, self.queue_mailbox.clone(), self.bus,
                               force_polling=config.force_polling, first_scan_follows=True)
        self.tokens = TokenStore.in_state_dir(config.state_dir)
        self.queue = TaskQueue(config, self.store, self.bus, queue_inbox, self.queue_mailbox.clone())
        self.sessions = SessionFactory(
            self.queue_mailbox, self.tokens, self.bus, self.queue.holding,
            allow_anonymous=is_loopback(config.host),
            output_seen_every=min(OUTPUT_SEEN_SECONDS, config.stuck_timeout / 4),
            frame_rate=config.agent_frame_rate)
        self.output_mailbox, output_inbox = trio.open_memory_channel[Any](100)
        self.execution_log = ExecutionLog(self.bus, output_inbox,
                                          RunHistory(config.runs_dir, config.run_history_bytes,
                                                     config.run_history_total_bytes))
        self.dashboard_mailbox, dashboard_inbox = trio.open_memory_channel[Any](1000)
        self.metrics_mailbox, metrics_inbox = trio.open_memory_channel[Any](100)
        self.metrics = Metrics(self.bus, self.supervisor.status, metrics_inbox, self.ask_dashboard)
        self.telemetry_mailbox, telemetry_inbox = trio.open_memory_channel[Any](1000)
        self.telemetry = Telemetry(config, self.bus, telemetry_inbox, ask_queue=self.ask_queue,
                                   open_store=telemetry_store_factory(config))
        self.publisher = None if config.broker_url is None else Publisher(
            config.hub_name, config.broker_url, self.bus, self._fleet_state, self._registration,
            self.shutdown, output=config.publish_output)
        publisher = self.publisher
        sources = StatusSources(actors=self.supervisor.status, watcher=self.watcher.status,
                                telemetry=self.telemetry.health,
                                broker=publisher.status if publisher is not None else lambda: None)
        self.dashboard = DashboardState(config, self.bus, dashboard_inbox, ask_queue=self.ask_queue,
                                        ask_telemetry=self.ask_telemetry, sources=sources,
                                        started_at=self.started_at)
        self.stream_clients = self.metrics.stream_clients  # SSE / dashboard WS handlers count themselves

    async def ask_queue(self, body: Any, timeout: float = 5.0) -> Any:
        return await ask(self.queue_mailbox, body, timeout)

    async def ask_output(self, body: Any, timeout: float = 5.0) -> Any:
        return await ask(self.output_mailbox, body, timeout)

    async def ask_dashboard(self, body: Any, timeout: float = 5.0) -> Any:
        return await ask(self.dashboard_mailbox, body, timeout)

    async def ask_metrics(self, body: Any, timeout: float = 5.0) -> Any:
        return await ask(self.metrics_mailbox, body, timeout)

    async def ask_telemetry(self, body: Any, timeout: float = 5.0) -> Any:
        return await ask(self.telemetry_mailbox, body, timeout)

    def read_queue(self, body: ListTasks | WhyWaiting) -> Any:
        return self.queue.read(body)

    def read_snapshot(self) -> dict[str, Any] | None:
        return self.dashboard.read_snapshot()

    async def start_actors(self, nursery: trio.Nursery) -> None:
        """Start every actor under supervision in ``nursery``; returns once each is ready."""
        await nursery.start(self.supervisor.run, "execution_log", self.execution_log.run)
        # watching first, then the queue's one read of the board: a change during that read is
        # reported by the watcher and applied after it (its notifications ignore reads)
        await nursery.start(self.supervisor.run, "watcher", self.watcher.run)
        await nursery.start(self.supervisor.run, "queue", self.queue.run)
        await nursery.start(self.supervisor.run, "telemetry", self.telemetry.run)
        await nursery.start(self.supervisor.run, "dashboard", self.dashboard.run)
        await nursery.start(self.supervisor.run, "metrics", self.metrics.run)
        if self.publisher is not None:
            await nursery.start(self.supervisor.run, "publisher", self.publisher.run)

    async def start_supervised(self, nursery: trio.Nursery, name: str, actor: ActorFn) -> None:
        """Run a stateful task of another layer (the web's SSE broadcaster) under the same supervisor:
        restarted on a crash, counted in ``/health``, critical when it keeps crashing."""
        await nursery.start(self.supervisor.run, name, actor)

    async def _fleet_state(self, broker: Mapping[str, Any]) -> dict[str, Any]:
        """What the publisher sends as this hub's state (see ``fleet.wire.hub_state``)."""
        return {"snapshot": await self.ask_dashboard(GetDashboardSnapshot(), 2.0),
                "telemetry": (await self.ask_telemetry(GetStats(), 2.0)).json(),
                "fleet_stats": await self.ask_telemetry(GetStats("fleet"), 2.0), "broker": broker}

    def _registration(self) -> dict[str, Any]:
        return {"url": self.addresses[0] if self.addresses else None, "board": str(self.config.board_dir),
                "started_at": self.started_at}

    def stop(self) -> None:
        self.shutdown.set()
