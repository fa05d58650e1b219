"""One attempt at a task: in its own git worktree when it names a ``repo``, the executor, then the
verification steps, fed back to the executor until they pass or the retries run out, then the commit
and the summary of what changed.

Cancellation (cancel, reassign, timeout of the whole agent) removes the worktree; the branch goes too
when this attempt created it and nothing was committed, unless the agent keeps failed branches.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from agentdeck.actors.reference_agent.assignment import field_of
from agentdeck.actors.reference_agent.output import Emit
from agentdeck.actors.reference_agent.verification import (
    feedback_of,
    first_failure,
    retries_of,
    run_timeout_of,
    steps_of,
    verify,
)
from agentdeck.actors.reference_agent.workspace import (
    Workspace,
    WorkspaceError,
    open_workspace,
    remove,
    summarize,
)

# (cwd, feedback) -> the executor's result
RunExecutor = Callable[[str | None, str | None], Awaitable[dict[str, Any]]]
SUMMED = ("tokens_in", "tokens_out", "cache_read_tokens", "cache_creation_tokens", "estimated_cost_usd",
          "equivalent_claude_cost_usd", "num_turns", "tool_calls")


@attrs.frozen
class WorkspaceOptions:
    root: Path  # worktrees and clones live under it
    base_dir: Path  # relative repo paths are resolved from here
    keep_worktrees: bool = False
    keep_failed_branches: bool = False


def _failure(error: str, **extra: Any) -> dict[str, Any]:
    return {"status": "failed", "output": "", "model_used": "none", "tokens_in": 0, "tokens_out": 0,
            "estimated_cost_usd": 0.0, "equivalent_claude_cost_usd": None, "execution_ms": 0,
            "error": error, **extra}


def _merge(total: dict[str, Any] | None, result: dict[str, Any]) -> dict[str, Any]:
    """Results of several tries as one: the last one's fields, counts and costs summed."""
    if total is None:
        return dict(result)
    merged = {**total, **result}
    for key in SUMMED:
        values = [v for v in (total.get(key), result.get(key)) if isinstance(v, (int, float))]
        if values:
            merged[key] = sum(values)
    merged["output"] = (str(total.get("output") or "") + str(result.get("output") or ""))[-128 * 1024:]
    return merged


async def run_attempt(assignment: Mapping[str, Any], *, run_executor: RunExecutor, emit: Emit,
                      options: WorkspaceOptions, cwd: str | None, timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    task_id = str(assignment.get("task_id"))
    source = field_of(assignment, "repo")
    keep = options.keep_worktrees or field_of(assignment, "keep_worktree") is True
    workspace: Workspace | None = None
    if isinstance(source, str) and source.strip():
        try:
            workspace = await open_workspace(
                source.strip(), task_id, branch=field_of(assignment, "branch"),
                base_branch=field_of(assignment, "base_branch"), root=options.root, base_dir=options.base_dir,
                keep=keep)
        except WorkspaceError as error:
            return _failure(f"workspace: {error}")
        cwd = workspace.path
        await emit({"event_type": "status", "timestamp": int(time.time() * 1000),
                    "text": f"worktree {workspace.path} on branch {workspace.branch} from "
                            f"{workspace.base_ref} ({workspace.base_commit[:10]})"
                            + (f"; {workspace.note}" if workspace.note else "") + "\n"})
    summarized = False
    try:
        result = await _run_and_verify(assignment, run_executor, emit, cwd, timeout, started)
        if workspace is not None and (result["status"] == "success" or "verification_report" in result):
            title = str(field_of(assignment, "title") or assignment.get("description") or task_id)
            message = (f"{title.splitlines()[0][:72] if title.strip() else task_id}\n\n"
                       f"agentdeck task {task_id} (attempt {assignment.get('generation')}, "
                       f"{result.get('executor') or result.get('model_used')})")
            try:
                result["workspace"] = await summarize(workspace, commit_message=message)
                summarized = True
            except WorkspaceError as error:
                result.update(status="failed", error=f"workspace: {error}")
            result["workspace"] = {**result.get("workspace", {}), "worktree": workspace.path if keep else None}
        return result
    finally:
        if workspace is not None and not (summarized and keep):
            await remove(workspace, drop_branch=not summarized and not options.keep_failed_branches)


async def _run_and_verify(assignment: Mapping[str, Any], run_executor: RunExecutor, emit: Emit,
                          cwd: str | None, timeout: float, started: float) -> dict[str, Any]:
    """The executor, then the verification runs, fed back until one passes or retries run out.

    The result carries ``verification_report`` (the last run), ``verification_history`` (every
    run), ``verification_status`` (``verified``, ``partial_pass``, ``execution_failed``) and
    ``verification_attempts``; a run that never passed fails the attempt, naming the step."""
    steps = steps_of(assignment)
    retries = retries_of(assignment)
    history: list[dict[str, Any]] = []
    total: dict[str, Any] | None = None
    feedback: str | None = None
    for run_number in range(1, retries + 2):
        result = await run_executor(cwd, feedback)
        total = _merge(total, result)
        if result.get("status") != "success" or not steps:
            break
        remaining = max(timeout - (time.monotonic() - started), 1.0)
        report = await verify(steps, task_id=str(assignment.get("task_id")), cwd=cwd, emit=emit,
                              timeout=min(remaining, run_timeout_of(assignment) or remaining),
                              run_number=run_number)
        history.append(report)
        if report["status"] == "pass":
            break
        feedback = feedback_of(report)
        if run_number <= retries:
            await emit({"event_type": "status", "timestamp": int(time.time() * 1000),
                        "text": f"verification failed: back to the agent (retry {run_number}/{retries})\n"})
    assert total is not None
    total["execution_ms"] = int((time.monotonic() - started) * 1000)
    if history:
        last = history[-1]
        passed = last["status"] == "pass"
        total.update(verification_report=last, verification_history=history,
                     verification_attempts=len(history),
                     verification_status="verified" if passed else "partial_pass")
        failed = first_failure(last)
        if failed is not None:
            total["status"] = "failed"
            runs = f"{len(history)} run{'s' if len(history) != 1 else ''}"
            total["error"] = f"verification step `{failed['target']}` failed ({failed.get('error')}) after {runs}"
    elif steps and total.get("status") != "success":
        total["verification_status"] = "execution_failed"
    return total
