"""Reading task files: path -> lane, bytes -> Task. Pure functions, safe to run in a worker thread.

Nothing here raises on bad input: a file that cannot be a task becomes an ``InvalidTaskFile`` with a
message a person can act on. Reads are bounded (size, alias count, nesting) so a hostile file costs
at most a little memory and a clear error.
"""

from __future__ import annotations

import datetime as dt
import errno
import math
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from stat import S_ISREG
from typing import Any

import yaml

from agentdeck.actors.board.plain_yaml import parse_plain
from agentdeck.actors.board.scan_cache import ScanCache, file_key
from agentdeck.actors.messages import FileRead, InvalidTaskFile, Task
from agentdeck.actors.numbers import bounded_number, without_surrogates

MAX_TASK_FILE_BYTES = 1024 * 1024
MAX_ALIASES = 20
MAX_NESTING = 100  # mappings and sequences inside each other; a task file needs a handful
NESTED_TOO_DEEPLY = f"YAML nested more than {MAX_NESTING} levels deep"
MAX_TASK_ID = 256  # characters; agents must be able to name the task back (protocol task_id)
TASK_SUFFIXES = (".yaml", ".yml")
SYMLINK_REFUSED = "a symbolic link: not followed, task files must be real files under the board"
NOT_REGULAR = "not a regular file (a FIFO, socket or device): task files must be plain files"
HARD_LINK_REFUSED = ("a file with other hard links: not read, it may be a file from outside the board "
                     "(copy it instead of linking)")
NOT_A_TASK_PATH = "not a task file location"
SAFE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}")  # use fullmatch: "$" also matches before a newline

_PRIORITY_WORDS = {
    "critical": "critical", "urgent": "critical", "p0": "critical",
    "high": "high", "p1": "high",
    "medium": "medium", "normal": "medium", "p2": "medium",
    "low": "low", "p3": "low",
}

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG, _MAP_TAG, _SEQ_TAG, _MERGE_TAG = (f"tag:yaml.org,2002:{name}" for name in ("str", "map", "seq", "merge"))
_PLAIN = frozenset((str, int, bool, type(None)))
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Loader(_SafeLoader):  # type: ignore[misc, valid-type]
    """The safe loader with a leaner tag resolver: the safe loader has no path resolvers, and
    resolving every scalar through the general method was a fifth of start-up on a big board."""

    def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, pattern in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if pattern.match(value):
                        return tag
            return _STR_TAG
        return _SEQ_TAG if kind is yaml.SequenceNode else _MAP_TAG


class Incomplete(Exception):
    """The file is empty: probably caught mid-write, worth reading again shortly."""


def is_safe_name(name: str) -> bool:
    """An agent or task name that may become one path component under work/."""
    return bool(SAFE_NAME.fullmatch(name)) and name not in (".", "..")


def lane_of(relpath: str) -> tuple[str, str | None] | None:
    """Lane and lane agent of a path relative to the collaboration root, or None if no task."""
    parts = relpath.split("/")  # board paths are always posix and normalised
    if not parts[-1].endswith(TASK_SUFFIXES) or parts[-1].startswith(".") or not _is_utf8(relpath):
        return None
    if parts[0] in ("inbox", "dead") and len(parts) == 2:
        return sys.intern(parts[0]), None
    if parts[0] in ("assigned", "done") and len(parts) == 3 and is_safe_name(parts[1]):
        return sys.intern(parts[0]), sys.intern(parts[1])
    return None


def _is_utf8(name: str) -> bool:
    """False for a name the OS gave us with undecodable bytes (surrogate escapes)."""
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def normalize_priority(value: Any) -> str:
    return _PRIORITY_WORDS.get(str(value).strip().lower(), "medium") if value is not None else "medium"


def _text(value: Any, default: str = "") -> str:
    if type(value) is str:
        return value
    if value is None:
        return default
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def _str_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(_text(v) for v in value if v is not None)
    return (_text(value),)


def _hours(fields: dict[str, Any]) -> float | None:
    for key in ("estimated_hours", "estimated_effort_hours"):
        value = fields.get(key)
        hours = bounded_number(value, from_text=True)
        if hours is not None:
            return float(hours)
    return None


