"""Making what was written to disk survive a power cut: fsync of a file or a directory, and one
``syncfs`` for a whole file system where the kernel has it (Linux), so that many files written
since the last sync cost one call, not one fsync each.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterable
from pathlib import Path


def sync_dir(directory: Path) -> None:
    """Make the names in ``directory`` (files created, renamed or removed there) durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # gone since (a lane folder emptied and removed by a person): nothing to keep
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_files(root: Path, files: Iterable[Path]) -> None:
    """Make the contents of ``files`` durable: one ``syncfs`` of the file system holding ``root``
    where the kernel offers it, else an fsync of each file still there."""
    if _syncfs(root):
        return
    for path in files:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # moved on since: its new place is synced in its own turn
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _syncfs(root: Path) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(root, os.O_RDONLY)
    try:
        if call(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), str(root))
    finally:
        os.close(fd)
    return True
