"""Every attempt's output on disk, beside the board's state, so it outlives the hub process.

One directory per task under ``<state>/runs/`` (named by a hash of the task id, so no path is ever
built from data), one JSON-lines file per attempt (``<generation>.jsonl``, one ``[kind, text]``
array per line, so a trimmed file always starts on a whole event). A task's history is bounded by
``max_bytes``: the oldest attempts go first; when the latest attempt alone is over the bound its
oldest lines go. All tasks' histories together are bounded by ``max_total_bytes``: past it, the
output of the tasks written to least recently goes, whole tasks at a time. Every trim is recorded
in ``trimmed.json`` and shown with the output, so nothing disappears silently.

Synchronous file I/O: the execution log calls it from a worker thread, one call at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

import attrs

TRIM_TO = 0.75  # a trim leaves this share of the bound, so appends do not rewrite on every flush
NOTES_FILE = "trimmed.json"


@attrs.frozen
class AttemptOutput:
    """One attempt's kept output: ``lines`` of (kind, text), and what was cut from its start."""

    generation: int
    lines: tuple[tuple[str, str], ...]
    dropped_bytes: int = 0


@attrs.frozen
class RunRecord:
    """A task's kept run history, oldest attempt first, with the attempts trimmed away entirely."""

    task_id: str
    attempts: tuple[AttemptOutput, ...] = ()
    dropped_attempts: tuple[int, ...] = ()
    dropped_attempt_bytes: int = 0
    board_cap: int = 0  # when set, (some of) the dropped attempts went to keep the board within it

    @property
    def latest(self) -> AttemptOutput | None:
        return self.attempts[-1] if self.attempts else None


def task_key(task_id: str) -> str:
    return hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def encode_lines(lines: Iterable[tuple[str, str]]) -> bytes:
    return b"".join(json.dumps(list(line), ensure_ascii=False).encode("utf-8", "replace") + b"\n"
                    for line in lines)


def _after_cut_line(path: Path) -> bytes:
    """A newline when a crash left the file's last line unfinished, so the next line stays whole."""
    try:
        with open(path, "rb") as existing:
            existing.seek(-1, os.SEEK_END)
            return b"" if existing.read(1) == b"\n" else b"\n"
    except OSError:  # missing or empty
        return b""


def _decode(data: bytes) -> list[tuple[str, str]]:
    lines = []
    for raw in data.splitlines():
        try:
            kind, text = json.loads(raw)
        except ValueError:  # a line cut by a crash mid-write: the rest is still readable
            continue
        if isinstance(kind, str) and isinstance(text, str):
            lines.append((kind, text))
    return lines


