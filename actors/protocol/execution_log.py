"""The execution log actor: each task's output, live in memory and kept on disk for good.

In memory it keeps the last 256 KiB of output per task (its latest attempt only: a new assignment
starts a fresh log) for a bounded number of tasks, oldest dropped first: what a panel opened late
shows at once. Every attempt's output is also appended to the task's run history on disk
(``RunHistory``), batched every ``FLUSH_S``, so it survives a restart of the hub.
"""

from __future__ import annotations

import collections

import trio

from agentdeck.actors.bus import EventBus
from agentdeck.actors.mailbox import reply
from agentdeck.actors.messages import ExecutionEvent, GetOutput, GetRunHistory, Request, TaskAssigned
from agentdeck.actors.protocol.run_history import RunHistory

MAX_BYTES_PER_TASK = 256 * 1024
MAX_TASKS = 500
FLUSH_S = 0.25


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
    def __init__(self, bus: EventBus, mailbox: trio.MemoryReceiveChannel,
                 history: RunHistory | None = None) -> None:
        self._bus = bus
        self._mailbox = mailbox
        self._history = history
        self._logs: collections.OrderedDict[str, _TaskLog] = collections.OrderedDict()
        # output not yet on disk: (task id, generation) -> lines, consecutive tokens joined
        self._unwritten: dict[tuple[str, int], list[tuple[str, str]]] = {}
        self._disk = trio.Lock()  # one file operation at a time
        self._output_waiting = trio.Event()  # set when output is kept that is not on disk yet

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self._bus.subscribe("execution-log", buffer=8192, only=(ExecutionEvent, TaskAssigned)) as events:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._answer)
                if self._history is not None:
                    nursery.start_soon(self._flush_loop)
                task_status.started()
                try:
                    async for event in events:
                        if isinstance(event, ExecutionEvent):
                            self._log_for(event.task_id, event.generation).add(event)
                            self._keep(event)
                        elif isinstance(event, TaskAssigned):
                            self._log_for(event.task.id, event.generation)
                finally:
                    with trio.CancelScope(shield=True):
                        await self._flush()

    def _keep(self, event: ExecutionEvent) -> None:
        if self._history is None:
            return
        lines = self._unwritten.setdefault((event.task_id, event.generation), [])
        if event.event_type == "token" and lines and lines[-1][0] == "token":
            lines[-1] = ("token", lines[-1][1] + event.text)
        else:
            lines.append((event.event_type, event.text))
        self._output_waiting.set()

    async def _flush_loop(self) -> None:
        """Output goes to disk every ``FLUSH_S`` while it comes; an idle hub sleeps until it does."""
        while True:
            await self._output_waiting.wait()
            self._output_waiting = trio.Event()
            await trio.sleep(FLUSH_S)
            await self._flush()

    async def _flush(self, only: str | None = None) -> None:
        history = self._history
        if history is None or not self._unwritten:
            return
        if only is None:
            batch, self._unwritten = self._unwritten, {}
        else:
            batch = {key: self._unwritten.pop(key) for key in list(self._unwritten) if key[0] == only}

        def write() -> None:
            for (task_id, generation), lines in batch.items():
                history.append(task_id, generation, lines)

        async with self._disk:
            await trio.to_thread.run_sync(write)

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
            if not isinstance(request, Request):
                continue
            body = request.body
            if isinstance(body, GetOutput):
                log = self._logs.get(body.task_id)
                reply(request, tuple(log.events) if log is not None else ())
            elif isinstance(body, GetRunHistory) and self._history is not None:
                reply(request, await self._read(body.task_id))
            else:
                reply(request, TypeError(f"the execution log does not answer {type(body).__name__}"))

    async def _read(self, task_id: str) -> object:
        history = self._history
        assert history is not None
        try:
            await self._flush(only=task_id)
            async with self._disk:
                return await trio.to_thread.run_sync(history.read, task_id)
        except OSError as error:
            return error
