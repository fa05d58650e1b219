"""Native change notification for the watcher: the kernel's inotify queue read on the event loop.

No thread and no polling step: the loop sleeps on the inotify descriptor, so an idle board costs
nothing and a change is seen the moment the kernel reports it. A file counts as changed when its
writer closes it (``IN_CLOSE_WRITE``) or it is moved in, moved out or deleted; a file modified or
created but not closed (a writer holding it open, a hard link) is reported once it has been quiet
for ``OPEN_WRITE_SETTLE_S``. Every directory under the root is watched, new ones as they appear
(without following symlinks). A full kernel queue (``IN_Q_OVERFLOW``) means changes were lost:
``overflowed`` tells the watcher to rescan.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import AsyncGenerator
from pathlib import Path

import trio
from inotify_simple import INotify, flags

from agentdeck.actors.board.changes import Change

OPEN_WRITE_SETTLE_S = 0.05
DIR_MASK = (flags.CLOSE_WRITE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE | flags.CREATE
            | flags.MODIFY | flags.DELETE_SELF | flags.MOVE_SELF | flags.ONLYDIR | flags.DONT_FOLLOW)


class WatchLimitReached(OSError):
    """The kernel's inotify watch limit is reached (``fs.inotify.max_user_watches``)."""


class Notifier:
    """Batches of ``(Change, absolute path)`` for everything under ``root``; raises OSError when
    the kernel refuses (no inotify, too many watches): the watcher then polls."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.overflowed = False
        self._inotify = INotify(nonblocking=True)
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._dirs: dict[int, str] = {}  # watch descriptor -> the directory's path
        self._open_writes: dict[str, float] = {}  # path -> trio time of its last modification
        try:
            self._watch_tree(self.root)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._inotify.close()

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_watch(self, path: str) -> int:
        """``inotify_add_watch`` looked up as any program would (so an interposed one applies)."""
        wd = self._libc.inotify_add_watch(self._inotify.fileno(), os.fsencode(path), ctypes.c_uint32(DIR_MASK))
        if wd < 0:
            code = ctypes.get_errno()
            if code == errno.ENOSPC:
                raise WatchLimitReached(code, "the inotify watch limit is reached "
                                              "(fs.inotify.max_user_watches)", path)
            raise OSError(code, os.strerror(code), path)
        return int(wd)

    def _watch_tree(self, top: str) -> None:
        try:
            self._dirs[self._add_watch(top)] = top
        except OSError as error:
            if top == self.root or error.errno not in (errno.ENOENT, errno.ENOTDIR):  # gone meanwhile
                raise
            return
        for entry in _subdirectories(top):
            self._watch_tree(entry)

    def _unwatch_tree(self, top: str) -> None:
        prefix = top + os.sep
        for wd, path in list(self._dirs.items()):
            if path == top or path.startswith(prefix):
                del self._dirs[wd]
                with contextlib.suppress(OSError):  # the kernel dropped it already
                    self._inotify.rm_watch(wd)

    async def batches(self) -> AsyncGenerator[set[tuple[Change, str]], None]:
        fd = self._inotify.fileno()
        while True:
            if self._open_writes:
                settle_at = min(self._open_writes.values()) + OPEN_WRITE_SETTLE_S
                with trio.move_on_at(settle_at):
                    await trio.lowlevel.wait_readable(fd)
            else:
                await trio.lowlevel.wait_readable(fd)
            batch = self._read()
            batch.update(self._settled())
            if batch or self.overflowed:
                yield batch

    def _read(self) -> set[tuple[Change, str]]:
        batch: set[tuple[Change, str]] = set()
        now = trio.current_time()
        for event in self._inotify.read(timeout=0):
            mask = event.mask
            if mask & flags.Q_OVERFLOW:
                self.overflowed = True
                continue
            if mask & flags.IGNORED:
                self._dirs.pop(event.wd, None)
                continue
            base = self._dirs.get(event.wd)
            if base is None:
                continue
            if mask & (flags.DELETE_SELF | flags.MOVE_SELF):
                if base == self.root:
                    batch.add((Change.deleted, base))
                continue
            path = os.path.join(base, event.name)
            if mask & flags.ISDIR:
                if mask & (flags.CREATE | flags.MOVED_TO):
                    self._watch_tree(path)
                    batch.add((Change.added, path))
                elif mask & (flags.DELETE | flags.MOVED_FROM):
                    self._unwatch_tree(path)
                    batch.add((Change.deleted, path))
            elif mask & (flags.CLOSE_WRITE | flags.MOVED_TO):
                self._open_writes.pop(path, None)
                batch.add((Change.added if mask & flags.MOVED_TO else Change.modified, path))
            elif mask & (flags.DELETE | flags.MOVED_FROM):
                self._open_writes.pop(path, None)
                batch.add((Change.deleted, path))
            elif mask & (flags.CREATE | flags.MODIFY):
                self._open_writes[path] = now
        return batch

    def _settled(self) -> set[tuple[Change, str]]:
        """Files modified but not closed that have been quiet long enough to read."""
        if not self._open_writes:
            return set()
        now = trio.current_time()
        quiet = [path for path, at in self._open_writes.items() if now - at >= OPEN_WRITE_SETTLE_S]
        for path in quiet:
            del self._open_writes[path]
        return {(Change.modified, path) for path in quiet}

    def take_overflow(self) -> bool:
        overflowed, self.overflowed = self.overflowed, False
        return overflowed


def _subdirectories(top: str) -> list[str]:
    try:
        with os.scandir(top) as entries:
            return [entry.path for entry in entries if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return []