def jsonable(value: Any) -> Any:
    """YAML values made safe for JSON: dates become ISO text, keys become strings."""
    if type(value) is str:
        return without_surrogates(value)
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dict):
        return {without_surrogates(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or infinity
    if isinstance(value, str):
        return without_surrogates(value)
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return without_surrogates(str(value))


def load_yaml(data: bytes) -> Any:
    """Parse one YAML document with the safe loader, refusing alias bombs."""
    if b"*" in data:
        loader = _Loader(data)
        try:
            aliases = 0
            while loader.check_event():
                if isinstance(loader.get_event(), yaml.AliasEvent):
                    aliases += 1
                    if aliases > MAX_ALIASES:
                        raise ValueError(f"more than {MAX_ALIASES} YAML aliases (refused)")
        finally:
            loader.dispose()
    loader = _Loader(data)
    try:
        node = loader.get_single_node()
        return None if node is None else _construct(loader, node)
    except TypeError as error:  # e.g. a list used as a mapping key
        raise ValueError(f"invalid YAML: {error}") from None
    finally:
        loader.dispose()


def flow_nesting(data: bytes) -> int:
    """How deep ``[`` and ``{`` nest in the raw text (quotes not parsed: asked only after a failure).

    It lets the error name the cause in our words, whatever the YAML library says when it stops.
    """
    depth = deepest = 0
    for byte in data:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth = max(depth - 1, 0)
    return deepest


def _construct(loader: Any, node: yaml.Node) -> Any:
    """Node -> Python value, as the safe loader would build it, but quicker for the usual nodes.

    Plain strings, mappings and sequences (nearly everything in a task file) are built here; any
    other node (numbers, dates, sets, merge keys, unknown tags) goes to the safe constructor.
    """
    tag = node.tag
    if tag == _STR_TAG:
        return node.value
    if tag == _MAP_TAG and not any(key.tag == _MERGE_TAG for key, _ in node.value):
        return {_construct(loader, key): _construct(loader, value) for key, value in node.value}
    if tag == _SEQ_TAG:
        return [_construct(loader, item) for item in node.value]
    return loader.construct_object(node, deep=True)


def parse_task(relpath: str, data: bytes, mtime: float = 0.0) -> Task:
    """Bytes of a task file -> Task. Raises Incomplete (empty) or ValueError (not a task)."""
    placement = lane_of(relpath)
    if placement is None:
        raise ValueError(NOT_A_TASK_PATH)
    return _parse(relpath, placement, data, mtime)


def _parse(relpath: str, placement: tuple[str, str | None], data: bytes, mtime: float) -> Task:
    lane, lane_agent = placement
    if not data.strip():
        raise Incomplete("file is empty")
    if len(data) > MAX_TASK_FILE_BYTES:
        raise ValueError(f"file is {len(data)} bytes, over the {MAX_TASK_FILE_BYTES} byte limit")
    plain = parse_plain(data)
    if plain is not None:  # the usual file: read without the full loader, to the same values
        for key, value in plain.items():  # strings from UTF-8 text are JSON-safe as they are
            if type(value) is not str and not (type(value) is list and all(type(v) is str for v in value)):
                plain[key] = jsonable(value)
        return task_from_fields(relpath, lane, lane_agent, plain, mtime)
    try:
        fields = load_yaml(data)
        if not isinstance(fields, dict):
            raise ValueError(f"expected a mapping of fields, found {type(fields).__name__}")
        fields = jsonable(fields)
    except RecursionError:
        raise ValueError(NESTED_TOO_DEEPLY) from None
    except yaml.YAMLError as error:
        if flow_nesting(data) > MAX_NESTING:
            raise ValueError(NESTED_TOO_DEEPLY) from None
        raise ValueError(f"invalid YAML: {' '.join(str(error).split())}") from None
    return task_from_fields(relpath, lane, lane_agent, fields, mtime)


def task_from_fields(relpath: str, lane: str, lane_agent: str | None, fields: dict[str, Any],
                     mtime: float) -> Task:
    """A Task from a file's parsed (JSON-safe) fields; missing ones get placeholders."""
    stem = relpath.rpartition("/")[2].rpartition(".")[0]
    task_id = _text(fields.get("id")).strip()
    if not task_id.strip("."):
        task_id = stem  # none, or "." / "..": in a URL those are path steps, never one task's name
    if len(task_id) > MAX_TASK_ID:
        raise ValueError(f"id is {len(task_id)} characters, over the {MAX_TASK_ID} character limit")
    agent = fields.get("agent") or fields.get("assign_to")
    created = fields.get("created", fields.get("created_at"))
    default_status = {"inbox": "new", "assigned": "assigned", "done": "done", "dead": "dead"}[lane]
    return Task(
        id=task_id,
        path=relpath,
        lane=lane,
        lane_agent=lane_agent,
        title=_text(fields.get("title")).strip() or task_id,
        status=_text(fields.get("status")).strip() or default_status,
        priority=normalize_priority(fields.get("priority")),
        agent=_text(agent) if agent else lane_agent,
        created=_text(created) if created is not None else None,
        description=_text(fields.get("description")),
        dependencies=_str_tuple(fields.get("dependencies")),
        estimated_hours=_hours(fields),
        tags=_str_tuple(fields.get("tags")),
        fields=fields,
        mtime=mtime,
    )


def read_task_file(root: Path, relpath: str) -> FileRead:
    """Read and parse one file (blocking). Raises Incomplete for an empty file, FileNotFoundError.

    Symbolic links are not followed (a link could show any file of the machine on the board).
    """
    linked = _linked_lane_dir(root, relpath.rpartition("/")[0])
    if linked is not None:
        return FileRead(relpath, None, InvalidTaskFile(relpath, linked))
    return _read_file(os.path.join(root, relpath), relpath, lane_of(relpath))[0]


def _linked_lane_dir(root: Path, rel_dir: str) -> str | None:
    """Why files under ``rel_dir`` are refused when it or a folder above it is a symbolic link."""
    parts = rel_dir.split("/")
    for depth in range(1, len(parts) + 1):  # inbox/, done/, done/<agent>/: none may be a link
        lane_dir = "/".join(parts[:depth])
        if os.path.islink(os.path.join(root, lane_dir)):
            return f"{lane_dir} is {SYMLINK_REFUSED}"
    return None


def _read_file(path: str, relpath: str,
               placement: tuple[str, str | None] | None) -> tuple[FileRead, os.stat_result | None]:
    """Open without following links or blocking, check what was opened, read and parse it; the
    file's status as opened (None when refused before reading)."""
    try:
        # never blocks: a FIFO named *.yaml would otherwise hang the reader until someone writes
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        return FileRead(relpath, None, InvalidTaskFile(relpath, f"the file is {SYMLINK_REFUSED}")), None
    with open(fd, "rb") as handle:
        stat = os.fstat(fd)
        if not S_ISREG(stat.st_mode):
            return FileRead(relpath, None, InvalidTaskFile(relpath, NOT_REGULAR)), None
        if stat.st_nlink > 1:
            return FileRead(relpath, None, InvalidTaskFile(relpath, HARD_LINK_REFUSED)), None
        if stat.st_size > MAX_TASK_FILE_BYTES:
            too_big = f"file is {stat.st_size} bytes, over the {MAX_TASK_FILE_BYTES} byte limit"
            return FileRead(relpath, None, InvalidTaskFile(relpath, too_big)), None
        data = handle.read(MAX_TASK_FILE_BYTES + 1)
    try:
        if placement is None:
            raise ValueError(NOT_A_TASK_PATH)
        return FileRead(relpath, _parse(relpath, placement, data, stat.st_mtime), None), stat
    except ValueError as error:
        return FileRead(relpath, None, InvalidTaskFile(relpath, str(error))), stat


def _lane_dirs(root: Path) -> list[str]:
    lane_dirs = ["inbox", "dead"]
    for lane in ("assigned", "done"):
        try:
            agents = sorted(e.name for e in os.scandir(root / lane) if e.is_dir() and is_safe_name(e.name))
        except (FileNotFoundError, NotADirectoryError):
            continue
        lane_dirs.extend(f"{lane}/{agent}" for agent in agents)
    return lane_dirs


def _lane_entries(root: Path, rel_dir: str) -> Iterator[tuple[str, tuple[str, str | None], os.DirEntry]]:
    try:
        entries = sorted(os.scandir(root / rel_dir), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        relpath = f"{rel_dir}/{entry.name}"
        placement = lane_of(relpath)
        if placement is not None and (entry.is_file() or entry.is_symlink()):
            yield relpath, placement, entry


def task_entries(root: Path) -> Iterator[tuple[str, tuple[str, str | None], os.DirEntry]]:
    """Every file in a lane directory that may be a task: (relpath, (lane, agent), entry)."""
    for rel_dir in _lane_dirs(root):
        yield from _lane_entries(root, rel_dir)


def scan_board(root: Path, cache_path: Path | None = None) -> list[FileRead]:
    """Every task file under the collaboration root (blocking); empty files count as invalid.

    With ``cache_path``, files unchanged since the last scan are not parsed again (see scan_cache).
    A lane folder that is a symbolic link is checked once, and with no cache to consult a file is
    only opened (its status taken from the open file), never looked up first.
    """
    cache = ScanCache(cache_path)
    found: list[FileRead] = []
    for rel_dir in _lane_dirs(root):
        linked = _linked_lane_dir(root, rel_dir)
        folder = f"{root}/{rel_dir}/"
        for relpath, placement, entry in _lane_entries(root, rel_dir):
            try:
                if linked is not None:
                    found.append(FileRead(relpath, None, InvalidTaskFile(relpath, linked)))
                    continue
                key = None
                if cache:
                    stat = entry.stat(follow_symlinks=False)
                    key = file_key(stat)
                    fields = cache.fields(relpath, key)
                    if fields is not None:
                        found.append(FileRead(relpath, task_from_fields(relpath, *placement, fields, stat.st_mtime),
                                              None))
                        continue
                read, opened = _read_file(folder + entry.name, relpath, placement)
                if read.task is not None and opened is not None:
                    cache.remember(relpath, key if key is not None else file_key(opened), read.task.fields)
                found.append(read)
            except Incomplete as error:
                found.append(FileRead(relpath, None, InvalidTaskFile(relpath, str(error))))
            except FileNotFoundError:
                continue
            except OSError as error:
                found.append(FileRead(relpath, None, InvalidTaskFile(relpath, f"unreadable: {error}")))
    cache.save()
    return found


def dump_task(fields: dict[str, Any]) -> str:
    """Fields -> YAML text, keeping the order the fields were written in."""
    return yaml.dump(dict(fields), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)
