"""What a notifier reports: batches of ``(Change, absolute path)``, the same from every backend."""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator
from typing import Protocol


class Change(enum.IntEnum):
    added = 1
    modified = 2
    deleted = 3


class ChangeSource(Protocol):
    """What the watcher needs of a notifier (inotify's ``Notifier`` or ``WatchfilesNotifier``)."""

    def __enter__(self) -> ChangeSource: ...

    def __exit__(self, *exc: object) -> None: ...

    def batches(self) -> AsyncGenerator[set[tuple[Change, str]], None]: ...

    def take_overflow(self) -> bool: ...
