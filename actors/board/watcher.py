"""The watcher actor: turns changes under work/collaboration/ into parsed ``FilesChanged`` batches.

The hub starts it before the queue reads the board, so every change from then on is reported
(``first_scan_follows``); a watcher started after a scan (and any restart) asks the queue to scan
again once its notifier is set up (cheap: the scan cache spares unchanged files), so nothing changed
in between is missed. Changes come from the kernel's inotify
queue read on the event loop (``notify.py``); a batch of a few files is read right there (a 1 KB file
costs less than a hop to a worker thread), bigger batches in a worker thread.
A file seen empty or unparseable is read again a few times with backoff before it is reported invalid: a writer
caught half way never costs a task its create event. If native notifications cannot be set up (too
many inotify watches, an exotic filesystem) it falls back to polling and says so on the bus.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path

import trio

from agentdeck.actors.board.changes import Change, ChangeSource
from agentdeck.actors.board.portable_notify import native_notifier
from agentdeck.actors.board.scan_cache import FileKey, file_key
from agentdeck.actors.board.taskfile import Incomplete, is_safe_name, lane_of, read_task_file, task_entries
from agentdeck.actors.bus import EventBus
from agentdeck.actors.messages import (
    LANES,
    FileGone,
    FileRead,
    FilesChanged,
    InvalidTaskFile,
    RescanRequested,
    WatcherModeChanged,
)
from agentdeck.actors.replies import POLLING_FORCED, WatcherStatus

log = logging.getLogger("agentdeck.watcher")

ROOT_RECHECK_SECONDS = 0.2
INLINE_READS = 4  # a batch this small is read on the event loop: a thread hop costs more than it
REREAD_DELAYS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32)


class Watcher:
    def __init__(
        self,
        root: Path,
        queue: trio.MemorySendChannel,
        bus: EventBus,
        *,
        force_polling: bool = False,
        poll_delay_ms: int = 100,
        notifier: Callable[[Path], ChangeSource] | None = None,
        first_scan_follows: bool = False,
    ) -> None:
        self.root = root.resolve()
        self._notifier = notifier or native_notifier(sys.platform)
        self._queue = queue
        self._bus = bus
        self._force_polling = force_polling
        self._poll_delay_ms = poll_delay_ms
        self.mode = "polling" if force_polling else "native"
        self.mode_reason = POLLING_FORCED if force_polling else ""
        self._rereading: set[str] = set()
        self._logged_invalid: dict[str, str] = {}  # path -> the error last logged for it
        # the queue reads the board after this watcher first starts: its scan is the catch-up
        self._starts = 0
        self._first_scan_follows = first_scan_follows
        self._rescan_reason = ""  # set when changes may have been missed: rescan once watching

    def status(self) -> WatcherStatus:
        return WatcherStatus(self.mode, self.mode_reason)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for lane in ("inbox", "assigned", "done", "dead"):
            (self.root / lane).mkdir(exist_ok=True)
        async with trio.open_nursery() as nursery:
            stop = trio.Event()
            try:
                if self._force_polling:
                    baseline = await trio.to_thread.run_sync(self._snapshot)
                    nursery.start_soon(self._poll, stop, nursery, baseline)
                else:
                    await nursery.start(self._watch, stop, nursery)
                # Whatever changed before this moment, with no scan still to come, is caught up
                # by a rescan; thanks to the scan cache it re-parses only the files that changed.
                if self._starts or not self._first_scan_follows:
                    reason = "watcher restarted" if self._starts else "catching up after the start-up scan"
                    await self._queue.send(RescanRequested(reason))
                self._starts += 1
                task_status.started()
                await trio.sleep_forever()
            finally:
                stop.set()

    async def _watch(self, stop: trio.Event, nursery: trio.Nursery,
                     task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Native watching, started once the notifier is set up (or polling instead)."""
        while not stop.is_set():
            try:
                notifier = self._notifier(self.root)
            except OSError as error:
                task_status.started()
                await self._fall_back_to_polling(stop, nursery, error)
                return
            task_status.started()
            task_status = trio.TASK_STATUS_IGNORED
            with notifier:
                if await self._watch_until_root_gone(notifier, nursery):
                    return
            log.warning("the board directory %s was removed; watching again once it is back", self.root)
            self._rescan_reason = "the board directory came back"
            while not self.root.is_dir():
                with trio.move_on_after(ROOT_RECHECK_SECONDS):
                    await stop.wait()
                if stop.is_set():
                    return

    async def _fall_back_to_polling(self, stop: trio.Event, nursery: trio.Nursery, error: BaseException) -> None:
        self.mode, self.mode_reason = "polling", f"native watching failed: {error}"
        log.warning("falling back to polling: %s", error)
        self._bus.publish(WatcherModeChanged(mode="polling", reason=self.mode_reason))
        baseline = await trio.to_thread.run_sync(self._snapshot)
        await self._queue.send(RescanRequested("watcher fell back to polling"))
        await self._poll(stop, nursery, baseline)

    async def _watch_until_root_gone(self, notifier: ChangeSource, nursery: trio.Nursery) -> bool:
        """Returns False when the board directory itself was removed (its notifications die
        with it); runs until cancelled otherwise."""
        root = str(self.root)
        if self._rescan_reason:
            nursery.start_soon(self._queue.send, RescanRequested(self._rescan_reason))
            self._rescan_reason = ""
        async with aclosing(notifier.batches()) as batches:
            async for batch in batches:
                if notifier.take_overflow():
                    await self._queue.send(RescanRequested("the kernel's change queue overflowed"))
                await self._handle(batch, nursery)  # an error of our own crashes the actor (supervised)
                if any(change == Change.deleted and raw == root for change, raw in batch):
                    return False
        return True

    async def _poll(self, stop: trio.Event, nursery: trio.Nursery, known: dict[str, FileKey]) -> None:
        """Polling fallback: compare every task file's inode, size, mtime and ctime each round
        (a poller comparing modification times in whole seconds would miss a file edited twice
        within a second)."""
        delay = self._poll_delay_ms / 1000
        while not stop.is_set():
            with trio.move_on_after(delay):
                await stop.wait()
            if stop.is_set():
                return
            started = trio.current_time()
            current = await trio.to_thread.run_sync(self._snapshot)
            # a huge board is polled less often rather than keeping a core busy
            delay = max(self._poll_delay_ms / 1000, 4 * (trio.current_time() - started))
            changed = [path for path in known.keys() | current.keys() if known.get(path) != current.get(path)]
            known = current
            if changed:
                await self._handle({(Change.modified, str(self.root / path)) for path in changed},
                                   nursery)

    def _snapshot(self) -> dict[str, FileKey]:
        snapshot: dict[str, FileKey] = {}
        for relpath, _, entry in task_entries(self.root):
            try:
                snapshot[relpath] = file_key(entry.stat(follow_symlinks=False))
            except OSError:
                continue
        return snapshot

    def _classify(self, batch: set[tuple[Change, str]]) -> tuple[dict[str, None], list[str], bool]:
        """Task files, new directories, and whether a lane directory went (resolving paths touches the disk)."""
        paths: dict[str, None] = {}  # ordered and deduplicated
        new_dirs: list[str] = []
        lane_dir_gone = False
        for change, raw in batch:
            relpath = board_relpath(raw, self.root)
            if relpath is None:
                continue
            if lane_of(relpath) is not None:
                paths[relpath] = None
            elif change == Change.added:
                new_dirs.append(relpath)
            elif change == Change.deleted and _is_lane_dir(relpath):
                lane_dir_gone = True
        return paths, new_dirs, lane_dir_gone

    async def _handle(self, batch: set[tuple[Change, str]], nursery: trio.Nursery) -> None:
        if len(batch) <= INLINE_READS:
            paths, new_dirs, lane_dir_gone = self._classify(batch)
        else:
            paths, new_dirs, lane_dir_gone = await trio.to_thread.run_sync(self._classify, batch)
        if lane_dir_gone:
            # the files under a removed or renamed directory are not reported one by one
            await self._queue.send(RescanRequested("a lane directory was removed or renamed"))
        if not paths and not new_dirs:
            return
        if new_dirs:
            # a file moved into a directory made a moment ago can land before the directory is watched
            found = await trio.to_thread.run_sync(self._task_files_in, new_dirs)
            paths.update(dict.fromkeys(found))
        if len(paths) <= INLINE_READS:
            results, retry = self._read_all(list(paths))
        else:
            results, retry = await trio.to_thread.run_sync(self._read_all, list(paths))
        for outcome in results:
            self._log_invalid(outcome)
        if results:
            await self._queue.send(FilesChanged(tuple(results)))
        for relpath in retry:
            if relpath not in self._rereading:
                self._rereading.add(relpath)
                nursery.start_soon(self._reread, relpath)

    def _task_files_in(self, new_dirs: list[str]) -> list[str]:
        return [relpath for rel_dir in new_dirs for relpath in self._task_files_under(rel_dir)]

    def _read_all(self, paths: list[str]) -> tuple[list[FileRead | FileGone], list[str]]:
        results: list[FileRead | FileGone] = []
        retry: list[str] = []
        for relpath in paths:
            if relpath in self._rereading:
                continue
            try:
                read = read_task_file(self.root, relpath)
            except FileNotFoundError:
                results.append(FileGone(relpath))
                continue
            except Incomplete:
                retry.append(relpath)
                continue
            except OSError as error:
                read = FileRead(relpath, None, InvalidTaskFile(relpath, f"unreadable: {error}"))
            if read.invalid is not None and "byte limit" not in read.invalid.error:
                retry.append(relpath)
            else:
                results.append(read)
        return results, retry

    def _task_files_under(self, rel_dir: str) -> list[str]:
        """Task files in a newly seen directory (lanes nest at most two levels deep)."""
        found: list[str] = []
        top = self.root / rel_dir
        if not _is_lane_dir(rel_dir) or not top.is_dir() or top.is_symlink():
            return found
        for dirpath, dirnames, filenames in os.walk(top):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            if rel.count("/") >= 1:
                dirnames.clear()
            found.extend(f"{rel}/{name}" for name in sorted(filenames) if lane_of(f"{rel}/{name}"))
        return found

    async def _reread(self, relpath: str) -> None:
        """Read a file that looked half written again until it parses or stays invalid."""
        try:
            outcome: FileRead | FileGone | None = None
            for delay in REREAD_DELAYS:
                await trio.sleep(delay)
                try:
                    outcome = await trio.to_thread.run_sync(read_task_file, self.root, relpath)
                except FileNotFoundError:
                    outcome = FileGone(relpath)
                except Incomplete as error:
                    outcome = FileRead(relpath, None, InvalidTaskFile(relpath, str(error)))
                    continue
                except OSError as error:
                    outcome = FileRead(relpath, None, InvalidTaskFile(relpath, f"unreadable: {error}"))
                if isinstance(outcome, FileGone) or outcome.invalid is None:
                    break
            if outcome is not None:
                self._log_invalid(outcome)
                await self._queue.send(FilesChanged((outcome,)))
        finally:
            self._rereading.discard(relpath)

    def _log_invalid(self, outcome: FileRead | FileGone) -> None:
        """Log an invalid file once per distinct error, not on every save of the same bad text."""
        error = outcome.invalid.error if isinstance(outcome, FileRead) and outcome.invalid else None
        if error is None:
            self._logged_invalid.pop(outcome.path, None)
        elif self._logged_invalid.get(outcome.path) != error:
            self._logged_invalid[outcome.path] = error
            log.warning("invalid task file %s: %s", outcome.path, error)


def board_relpath(raw: str, root: Path) -> str | None:
    """``raw`` as a path on the board (``inbox/t1.yaml``) given the resolved ``root``; None when it
    is not under it.

    A path the notifier or the poller built from the board's own directories (the root, then
    names, no ``.`` or ``..`` steps) is taken as it is written: resolving it would stat every step
    of the path on every change. Any other spelling is resolved. Links are refused where files
    are read (``read_task_file``), as in a scan."""
    prefix = str(root) + os.sep
    if raw.startswith(prefix):
        parts = raw[len(prefix):].split(os.sep)
        if all(part not in ("", ".", "..") for part in parts):
            return "/".join(parts)
    try:
        return Path(raw).resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def _is_lane_dir(relpath: str) -> bool:
    """``inbox``, ``assigned``, ``assigned/<agent>`` and the like: directories that hold tasks."""
    parts = relpath.split("/")
    if len(parts) == 1:
        return parts[0] in LANES
    return len(parts) == 2 and parts[0] in ("assigned", "done") and is_safe_name(parts[1])
