"""Crash-safe moves and rewrites of task files (blocking; the queue runs these in a worker thread).

A move-and-rewrite is journalled first: the journal entry holds the source, the destination and the
new text, so whatever instant a ``kill -9`` lands on, ``recover()`` at the next start finishes the
move. Then the new text goes to a temp file beside the destination, is fsynced and renamed over the
destination, and only then is the source removed. Temp files never end in .yaml, so the watcher and
the scanner never take them for tasks; ``recover()`` deletes any left behind.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path

log = logging.getLogger("agentdeck.store")

TMP_SUFFIX = ".agentdeck-tmp"


class PathEscape(ValueError):
    """A path built from a task or agent name would leave the board."""


class BoardStore:
    def __init__(self, root: Path, state_dir: Path, *, fsync: bool = True) -> None:
        self.root = root.resolve()
        self.journal_dir = state_dir / "journal"
        self._fsync = fsync

    def resolve(self, relpath: str) -> Path:
        """The absolute path of a board-relative path, refusing anything outside the board."""
        if "\x00" in relpath:
            raise PathEscape(f"NUL byte in path {relpath!r}")
        path = (self.root / relpath).resolve()
        if path != self.root and self.root not in path.parents:
            raise PathEscape(f"{relpath!r} is outside the board")
        return path

    def free_name(self, src: str, dst: str, tag: str) -> str:
        """``dst``, or ``<stem>-<tag>[-n].<suffix>`` beside it when another file already has that name:
        a move never replaces another task's file (two tasks named alike in two lanes met in one)."""
        if dst == src or not os.path.lexists(self.resolve(dst)):
            return dst
        folder, _, name = dst.rpartition("/")
        stem, _, suffix = name.rpartition(".")
        for attempt in range(1, 1000):
            candidate = f"{folder}/{stem}-{tag}{'' if attempt == 1 else f'-{attempt}'}.{suffix}"
            if candidate == src or not os.path.lexists(self.resolve(candidate)):
                return candidate
        raise OSError(f"no free file name for {dst}")

    def write(self, relpath: str, text: str) -> None:
        """Atomically replace (or create) one task file in place."""
        self.move(relpath, relpath, text)

    def move(self, src: str, dst: str, text: str) -> None:
        """Move ``src`` to ``dst`` with new content ``text``; atomic and recoverable."""
        src_path, dst_path = self.resolve(src), self.resolve(dst)
        entry = self._journal({"src": src, "dst": dst, "text": text})
        try:
            self._apply(src_path, dst_path, text)
        except OSError:
            # not done, and recovery must not finish it later: the task stays where it was
            entry.unlink(missing_ok=True)
            raise
        entry.unlink(missing_ok=True)

    def _apply(self, src_path: Path, dst_path: Path, text: str) -> None:
        dst_path.parent.mkdir(parents=True, exist_ok=True)
        self._atomic_write(dst_path, text.encode("utf-8"))
        if src_path != dst_path:
            src_path.unlink(missing_ok=True)
            self._sync_dir(src_path.parent)

    def _atomic_write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                if self._fsync:
                    os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._sync_dir(path.parent)

    def _journal(self, record: dict[str, str]) -> Path:
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        entry = self.journal_dir / f"{uuid.uuid4().hex}.json"
        self._atomic_write(entry, json.dumps(record).encode("utf-8"))
        return entry

    def _sync_dir(self, directory: Path) -> None:
        if not self._fsync:
            return
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def recover(self) -> list[str]:
        """Finish every journalled move and remove stray temp files; returns what was repaired."""
        repaired: list[str] = []
        if self.journal_dir.is_dir():
            for entry in sorted(self.journal_dir.glob("*.json")):
                try:
                    record = json.loads(entry.read_text("utf-8"))
                    src, dst = self.resolve(record["src"]), self.resolve(record["dst"])
                    self._apply(src, dst, record["text"])
                    repaired.append(f"finished move {record['src']} -> {record['dst']}")
                except (ValueError, KeyError, TypeError) as error:
                    repaired.append(f"discarded unreadable journal entry {entry.name}: {error}")
                entry.unlink(missing_ok=True)
            for stray in self.journal_dir.glob(f"*{TMP_SUFFIX}"):
                stray.unlink(missing_ok=True)
        for stray in self.root.rglob(f".*{TMP_SUFFIX}"):
            stray.unlink(missing_ok=True)
            repaired.append(f"removed temp file {stray.relative_to(self.root).as_posix()}")
        for line in repaired:
            log.warning("recovery: %s", line)
        return repaired
