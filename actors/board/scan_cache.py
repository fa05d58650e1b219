"""Parsed task files remembered between runs, so a restart re-reads only the files that changed.

Parsing YAML is most of the start-up scan (about 0.1 ms a file). The cache maps each task file to
its parsed fields, keyed by inode, size, mtime and ctime; an entry is used only when all four still
match, so any write, rename or replace of the file misses the cache. Files changed in the last
couple of seconds before the cache is written are left out: a second write inside the same
filesystem-timestamp tick could otherwise keep the key unchanged. The cache is plain JSON (never
pickle) and a damaged or foreign one is simply ignored; losing it only costs time.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("agentdeck.scan_cache")

CACHE_VERSION = 1
RACY_NS = 2_000_000_000

FileKey = list[int]


def file_key(stat: os.stat_result) -> FileKey:
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


class ScanCache:
    """One scan's view of the cache: look entries up, remember fresh parses, then ``save()``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._old = self._load()
        self._new: dict[str, list[Any]] = {}
        self.hits = 0

    def _load(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def __bool__(self) -> bool:
        """Whether there is anything to look up (a first scan need not stat files before reading)."""
        return bool(self._old)

    def fields(self, relpath: str, key: FileKey) -> dict[str, Any] | None:
        """The cached fields of a file whose key still matches, else None."""
        entry = self._old.get(relpath)
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == key and isinstance(entry[1], dict):
            self.hits += 1
            self._new[relpath] = entry
            return entry[1]
        return None

    def remember(self, relpath: str, key: FileKey, fields: Mapping[str, Any]) -> None:
        self._new[relpath] = [key, dict(fields)]

    def save(self) -> None:
        """Write what this scan saw (atomically); skipped when nothing changed."""
        if self.path is None or (self.hits == len(self._new) and self._new.keys() == self._old.keys()):
            return
        cutoff = time.time_ns() - RACY_NS
        entries = {path: entry for path, entry in self._new.items() if entry[0][3] < cutoff}
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "entries": entries},
                                      separators=(",", ":"), default=str), "utf-8")
            os.replace(tmp, self.path)
        except OSError as error:
            tmp.unlink(missing_ok=True)
            log.warning("could not write the scan cache %s: %s", self.path, error)
