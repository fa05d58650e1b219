"""Verification steps: the task's commands, run in its worktree after the agent, one by one, each
step's output streamed live and recorded.

A run is reported in the shape the hub keeps (``docs/protocol.md``, "Verification results"): a
``verification_report`` with one ``check`` per step (``pass``, ``fail``, ``timeout`` or ``error``
when it could not start) and a summary. Every step runs, so the report shows all that failed; the
first failing one is what the agent is told and what the task's error names.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from agentdeck.actors.reference_agent.assignment import field_of
from agentdeck.actors.reference_agent.output import BATCH_SECONDS, Emit, OutputBatcher, batching
from agentdeck.actors.reference_agent.process import run_streaming

MAX_STEP_OUTPUT = 4096  # characters of each step's output kept in the report
DEFAULT_RETRIES = 0  # the hub's default for max_verification_retries


def steps_of(assignment: Mapping[str, Any]) -> list[str]:
    """The commands in ``verification_steps``: strings, or objects with ``command``/``run``/``cmd``;
    none when the task says ``skip_verification``."""
    if field_of(assignment, "skip_verification") is True:
        return []
    raw = field_of(assignment, "verification_steps")
    if isinstance(raw, str):
        raw = [raw]
    commands = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, Mapping):
            item = item.get("command") or item.get("run") or item.get("cmd") or item.get("target")
        if isinstance(item, str) and item.strip():
            commands.append(item.strip())
    return commands


def retries_of(assignment: Mapping[str, Any]) -> int:
    value = field_of(assignment, "max_verification_retries")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 20:
        return value
    return DEFAULT_RETRIES


def run_timeout_of(assignment: Mapping[str, Any]) -> float | None:
    value = field_of(assignment, "verification_timeout_ms")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return value / 1000
    return None


async def verify(steps: Sequence[str], *, task_id: str, cwd: str | None, emit: Emit, timeout: float,
                 run_number: int, batch_interval: float = BATCH_SECONDS) -> dict[str, Any]:
    """Run every step in order; returns the ``verification_report`` of this run."""
    checks: list[dict[str, Any]] = []
    started_wall, started = int(time.time() * 1000), time.monotonic()
    deadline = started + timeout
    for index, command in enumerate(steps, 1):
        batcher = OutputBatcher(emit, batch_interval)
        step_started = time.monotonic()
        async with batching(batcher):
            batcher.add("status", f"verification {index}/{len(steps)} (run {run_number}): {command}\n")
            outcome = await run_streaming(command, batcher=batcher, cwd=cwd,
                                          timeout=max(deadline - time.monotonic(), 0.001))
            batcher.add("status" if outcome.ok else "error",
                        f"verification {index}/{len(steps)} {'passed' if outcome.ok else 'FAILED'}"
                        f"{'' if outcome.ok else ': ' + outcome.describe(timeout)}\n")
        output = batcher.output
        status = "pass" if outcome.ok else "timeout" if outcome.timed_out else \
            "error" if outcome.start_error else "fail"
        checks.append({"type": "command", "target": command, "description": None, "status": status,
                       "exit_code": outcome.exit_code, "error": None if outcome.ok else outcome.describe(timeout),
                       "output": output[-MAX_STEP_OUTPUT:], "output_truncated": len(output) > MAX_STEP_OUTPUT,
                       "duration_ms": int((time.monotonic() - step_started) * 1000)})
    summary = {"total": len(checks), "passed": sum(c["status"] == "pass" for c in checks),
               "failed": sum(c["status"] == "fail" for c in checks),
               "errors": sum(c["status"] == "error" for c in checks),
               "timed_out": sum(c["status"] == "timeout" for c in checks)}
    failing = next((c["status"] for c in checks if c["status"] != "pass"), None)
    return {"task_id": task_id, "run_number": run_number, "status": failing or "pass",
            "started_at": started_wall, "duration_ms": int((time.monotonic() - started) * 1000),
            "timeout_ms": int(timeout * 1000), "checks": checks, "summary": summary}


def first_failure(report: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((c for c in report.get("checks", []) if c.get("status") != "pass"), None)


def feedback_of(report: Mapping[str, Any]) -> str:
    """What the agent is told about a failed run: the step, how it ended, its output."""
    failed = first_failure(report)
    if failed is None:
        return ""
    return (f"Verification step `{failed['target']}` failed ({failed.get('error')}). "
            f"Its output ends with:\n{str(failed.get('output') or '')[-2000:]}")
