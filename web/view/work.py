"""What a coding agent did, for the task panel: the branch and commits of its worktree, the files it
changed, the diff as classified lines, the verification runs, and the agent's own cost figure when
it disagrees with the hub's. Pure: reads the task file's fields, never trusts their types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentdeck.actors.messages import Task

MAX_DIFF_LINES = 600  # lines of diff shown in the panel; the rest is summarised in a note
MAX_LINE = 400  # characters of one diff line shown
CHECK_STATUSES = ("pass", "fail", "error", "timeout", "skip")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _short(sha: Any) -> str:
    return str(sha)[:10] if sha else ""


def diff_lines(diff: str) -> list[dict[str, str]]:
    """Each line of a unified diff with its kind: ``file``, ``hunk``, ``add``, ``del`` or ``ctx``."""
    lines = []
    for line in diff.splitlines()[:MAX_DIFF_LINES]:
        if line.startswith(("diff --git", "index ", "--- ", "+++ ", "new file", "deleted file",
                            "similarity", "rename ", "Binary files")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        lines.append({"kind": kind, "text": line if len(line) <= MAX_LINE else line[:MAX_LINE] + " …"})
    return lines


def _workspace(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    if not raw:
        return None
    value = raw.get("diff")
    diff = value if isinstance(value, str) else ""
    total_lines = diff.count("\n") + (1 if diff and not diff.endswith("\n") else 0)
    notes = []
    if total_lines > MAX_DIFF_LINES:
        notes.append(f"showing the first {MAX_DIFF_LINES} of {total_lines} lines")
    if raw.get("diff_truncated"):
        chars = _count(raw.get("diff_chars"))
        notes.append("the agent kept the first " + (f"{len(diff):,} of {chars:,} characters" if chars
                                                    else f"{len(diff):,} characters"))
    files = []
    for item in _list(raw.get("files_changed")):
        item = _mapping(item)
        if item.get("path"):
            files.append({"path": str(item["path"]), "added": _count(item.get("added")),
                          "removed": _count(item.get("removed")), "binary": bool(item.get("binary"))})
    commits = [{"sha": _short(c.get("sha")), "subject": str(c.get("subject") or "")}
               for c in (_mapping(c) for c in _list(raw.get("commits"))) if c.get("sha")]
    return {"repo": str(raw.get("repo") or ""), "branch": str(raw.get("branch") or ""),
            "base_branch": str(raw.get("base_branch") or ""), "base": _short(raw.get("base_commit")),
            "head": _short(raw.get("head_commit")), "commits": commits, "files": files,
            "insertions": _count(raw.get("insertions")), "deletions": _count(raw.get("deletions")),
            "diff": diff_lines(diff), "diff_note": "; ".join(notes), "note": str(raw.get("note") or ""),
            "worktree": str(raw.get("worktree") or "")}


def _run(report: Mapping[str, Any]) -> dict[str, Any]:
    checks = []
    for check in (_mapping(c) for c in _list(report.get("checks"))):
        status = str(check.get("status") or "")
        checks.append({"target": str(check.get("target") or check.get("description") or check.get("type") or "?"),
                       "status": status if status in CHECK_STATUSES else "unknown",
                       "exit_code": check.get("exit_code"), "duration_ms": _count(check.get("duration_ms")),
                       "output": str(check.get("output") or "")})
    return {"run": _count(report.get("run_number")), "status": str(report.get("status") or ""),
            "checks": checks}


def work_view(task: Task) -> dict[str, Any] | None:
    """The panel's "Work" section, or None for a task no agent has reported changes or checks for."""
    fields = task.fields
    result = _mapping(fields.get("result"))
    workspace = _workspace(_mapping(result.get("workspace")))
    report = _mapping(fields.get("verification_report") or result.get("verification_report"))
    history = [_run(_mapping(r)) for r in _list(fields.get("verification_history")
                                                or result.get("verification_history"))]
    agent_cost = result.get("agent_estimated_cost_usd")
    disagreement = None
    if result.get("cost_disagreement") and isinstance(agent_cost, (int, float)):
        hub_cost = result.get("estimated_cost_usd")
        disagreement = {"agent": float(agent_cost),
                        "hub": float(hub_cost) if isinstance(hub_cost, (int, float)) else None}
    if workspace is None and not report and disagreement is None:
        return None
    return {"workspace": workspace, "status": str(fields.get("verification_status") or ""),
            "report": _run(report) if report else None, "history": history if len(history) > 1 else [],
            "disagreement": disagreement,
            "executor": str(result.get("executor") or ""), "tool_calls": _count(result.get("tool_calls")),
            "turns": _count(result.get("num_turns")), "session": str(result.get("session_id") or "")}
