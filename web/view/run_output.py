"""A task's run history as the panel shows it and as a download: pure functions, no I/O.

The panel shows the current attempt's output (live lines are appended to it) capped at
``PANEL_LINES``, earlier attempts folded, and says plainly what it does not show: lines left to the
download, output trimmed to keep the history bounded, attempts dropped entirely. A task with no
history on disk (finished before the hub kept one) shows the output its file kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agentdeck.actors.messages import Task
from agentdeck.actors.protocol.run_history import AttemptOutput, RunRecord
from agentdeck.web.live.regions import output_line

PANEL_LINES = 2000
EARLIER_LINES = 300


def _kib(size: int) -> str:
    return f"{size / 1024:,.1f} KiB"


def _size(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB" if size >= 2**20 else _kib(size)


def _shown(attempt: AttemptOutput, cap: int) -> tuple[list[dict[str, str]], int]:
    lines = attempt.lines[-cap:]
    return [output_line({"event_type": k, "text": t}) for k, t in lines], len(attempt.lines) - len(lines)


def _file_output(task: Task) -> str | None:
    result = task.fields.get("result")
    kept = result.get("output") if isinstance(result, Mapping) else None
    kept = kept or task.fields.get("last_output")
    return kept if isinstance(kept, str) and kept.strip() else None


def panel_output(task: Task, record: RunRecord | None) -> dict[str, Any]:
    """``lines`` (the current attempt), ``notes`` (what is not shown and why), ``earlier`` attempts."""
    attempts = list(record.attempts) if record is not None else []
    current = attempts.pop() if attempts and attempts[-1].generation >= task.generation else None
    notes: list[str] = []
    lines: list[dict[str, str]] = []
    generation = task.generation
    if current is not None:
        generation = current.generation
        lines, hidden = _shown(current, PANEL_LINES)
        if hidden:
            notes.append(f"{hidden:,} earlier lines of this attempt are not shown here: download the full log")
        if current.dropped_bytes:
            notes.append(f"{_kib(current.dropped_bytes)} of this attempt's earliest output was trimmed "
                         "to keep the run history within its size limit")
    elif not attempts and (kept := _file_output(task)) is not None:
        lines = [output_line({"event_type": "stdout", "text": kept})]
        notes.append("kept output from the task file (no run history on disk for this task)")
    if record is not None and record.dropped_attempts:
        gone = ", ".join(str(g) for g in record.dropped_attempts)
        why = (f"to keep the run history of the whole board within {_size(record.board_cap)} "
               "(the least recently active tasks' output goes first)" if record.board_cap else
               "oldest first, to keep the run history within its size limit")
        notes.append(f"output of attempt{'s' if len(record.dropped_attempts) > 1 else ''} {gone} "
                     f"({_kib(record.dropped_attempt_bytes)}) was trimmed {why}")
    earlier = []
    for attempt in reversed(attempts):
        shown, hidden = _shown(attempt, EARLIER_LINES)
        earlier.append({"generation": attempt.generation, "lines": shown, "hidden": hidden,
                        "count": len(attempt.lines), "dropped": _kib(attempt.dropped_bytes)
                        if attempt.dropped_bytes else None})
    return {"lines": lines, "notes": notes, "earlier": earlier, "generation": generation,
            "has_history": bool(record is not None and record.attempts)}


def _text(lines: Iterable[tuple[str, str]]) -> Iterable[str]:
    for kind, text in lines:
        if kind == "token":
            yield text
        else:
            yield text if text.endswith("\n") else text + "\n"


def download_text(task: Task, record: RunRecord | None, generation: int | None = None) -> str:
    """The whole kept history (or one attempt) as plain text, with the trim notes in it."""
    head = [f"# {task.id}: {task.title}\n"]
    if record is not None and record.dropped_attempts and generation is None:
        head.append(f"# attempts {', '.join(map(str, record.dropped_attempts))} trimmed "
                    f"({_kib(record.dropped_attempt_bytes)})"
                    f"{' to keep the whole board within its run-history limit' if record.board_cap else ''}\n")
    body: list[str] = []
    for attempt in record.attempts if record is not None else ():
        if generation is not None and attempt.generation != generation:
            continue
        body.append(f"\n===== attempt {attempt.generation} =====\n")
        if attempt.dropped_bytes:
            body.append(f"[{_kib(attempt.dropped_bytes)} of earlier output trimmed]\n")
        body.extend(_text(attempt.lines))
    if not body and generation is None and (kept := _file_output(task)) is not None:
        body = ["\n===== kept output from the task file =====\n", kept]
    return "".join(head + body)
