"""The queue actor: owns the board and the agents' assignments, and is the only writer of task files.

Its mailbox takes file batches from the watcher, rescan requests, its own timer ticks, and
``Request``s (queries and commands) from the web layer and the agent sessions. Every change it
learns of or makes becomes events on the bus. After anything that could free an agent or a task it
runs the scheduler, so work is handed out the moment it can be.

Moves are committed in groups: the queue takes every message already waiting, handles them one by
one against its board in memory (staging each move), then makes all their moves durable at once
(one journal fsync, see ``BoardStore``) and only then lets out what they said (replies, frames to
agents, events: ``AfterCommit``). While one batch is committed the next one gathers in the mailbox,
so the busier the queue, the more moves share one fsync.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import time
from typing import Any

import trio

from agentdeck.actors.board.board import Board
from agentdeck.actors.board.store import BoardStore, MoveBatch, PathEscape
from agentdeck.actors.board.taskfile import Incomplete, dump_task, parse_task, read_task_file, scan_board
from agentdeck.actors.bus import EventBus
from agentdeck.actors.config import HubConfig
from agentdeck.actors.mailbox import reply
from agentdeck.actors.messages import (
    AgentConnect,
    AgentDisconnect,
    AgentSaid,
    BoardView,
    BoardWriteFailed,
    CancelTask,
    FileGone,
    FileRead,
    FilesChanged,
    GetTask,
    ListAgents,
    ListTasks,
    OutputSeen,
    Request,
    RescanRequested,
    RetryTask,
    Task,
    Tick,
    WhyWaiting,
)
from agentdeck.actors.queue.after_commit import AfterCommit
from agentdeck.actors.queue.coordinator import Coordinator

MAX_WHY_WAITING = 1000  # tasks one WhyWaiting query may ask about
TOUCHED_SECONDS = 60.0  # how long a file the queue wrote is re-read when the watcher reports it
CHANGE_BACKLOG = 10_000  # messages that change something, waiting to be applied in order
READS = (ListTasks, GetTask, ListAgents, WhyWaiting)  # answered from the board at once, never behind changes
MAX_BATCH = 500  # messages handled before their moves are committed together
CHECKPOINT_SECONDS = 1.0  # how often the files of committed batches are synced and their journals dropped

log = logging.getLogger("agentdeck.queue")


class TaskQueue:
    def __init__(self, config: HubConfig, store: BoardStore, bus: EventBus,
                 mailbox: trio.MemoryReceiveChannel, ticks: trio.MemorySendChannel) -> None:
        self.root = config.board_dir.resolve()
        self._scan_cache = config.state_dir / "scan-cache.json"
        self._store = store
        self._mailbox = mailbox
        self._ticks = ticks
        self._tick_seconds = config.deadline_check
        self._board = Board()
        self._effects = AfterCommit(bus)
        self._batch = MoveBatch()
        self._coordinator = Coordinator(config, self._board, self._effects, self._write)
        self._view: BoardView | None = None
        # changes waiting to be applied in order; kept here so a restart of the actor keeps them
        self._changes_in, self._changes_out = trio.open_memory_channel[Any](CHANGE_BACKLOG)
        self._touched: dict[str, float] = {}  # paths the queue wrote to or moved from, and when
        self.repairs: list[str] = []
        self._answering = False  # run() answers reads: the board is recovered and scanned

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # after a crash of this actor: what was staged and not committed never happened
        self._answering = False
        self._store.discard(self._batch)
        self._effects.drop()
        self.repairs = await trio.to_thread.run_sync(self._store.recover)
        await self._rescan()
        self._coordinator.adopt_assigned()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._tick)
                nursery.start_soon(self._checkpoints)
                nursery.start_soon(self._apply_in_order, self._changes_out)
                self._answering = True
                task_status.started()
                async for message in self._mailbox:
                    if isinstance(message, Request) and isinstance(message.body, READS):
                        # answered at once from the board as it is between two changes: a query
                        # never waits behind a backlog of moves
                        reply(message, await self._answer_or_error(message.body))
                    else:
                        await self._changes_in.send(message)
        finally:
            self._answering = False
            with trio.CancelScope(shield=True):  # a clean stop leaves no journal to replay
                await trio.to_thread.run_sync(self._store.checkpoint)

    def read(self, body: ListTasks | WhyWaiting) -> Any:
        """Read-only: what the mailbox would answer ``body`` with now, without the round trip (the
        live dashboard reads the board on every change); None while the actor (re)starts, when
        only its mailbox knows when it answers again. Like the mailbox, it answers from the board
        as it is between two changes."""
        if not self._answering:
            return None
        if isinstance(body, ListTasks):
            return filter_view(self.view(), body)
        return self._coordinator.why_waiting(body.task_ids[:MAX_WHY_WAITING])

    async def _apply_in_order(self, messages: trio.MemoryReceiveChannel) -> None:
        async for first in messages:
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(messages.receive_nowait())
                except trio.WouldBlock:
                    break
            for message in batch:
                await self._handle(message)
            if any(self._worth_scheduling(message) for message in batch) and any(
                    agent.state == "idle" and agent.connected
                    for agent in self._coordinator.agents.values()):
                await self._coordinator.schedule(list(self.view().inbox))
            await self._commit()

    async def _commit(self) -> None:
        """Make the staged moves durable, then let out everything said since they were staged.
        If that fails, none of them happened: nothing held is said, and the actor restarts from
        the disk (recovery, then a rescan)."""
        if len(self._batch):
            try:
                await trio.to_thread.run_sync(self._store.commit, self._batch)
            except BaseException:
                self._effects.drop()
                raise
        self._effects.release()

    async def _checkpoints(self) -> None:
        while True:
            await trio.sleep(CHECKPOINT_SECONDS)
            if self._store.unsynced:
                try:
                    await trio.to_thread.run_sync(self._store.checkpoint)
                except OSError as error:  # kept, and tried again: the journals still hold the moves
                    log.error("could not sync the board's files: %s", error)

    async def _tick(self) -> None:
        while True:
            await trio.sleep(self._tick_seconds)
            with contextlib.suppress(trio.WouldBlock):
                self._ticks.send_nowait(Tick())

    @staticmethod
    def _worth_scheduling(message: Any) -> bool:
        if isinstance(message, Request):
            body = message.body
            return not isinstance(body, (*READS, OutputSeen))
        return True

    async def _handle(self, message: Any) -> None:
        if isinstance(message, FilesChanged):
            # a file a staged move writes or removes is, once committed, as the board has it now
            # (the queue is its only writer): what the watcher read there is already out of date
            changes = await self._without_stale_echoes(
                tuple(change for change in message.changes if not self._batch.touches(change.path)))
            self._publish(self._board.apply_batch(changes))
        elif isinstance(message, RescanRequested):
            log.info("rescanning the board: %s", message.reason)
            await self._commit()
            await self._rescan()
        elif isinstance(message, Tick):
            now = trio.current_time()
            self._touched = {p: t for p, t in self._touched.items() if now - t < TOUCHED_SECONDS}
            await self._coordinator.check_deadlines()
        elif isinstance(message, Request):
            answer = await self._answer_or_error(message.body)
            self._effects.later(functools.partial(reply, message, answer))
        else:
            log.warning("queue ignored an unexpected message %r", type(message).__name__)

    async def _without_stale_echoes(self, changes: tuple) -> tuple:
        """The watcher's changes, with files the queue wrote lately as they are now.

        The queue may have written a file since the watcher read it: applied late, that reading
        would undo the queue's own write (an old generation over a new one, a copy of a task that
        moved on, or a task "gone" from the lane it was just moved back to). The queue is the only
        writer, so the disk now is at least as new as the board. Other files (people's edits, a
        bulk copy) are applied as read, without a second read.
        """
        if not any(change.path in self._touched for change in changes):
            return changes
        # the echo of a write the board already has changes nothing: not read a second time
        changes = tuple(change for change in changes
                        if change.path not in self._touched or not self._board.shows(change))
        if not any(change.path in self._touched for change in changes):
            return changes
        return tuple(await trio.to_thread.run_sync(self._as_on_disk_now, changes))

    def _as_on_disk_now(self, changes: tuple) -> list:
        fresh: list[FileRead | FileGone] = []
        for change in changes:
            if change.path not in self._touched:
                fresh.append(change)
                continue
            try:
                fresh.append(read_task_file(self.root, change.path))
            except FileNotFoundError:
                fresh.append(FileGone(change.path))
            except (Incomplete, OSError):  # caught half written: the watcher reports it again
                fresh.append(change)
        return fresh

    async def _rescan(self) -> None:
        files = await trio.to_thread.run_sync(scan_board, self.root, self._scan_cache)
        self._publish(self._board.apply_scan(files))

    def _publish(self, events: list) -> None:
        for event in events:
            self._effects.publish(event)

    async def _answer_or_error(self, body: Any) -> Any:
        try:
            return await self._answer(body)
        except Exception as error:
            return error

    async def _answer(self, body: Any) -> Any:
        coordinator = self._coordinator
        if isinstance(body, AgentSaid):
            return await coordinator.said(body)
        if isinstance(body, OutputSeen):
            return coordinator.output_seen(body)
        if isinstance(body, ListTasks):
            return filter_view(self.view(), body)
        if isinstance(body, GetTask):
            task = self._board.get(body.task_id)
            if task is None:
                raise KeyError(body.task_id)
            return task
        if isinstance(body, AgentConnect):
            return await coordinator.connect(body)
        if isinstance(body, AgentDisconnect):
            return await coordinator.disconnect(body)
        if isinstance(body, ListAgents):
            return [agent.json() for agent in coordinator.agents.values()]
        if isinstance(body, WhyWaiting):
            return coordinator.why_waiting(body.task_ids[:MAX_WHY_WAITING])
        if isinstance(body, RetryTask):
            task = self._board.get(body.task_id)
            if task is None or task.lane != "dead":
                return "not_found"
            return "requeued" if await coordinator.requeue(task) else "error"
        if isinstance(body, CancelTask):
            task = self._board.get(body.task_id)
            if task is None or task.lane not in ("inbox", "assigned"):
                return "not_found"
            return "cancelled" if await coordinator.cancel(task) else "error"
        raise TypeError(f"the queue does not answer {type(body).__name__}")

    async def _write(self, task: Task, dst: str, fields: dict[str, Any]) -> Task | None:
        """Stage a crash-safe move/rewrite of one task file (made durable with its batch); the
        board has it at once. On failure the task stays where it was."""
        text = dump_task(fields)
        tag = hashlib.sha1(task.id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        try:
            written = self._stage(task.path, dst, text, tag)
        except (OSError, PathEscape, ValueError, Incomplete) as error:
            log.error("could not write %s -> %s: %s", task.path, dst, error)
            self._effects.publish(BoardWriteFailed(task_id=task.id, error=str(error)))
            return None
        self._effects.hold()
        dst = written.path
        now = trio.current_time()
        self._touched[task.path] = self._touched[dst] = now
        self._board.replace(written, task.path)
        return written

    def holding(self, agent_id: str, connection_id: int, task_id: str) -> Task | None:
        """Read-only: the task if that agent's connection holds it (see ``Coordinator.holding``)."""
        return self._coordinator.holding(agent_id, connection_id, task_id)

    def _stage(self, src: str, dst: str, text: str, tag: str) -> Task:
        """The move staged into the batch, and the task as it will read. On the event loop: staging
        writes a few KB to the page cache and fsyncs nothing, cheaper than a hop to a thread."""
        dst = self._store.free_name(src, dst, tag, self._batch)
        # read back before moving: a file the board could not read would lose the task
        written = parse_task(dst, text.encode("utf-8"), time.time())
        self._store.stage(self._batch, src, dst, text)
        return written

    def view(self) -> BoardView:
        """The current board as an immutable view, made again only when the board changed; the
        board keeps its lanes sorted, so this costs a copy of the lanes that changed, no sort."""
        if self._view is None or self._view.version != self._board.version:
            board = self._board
            self._view = BoardView(
                version=board.version,
                inbox=board.in_lane("inbox"),
                assigned=board.in_lane("assigned"),
                done=board.in_lane("done"),
                dead=board.in_lane("dead"),
                invalid=tuple(board.invalid()),
            )
        return self._view


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
