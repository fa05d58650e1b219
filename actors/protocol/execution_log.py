"""The execution log actor: the recent live output of each task, so a panel opened late sees it all.

Keeps the last 256 KiB of output per task (its latest attempt only: a new assignment starts a
fresh log) for a bounded number of tasks, oldest dropped first.
"""

from __future__ import annotations

import collections

import trio

from agentdeck.actors.bus import EventBus
from agentdeck.actors.mailbox import reply
from agentdeck.actors.messages import ExecutionEvent, GetOutput, Request, TaskAssigned

MAX_BYTES_PER_TASK = 256 * 1024
MAX_TASKS = 500


class _TaskLog:
    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.events: collections.deque[ExecutionEvent] = collections.deque()
        self.size = 0

    def add(self, event: ExecutionEvent) -> None:
        self.events.append(event)
        self.size += len(event.text.encode("utf-8", "replace")) + 16
        while self.size > MAX_BYTES_PER_TASK and len(self.events) > 1:
            dropped = self.events.popleft()
            self.size -= len(dropped.text.encode("utf-8", "replace")) + 16


class ExecutionLog:
    def __init__(self, bus: EventBus, mailbox: trio.MemoryReceiveChannel) -> None:
        self._bus = bus
        self._mailbox = mailbox
        self._logs: collections.OrderedDict[str, _TaskLog] = collections.OrderedDict()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self._bus.subscribe("execution-log", buffer=8192) as events:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._answer)
                task_status.started()
                async for event in events:
                    if isinstance(event, ExecutionEvent):
                        self._log_for(event.task_id, event.generation).add(event)
                    elif isinstance(event, TaskAssigned):
                        self._log_for(event.task.id, event.generation)

    def _log_for(self, task_id: str, generation: int) -> _TaskLog:
        log = self._logs.get(task_id)
        if log is None or generation > log.generation:
            log = self._logs[task_id] = _TaskLog(generation)
        self._logs.move_to_end(task_id)
        while len(self._logs) > MAX_TASKS:
            self._logs.popitem(last=False)
        return log

    async def _answer(self) -> None:
        async for request in self._mailbox:
            if isinstance(request, Request) and isinstance(request.body, GetOutput):
                log = self._logs.get(request.body.task_id)
                reply(request, tuple(log.events) if log is not None else ())
            elif isinstance(request, Request):
                reply(request, TypeError(f"the execution log does not answer {type(request.body).__name__}"))
