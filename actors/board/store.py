"""Crash-safe moves and rewrites of task files, committed in groups (blocking; the queue runs these
in a worker thread).

Moves are staged into a ``MoveBatch`` and committed together, journal first:

1. ``stage``: the new text goes to a temp file beside the destination and a record (source,
   destination, new text) is appended to the batch's journal, still under a temp name. Nothing is
   fsynced; a full disk or a read-only board fails this one move here, and nothing else.
2. ``commit``: the journal is fsynced and renamed to its final name, and the journal folder fsynced:
   from this instant the whole batch is durable (one fsync of data for any number of moves).
   Then every temp file is renamed over its destination and every source removed, in order, and
   each folder touched is fsynced once.
3. ``checkpoint`` (every second or so, in the background): one ``syncfs`` makes the moved files'
   contents durable, and only then are the journals of the batches it covers deleted.

Whatever instant a ``kill -9`` (or a power cut) lands on, ``recover()`` at the next start replays
the committed journals in order and leaves every move of a batch done or none of it: a journal
still under its temp name was never committed and is dropped with its temp files. A record whose
move is already on disk (source gone, destination there) is skipped, so a file changed since by a
person is not put back. Temp files never end in .yaml, so the watcher and the scanner never take
them for tasks; ``recover()`` deletes any left behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import BinaryIO

import attrs

from agentdeck.actors.board.durable import sync_dir, sync_files

log = logging.getLogger("agentdeck.store")

TMP_SUFFIX = ".agentdeck-tmp"
JOURNAL_SUFFIX = ".jsonl"  # one committed batch: a JSON record per line, replayed in order
OLD_JOURNAL_SUFFIX = ".json"  # one move, as journalled before moves were committed in groups
MAX_KNOWN_FOLDERS = 10_000  # resolved folders remembered (lanes and agents' folders)


class PathEscape(ValueError):
    """A path built from a task or agent name would leave the board."""


@attrs.frozen
class StagedMove:
    src: str
    dst: str
    src_path: Path
    dst_path: Path
    tmp: Path  # the new text, beside the destination


class MoveBatch:
    """Moves staged for one commit, and the board as they leave it (which names they take and
    free), so that a later move in the same batch picks its file name against that."""

    def __init__(self) -> None:
        self.moves: list[StagedMove] = []
        self.present: dict[str, bool] = {}  # board-relative path -> a file there once committed
        self.journal: BinaryIO | None = None
        self.journal_tmp: Path | None = None

    def __len__(self) -> int:
        return len(self.moves)

    def touches(self, path: str) -> bool:
        """Whether a staged move writes or removes ``path``."""
        return path in self.present


class BoardStore:
    def __init__(self, root: Path, state_dir: Path, *, fsync: bool = True) -> None:
        self.root = root.resolve()
        self.journal_dir = state_dir / "journal"
        self._fsync = fsync
        self._lock = threading.Lock()  # commits and checkpoints run in different worker threads
        self._unsynced: list[tuple[Path, list[Path]]] = []  # committed journals, the files they wrote
        self._last_sequence = 0
        self._folders: dict[str, Path] = {}  # board-relative folder -> where it resolves to
        self.commits = 0  # batches committed, and the moves they held (moves per fsync)
        self.committed_moves = 0

    def resolve(self, relpath: str) -> Path:
        """The absolute path of a board-relative path, refusing anything outside the board.

        The folder is resolved (symlinks followed) once and remembered: the queue moves files
        between a handful of lane folders, and resolving every component of every path was a
        tenth of its time. A file name itself is never followed (a move renames over it)."""
        if "\x00" in relpath:
            raise PathEscape(f"NUL byte in path {relpath!r}")
        folder, _, name = relpath.rpartition("/")
        if name in ("", ".", ".."):
            return self._resolved(relpath)
        known = self._folders.get(folder)
        if known is None:
            known = self._resolved(folder) if folder else self.root
            if known.is_dir():  # not yet made: resolved again next time, once it is there
                if len(self._folders) >= MAX_KNOWN_FOLDERS:
                    self._folders.clear()
                self._folders[folder] = known
        path = known / name
        if os.path.islink(path):
            return self._resolved(relpath)
        return path

    def _resolved(self, relpath: str) -> Path:
        path = (self.root / relpath).resolve()
        if path != self.root and self.root not in path.parents:
            raise PathEscape(f"{relpath!r} is outside the board")
        return path

    def free_name(self, src: str, dst: str, tag: str, batch: MoveBatch | None = None) -> str:
        """``dst``, or ``<stem>-<tag>[-n].<suffix>`` beside it when another file already has that name
        (on disk, or once ``batch`` is committed): a move never replaces another task's file (two
        tasks named alike in two lanes met in one)."""
        def taken(path: str) -> bool:
            if batch is not None and path in batch.present:
                return batch.present[path]
            return os.path.lexists(self.resolve(path))

        if dst == src or not taken(dst):
            return dst
        folder, _, name = dst.rpartition("/")
        stem, _, suffix = name.rpartition(".")
        for attempt in range(1, 1000):
            candidate = f"{folder}/{stem}-{tag}{'' if attempt == 1 else f'-{attempt}'}.{suffix}"
            if candidate == src or not taken(candidate):
                return candidate
        raise OSError(f"no free file name for {dst}")

    # ------------------------------------------------------------------ one move at a time

    def write(self, relpath: str, text: str) -> None:
        """Atomically replace (or create) one task file in place, durably."""
        self.move(relpath, relpath, text)

    def move(self, src: str, dst: str, text: str) -> None:
        """Move ``src`` to ``dst`` with new content ``text``, durably: a batch of one."""
        batch = MoveBatch()
        self.stage(batch, src, dst, text)
        self.commit(batch)
        self.checkpoint()

    # ------------------------------------------------------------------ group commit

    def stage(self, batch: MoveBatch, src: str, dst: str, text: str) -> None:
        """Add a move to ``batch``; raises (and leaves the batch as it was) if it cannot be made."""
        src_path, dst_path = self.resolve(src), self.resolve(dst)
        if dst.rpartition("/")[0] not in self._folders:
            dst_path.parent.mkdir(parents=True, exist_ok=True)
        journal = self._journal_of(batch)
        mark = journal.tell()
        tmp = _temp_beside(dst_path)
        try:
            with open(tmp, "wb") as handle:
                handle.write(text.encode("utf-8"))
            journal.write(json.dumps({"src": src, "dst": dst, "text": text}).encode("utf-8") + b"\n")
            journal.flush()
        except BaseException:
            tmp.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                journal.seek(mark)
                journal.truncate()
            raise
        batch.moves.append(StagedMove(src, dst, src_path, dst_path, tmp))
        batch.present[dst] = True
        if src != dst:
            batch.present[src] = False

    def commit(self, batch: MoveBatch) -> None:
        """Make every staged move durable (one fsync of the journal) and then do them on the board.
        Raises if the journal cannot be made durable: then none of the batch happened."""
        if not batch.moves:
            self.discard(batch)
            return
        journal, staged = batch.journal, batch.journal_tmp
        assert journal is not None and staged is not None
        try:
            with journal:
                journal.flush()
                if self._fsync:
                    os.fsync(journal.fileno())
            final = self.journal_dir / f"{self._next_sequence()}{JOURNAL_SUFFIX}"
            os.replace(staged, final)
        except BaseException:
            self.discard(batch)
            raise
        if self._fsync:
            sync_dir(self.journal_dir)
        # durable from here: recover() finishes the batch if we stop anywhere below
        folders: dict[Path, None] = {}
        for move in batch.moves:
            os.replace(move.tmp, move.dst_path)
            folders[move.dst_path.parent] = None
            if move.src_path != move.dst_path:
                move.src_path.unlink(missing_ok=True)
                folders[move.src_path.parent] = None
        written = [move.dst_path for move in batch.moves]
        self.commits += 1
        self.committed_moves += len(written)
        batch.moves, batch.present, batch.journal, batch.journal_tmp = [], {}, None, None
        if not self._fsync:
            final.unlink(missing_ok=True)
            return
        for folder in folders:
            sync_dir(folder)
        with self._lock:
            self._unsynced.append((final, written))

    def discard(self, batch: MoveBatch) -> None:
        """Forget the staged moves: their temp files and uncommitted journal go."""
        for move in batch.moves:
            move.tmp.unlink(missing_ok=True)
        if batch.journal is not None:
            with contextlib.suppress(OSError):
                batch.journal.close()
        if batch.journal_tmp is not None:
            batch.journal_tmp.unlink(missing_ok=True)
        batch.moves, batch.present, batch.journal, batch.journal_tmp = [], {}, None, None

    @property
    def unsynced(self) -> int:
        """Committed batches whose files are not yet known to be durable (their journals kept)."""
        with self._lock:
            return len(self._unsynced)

    def checkpoint(self) -> int:
        """Make the files of every committed batch durable, then drop their journals; returns how
        many batches that was."""
        with self._lock:
            retiring, self._unsynced = self._unsynced, []
        if not retiring:
            return 0
        try:
            sync_files(self.root, [path for _, written in retiring for path in written])
        except BaseException:
            with self._lock:
                self._unsynced[:0] = retiring
            raise
        for journal, _ in retiring:
            journal.unlink(missing_ok=True)
        sync_dir(self.journal_dir)
        return len(retiring)

    def _journal_of(self, batch: MoveBatch) -> BinaryIO:
        if batch.journal is None:
            self.journal_dir.mkdir(parents=True, exist_ok=True)
            batch.journal_tmp = self.journal_dir / f".{uuid.uuid4().hex}{JOURNAL_SUFFIX}{TMP_SUFFIX}"
            batch.journal = open(batch.journal_tmp, "wb")  # noqa: SIM115 - closed by commit/discard
        return batch.journal

    def _next_sequence(self) -> str:
        """Journal names that sort in commit order, also across restarts."""
        self._last_sequence = max(time.time_ns(), self._last_sequence + 1)
        return f"{self._last_sequence:020d}"

    # ------------------------------------------------------------------ recovery

    def recover(self) -> list[str]:
        """Finish every committed batch and remove stray temp files; returns what was repaired."""
        repaired: list[str] = []
        written: list[Path] = []
        with self._lock:
            self._unsynced = []  # their journals are replayed (or found done) and removed below
        entries = sorted(entry for entry in self.journal_dir.glob("*.json*") if entry.name.endswith(
            (OLD_JOURNAL_SUFFIX, JOURNAL_SUFFIX))) if self.journal_dir.is_dir() else []
        old = [e for e in entries if e.name.endswith(OLD_JOURNAL_SUFFIX)]
        batches = [e for e in entries if e.name.endswith(JOURNAL_SUFFIX)]
        for entry in [*old, *batches]:
            try:
                records = self._records(entry)
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
                repaired.append(f"discarded unreadable journal entry {entry.name}: {error}")
                continue
            for src, dst, text in records:
                if self._replay(src, dst, text):
                    written.append(self.resolve(dst))
                    repaired.append(f"finished move {src} -> {dst}")
        if self._fsync and written:
            sync_files(self.root, written)
        for entry in entries:
            entry.unlink(missing_ok=True)
        if self.journal_dir.is_dir():
            for stray in self.journal_dir.glob(f"*{TMP_SUFFIX}"):
                stray.unlink(missing_ok=True)
            if self._fsync:
                sync_dir(self.journal_dir)
        for stray in self.root.rglob(f".*{TMP_SUFFIX}"):
            stray.unlink(missing_ok=True)
            repaired.append(f"removed temp file {stray.relative_to(self.root).as_posix()}")
        for line in repaired:
            log.warning("recovery: %s", line)
        return repaired

    def _records(self, entry: Path) -> list[tuple[str, str, str]]:
        """The moves of one journal entry, every path checked; raises if any record is unreadable
        (a batch is replayed whole or not at all)."""
        text = entry.read_text("utf-8")
        lines = [text] if entry.name.endswith(OLD_JOURNAL_SUFFIX) else text.splitlines()
        records = []
        for line in lines:
            record = json.loads(line)
            src, dst, body = record["src"], record["dst"], record["text"]
            if not all(isinstance(value, str) for value in (src, dst, body)):
                raise TypeError("src, dst and text must be text")
            self.resolve(src)
            self.resolve(dst)
            records.append((src, dst, body))
        return records

    def _replay(self, src: str, dst: str, text: str) -> bool:
        """Redo one journalled move unless it is already on disk; returns whether it was redone.

        Done already: the source is gone and the destination is there (a later record or a person
        may have changed it since, so it is left alone) or gone too (moved on or deleted since).
        An empty destination is what a power cut leaves of a file whose contents never reached
        the disk: written again. An in-place rewrite is always written again."""
        src_path, dst_path = self.resolve(src), self.resolve(dst)
        if src_path != dst_path and not os.path.lexists(src_path):
            try:
                if dst_path.stat().st_size > 0 or not text:
                    return False
            except FileNotFoundError:
                return False
        dst_path.parent.mkdir(parents=True, exist_ok=True)
        self._atomic_write(dst_path, text.encode("utf-8"))
        if src_path != dst_path:
            src_path.unlink(missing_ok=True)
            if self._fsync:
                sync_dir(src_path.parent)
        return True

    def _atomic_write(self, path: Path, data: bytes) -> None:
        tmp = _temp_beside(path)
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
        if self._fsync:
            sync_dir(path.parent)


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
