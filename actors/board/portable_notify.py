"""Change notification where the kernel has no inotify (macOS, Windows): watchfiles.

watchfiles wraps each system's native API (FSEvents, kqueue, ReadDirectoryChangesW) from a thread
of its own. It shows the same shape as ``Notifier``: batches of ``(Change, absolute path)``. Its
batches are a ``step`` later than inotify's, and a rename arrives as a deleted + added pair.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from pathlib import Path

import trio
import watchfiles

from agentdeck.actors.board.changes import Change, ChangeSource

STEP_MS = 10
DEBOUNCE_MS = 200


class WatchfilesNotifier:
    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self._stop = trio.Event()

    def __enter__(self) -> WatchfilesNotifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # plain cancellation would wait for watchfiles' thread

    async def batches(self) -> AsyncGenerator[set[tuple[Change, str]], None]:
        async for changes in watchfiles.awatch(self.root, stop_event=self._stop, step=STEP_MS,
                                               debounce=DEBOUNCE_MS, recursive=True):
            yield {(Change(int(kind)), path) for kind, path in changes}

    def take_overflow(self) -> bool:
        return False  # watchfiles reports no lost changes


def native_notifier(platform: str) -> Callable[[Path], ChangeSource]:
    """The kernel's inotify on Linux (no thread, no step); watchfiles everywhere else."""
    if not platform.startswith("linux"):
        return WatchfilesNotifier
    from agentdeck.actors.board.notify import Notifier  # inotify-simple is installed on Linux only

    return Notifier
