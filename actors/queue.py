"""The queue actor: owns the board, answers queries, and is the only writer of task files.

Its mailbox takes three kinds of messages: file batches from the watcher, rescan requests, and
``Request``s (queries and commands) from the web layer and the agent sessions. Every change it
learns of becomes events on the bus.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import trio

from .board import Board, queue_order
from .board_store import BoardStore
from .bus import EventBus
from .mailbox import reply
from .messages import (
    BoardView,
    FilesChanged,
    GetTask,
    ListTasks,
    RescanRequested,
    Request,
    Task,
)
from .taskfile import scan_board

log = logging.getLogger("agentdeck.queue")


class TaskQueue:
    def __init__(self, root: Path, store: BoardStore, bus: EventBus,
                 mailbox: trio.MemoryReceiveChannel) -> None:
        self.root = root.resolve()
        self._store = store
        self._bus = bus
        self._mailbox = mailbox
        self._board = Board()
        self._view: BoardView | None = None
        self.repairs: list[str] = []

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.repairs = await trio.to_thread.run_sync(self._store.recover)
        await self._rescan()
        task_status.started()
        async for message in self._mailbox:
            await self._handle(message)

    async def _handle(self, message: Any) -> None:
        if isinstance(message, FilesChanged):
            self._publish(self._board.apply_batch(message.changes))
        elif isinstance(message, RescanRequested):
            log.info("rescanning the board: %s", message.reason)
            await self._rescan()
        elif isinstance(message, Request):
            try:
                answer = await self._answer(message.body)
            except Exception as error:  # noqa: BLE001 - the asker gets the error, the actor lives on
                answer = error
            reply(message, answer)
        else:
            log.warning("queue ignored an unexpected message %r", type(message).__name__)

    async def _rescan(self) -> None:
        files = await trio.to_thread.run_sync(scan_board, self.root)
        self._publish(self._board.apply_scan(files))

    def _publish(self, events: list) -> None:
        for event in events:
            self._bus.publish(event)

    async def _answer(self, body: Any) -> Any:
        if isinstance(body, ListTasks):
            return filter_view(self.view(), body)
        if isinstance(body, GetTask):
            task = self._board.get(body.task_id)
            if task is None:
                raise KeyError(body.task_id)
            return task
        raise TypeError(f"the queue does not answer {type(body).__name__}")

    def view(self) -> BoardView:
        """The current board as an immutable view, rebuilt only when the board changed."""
        if self._view is None or self._view.version != self._board.version:
            lanes: dict[str, list[Task]] = {"inbox": [], "assigned": [], "done": [], "dead": []}
            for task in self._board.tasks():
                lanes[task.lane].append(task)
            for tasks in lanes.values():
                tasks.sort(key=queue_order)
            self._view = BoardView(
                version=self._board.version,
                inbox=tuple(lanes["inbox"]),
                assigned=tuple(lanes["assigned"]),
                done=tuple(sorted(lanes["done"], key=_completed_order, reverse=True)),
                dead=tuple(lanes["dead"]),
                invalid=tuple(self._board.invalid()),
            )
        return self._view


def _completed_order(task: Task) -> tuple[str, float]:
    completed = task.fields.get("completed_at")
    return (str(completed) if completed else "", task.mtime)


def filter_view(view: BoardView, query: ListTasks) -> BoardView:
    """The part of a view a ``ListTasks`` query asks for."""
    if query == ListTasks():
        return view

    def keep(task: Task) -> bool:
        if query.agent is not None and query.agent not in (task.agent, task.lane_agent):
            return False
        if query.priority is not None and task.priority != query.priority:
            return False
        return query.lane is None or task.lane == query.lane

    def lane(name: str, tasks: tuple[Task, ...]) -> tuple[Task, ...]:
        if name == "done" and not query.include_done:
            return ()
        return tuple(t for t in tasks if keep(t))

    return BoardView(view.version, lane("inbox", view.inbox), lane("assigned", view.assigned),
                     lane("done", view.done), lane("dead", view.dead), view.invalid)
