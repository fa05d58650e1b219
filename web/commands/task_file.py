"""``agentdeck task add``: a new task file in the inbox, written atomically and never over another.

Works with the hub stopped: the file is the task. It is built from the options, checked with the
hub's own parser before it is written, written to a hidden temporary name in the inbox (the board
ignores dot files) and linked to its final name, which fails rather than replace an existing task.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentdeck.actors.board.taskfile import dump_task, normalize_priority, parse_task
from agentdeck.actors.reference_agent.workspace import is_url

MAX_SLUG = 40


def slug(title: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return words[:MAX_SLUG].rstrip("-") or "task"


def task_fields(title: str, *, description: str | None = None, shell: str | None = None,
                repo: str | None = None, priority: str = "medium", capabilities: Sequence[str] = (),
                depends_on: Sequence[str] = (), verify: Sequence[str] = (), executor: str | None = None,
                branch: str | None = None, base_branch: str | None = None, complexity: str | None = None,
                max_retries: int | None = None, task_id: str | None = None,
                now: dt.datetime | None = None) -> dict[str, Any]:
    """The fields of a new task, in the order a person reads them; empty options are left out."""
    moment = now or dt.datetime.now(dt.UTC)
    if not title.strip():
        raise ValueError("the title must not be empty")
    if priority.strip().lower() not in ("critical", "high", "medium", "low", "urgent", "normal",
                                        "p0", "p1", "p2", "p3"):
        raise ValueError(f"priority {priority!r}: critical, high, medium or low")
    if repo is not None and not is_url(repo):
        repo = str(Path(repo).expanduser().resolve())
    fields: dict[str, Any] = {
        "id": task_id or f"{moment:%Y-%m-%dT%H%M%S}-{slug(title)}",
        "title": title.strip(),
        "priority": normalize_priority(priority),
        "status": "new",
        "created": moment.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    optional = {"description": description, "shell_command": shell, "repo": repo, "branch": branch,
                "base_branch": base_branch, "executor": executor, "complexity": complexity,
                "needed_capabilities": list(capabilities), "dependencies": list(depends_on),
                "verification_steps": list(verify), "max_retries": max_retries}
    fields.update({key: value for key, value in optional.items() if value not in (None, "", [])})
    return fields


def write_new_task(board: Path, fields: dict[str, Any]) -> Path:
    """Write ``fields`` as ``inbox/<id>.yaml``; a taken name gets ``-2``, ``-3``... (id too)."""
    inbox = board / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    base_id = str(fields["id"])
    for attempt in range(1, 1000):
        task_id = base_id if attempt == 1 else f"{base_id}-{attempt}"
        candidate = {**fields, "id": task_id}
        data = dump_task(candidate).encode("utf-8")
        name = f"{task_id}.yaml"
        parse_task(f"inbox/{name}", data)  # raises ValueError with the hub's own words
        temporary = inbox / f".{name}.{os.getpid()}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, inbox / name)
        except FileExistsError:
            continue
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_dir(inbox)
        return inbox / name
    raise ValueError(f"no free name for task {base_id}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
