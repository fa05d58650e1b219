"""Supervision: run each actor forever, restarting it with capped exponential backoff when it raises.

An actor is an async callable taking ``task_status``; it calls ``task_status.started()`` once it is
ready (the hub waits for that on the first start only). A crash is logged with its traceback,
counted, published on the bus, and never stops the other actors. The supervisor keeps restarting;
what a run of crashes means (health turns critical) is decided by the dashboard's health rules,
from ``ActorRestarted`` events and, after the dashboard itself restarts, from ``status()``.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from agentdeck.actors.bus import EventBus
from agentdeck.actors.messages import ActorRestarted

log = logging.getLogger("agentdeck.supervisor")

ActorFn = Callable[..., Awaitable[Any]]


RECENT_CRASHES_KEPT = 10  # crash times kept per actor: enough for any crash-loop rule


@attrs.frozen
class ActorStatus:
    """One supervised actor as the supervisor sees it (what ``/health`` and the dashboard read)."""

    name: str
    restarts: int
    running: bool
    last_error: str | None
    last_restart_at: float | None  # wall clock, for people and the health view
    recent_crashes: tuple[float, ...]  # wall clock times of the last crashes, oldest first


@attrs.define
class _ActorRecord:
    name: str
    restarts: int = 0
    running: bool = False
    last_error: str | None = None
    last_restart_at: float | None = None
    crashes: deque[float] = attrs.field(factory=lambda: deque(maxlen=RECENT_CRASHES_KEPT))

    def status(self) -> ActorStatus:
        return ActorStatus(self.name, self.restarts, self.running, self.last_error, self.last_restart_at,
                           tuple(self.crashes))


class Supervisor:
    def __init__(
        self,
        bus: EventBus,
        *,
        base_delay: float = 0.05,
        max_delay: float = 5.0,
        healthy_after: float = 30.0,
    ) -> None:
        self._bus = bus
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._healthy_after = healthy_after
        self._records: dict[str, _ActorRecord] = {}

    async def run(
        self, name: str, actor: ActorFn, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        record = self._records.setdefault(name, _ActorRecord(name))
        delay = self._base_delay
        status = _StartOnce(task_status)
        while True:
            started = trio.current_time()
            record.running = True
            try:
                await actor(task_status=status)
            except Exception as error:
                record.running = False
                if trio.current_time() - started > self._healthy_after:
                    delay = self._base_delay
                record.restarts += 1
                record.last_error = describe(error)
                record.last_restart_at = time.time()
                record.crashes.append(record.last_restart_at)
                log.error("actor %s crashed (restart %d in %.2f s)", name, record.restarts, delay,
                          exc_info=error)
                self._bus.publish(ActorRestarted(name=name, restarts=record.restarts,
                                                 error=record.last_error))
                await trio.sleep(delay)
                delay = min(delay * 2, self._max_delay)
                continue
            record.running = False
            log.info("actor %s finished", name)
            return

    def status(self) -> tuple[ActorStatus, ...]:
        """Every actor started so far, in start order (a read-only copy)."""
        return tuple(record.status() for record in self._records.values())

    def restarts_since(self, wall_time: float) -> list[str]:
        return [r.name for r in self._records.values()
                if r.last_restart_at is not None and r.last_restart_at >= wall_time]


def describe(error: BaseException) -> str:
    """One line naming what went wrong; the errors inside a nursery's group, not the group."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in error.exceptions)
    return " ".join("".join(traceback.format_exception_only(error)).split())


class _StartOnce:
    """Handed to every incarnation of an actor: readiness reaches the original caller only once."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._done = False

    def started(self, value: Any = None) -> None:
        if not self._done:
            self._done = True
            self._inner.started(value)