class RunHistory:
    def __init__(self, root: Path, max_bytes: int, max_total_bytes: int | None = None) -> None:
        self.root = root
        self.max_bytes = max(4096, max_bytes)
        self.max_total_bytes = None if max_total_bytes is None else max(self.max_bytes * 2, max_total_bytes)
        self._sizes: dict[str, int] = {}  # task key -> bytes on disk, learnt on first touch
        self._written: dict[str, float] = {}  # task key -> when its output last grew
        self._total: int | None = None  # bytes of every task's history, learnt on the first append
        self._opened: set[Path] = set()  # attempt files this process has checked for a cut last line

    def _dir(self, task_id: str) -> Path:
        return self.root / task_key(task_id)

    @staticmethod
    def _attempt_files(directory: Path) -> list[tuple[int, Path]]:
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            stem, _, ext = name.partition(".")
            if ext == "jsonl" and stem.isdigit():
                found.append((int(stem), directory / name))
        return sorted(found)

    def append(self, task_id: str, generation: int, lines: list[tuple[str, str]]) -> None:
        """Add output to an attempt's file, then trim the task's history to its bound."""
        if not lines:
            return
        if self._total is None:
            self._total = self._scan() if self.max_total_bytes is not None else 0
        directory = self._dir(task_id)
        key = directory.name
        if key not in self._sizes:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "task_id").write_text(task_id, encoding="utf-8", errors="surrogateescape")
            self._sizes[key] = sum(p.stat().st_size for _, p in self._attempt_files(directory))
        data = encode_lines(lines)
        path = directory / f"{max(0, generation):06d}.jsonl"
        if path not in self._opened:
            self._opened.add(path)
            data = _after_cut_line(path) + data
        with open(path, "ab") as out:
            out.write(data)
        before = self._sizes[key]
        self._sizes[key] += len(data)
        if self._sizes[key] > self.max_bytes:
            self._sizes[key] = self._trim(directory)
        self._total += self._sizes[key] - before
        self._written[key] = time.time()
        if self.max_total_bytes is not None and self._total > self.max_total_bytes:
            self._make_room(keep=key)

    def _scan(self) -> int:
        """Every task's history size and last write, read once: the board-wide bound needs them."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False) or entry.name in self._sizes:
                continue
            stats = [path.stat() for _, path in self._attempt_files(Path(entry.path))]
            self._sizes[entry.name] = sum(stat.st_size for stat in stats)
            self._written[entry.name] = max((stat.st_mtime for stat in stats), default=0.0)
        return sum(self._sizes.values())

    def _make_room(self, keep: str) -> None:
        """Drop whole histories, least recently written first, until the board is back under its
        bound with room to spare; each task keeps a note of what went and why."""
        assert self.max_total_bytes is not None and self._total is not None
        target = int(self.max_total_bytes * TRIM_TO)
        for key in sorted(self._written, key=self._written.__getitem__):
            if self._total <= target:
                break
            if key == keep or not self._sizes.get(key):
                continue
            directory = self.root / key
            notes = self._notes(directory)
            for generation, path in self._attempt_files(directory):
                try:
                    size = path.stat().st_size
                    path.unlink()
                except FileNotFoundError:
                    continue
                notes["attempts"] = sorted({*notes.get("attempts", []), generation})
                notes["attempt_bytes"] = notes.get("attempt_bytes", 0) + size
            notes["board_cap"] = self.max_total_bytes
            self._write_notes(directory, notes)
            self._total -= self._sizes[key]
            self._sizes[key] = 0

    def _trim(self, directory: Path) -> int:
        files = self._attempt_files(directory)
        sizes = {generation: path.stat().st_size for generation, path in files}
        total = sum(sizes.values())
        notes = self._notes(directory)
        target = int(self.max_bytes * TRIM_TO)
        while total > target and len(files) > 1:
            generation, path = files.pop(0)
            path.unlink(missing_ok=True)
            total -= sizes[generation]
            notes["attempts"] = sorted({*notes.get("attempts", []), generation})
            notes["attempt_bytes"] = notes.get("attempt_bytes", 0) + sizes[generation]
        if total > self.max_bytes and files:
            generation, path = files[0]
            data = path.read_bytes()
            cut = len(data) - target
            cut = data.index(b"\n", cut) + 1 if b"\n" in data[cut:] else len(data)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data[cut:])
            os.replace(tmp, path)
            dropped = notes.setdefault("dropped", {})
            dropped[str(generation)] = dropped.get(str(generation), 0) + cut
            total -= cut
        self._write_notes(directory, notes)
        return total

    @staticmethod
    def _write_notes(directory: Path, notes: dict) -> None:
        tmp = directory / (NOTES_FILE + ".tmp")
        tmp.write_text(json.dumps(notes), encoding="utf-8")
        os.replace(tmp, directory / NOTES_FILE)

    @staticmethod
    def _notes(directory: Path) -> dict:
        try:
            notes = json.loads((directory / NOTES_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return notes if isinstance(notes, dict) else {}

    def read(self, task_id: str) -> RunRecord:
        directory = self._dir(task_id)
        notes = self._notes(directory)
        dropped = notes.get("dropped")
        dropped = dropped if isinstance(dropped, dict) else {}
        attempts = []
        for generation, path in self._attempt_files(directory):
            try:
                lines = _decode(path.read_bytes())
            except FileNotFoundError:
                continue
            attempts.append(AttemptOutput(generation, tuple(lines), int(dropped.get(str(generation), 0))))
        gone = tuple(int(g) for g in notes.get("attempts", []) if isinstance(g, int))
        cap = notes.get("board_cap")
        return RunRecord(task_id, tuple(attempts), gone, int(notes.get("attempt_bytes", 0) or 0),
                         cap if isinstance(cap, int) else 0)
