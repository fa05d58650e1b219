"""Verification steps: the task's commands, run in its worktree after the agent, one by one, each
step's output streamed live and recorded; the first failing step stops the run."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from agentdeck.actors.reference_agent.assignment import field_of
from agentdeck.actors.reference_agent.output import BATCH_SECONDS, Emit, OutputBatcher, batching
from agentdeck.actors.reference_agent.process import run_streaming

MAX_STEP_OUTPUT = 4096  # characters of each step's output kept in the report
DEFAULT_RETRIES = 2


def steps_of(assignment: Mapping[str, Any]) -> list[str]:
    """The commands in ``verification_steps``: strings, or objects with ``command``/``run``/``cmd``."""
    raw = field_of(assignment, "verification_steps")
    if isinstance(raw, str):
        raw = [raw]
    commands = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, Mapping):
            item = item.get("command") or item.get("run") or item.get("cmd")
        if isinstance(item, str) and item.strip():
            commands.append(item.strip())
    return commands


def retries_of(assignment: Mapping[str, Any]) -> int:
    value = field_of(assignment, "max_verification_retries")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 20:
        return value
    return DEFAULT_RETRIES


async def verify(steps: Sequence[str], *, cwd: str | None, emit: Emit, timeout: float, attempt: int,
                 batch_interval: float = BATCH_SECONDS) -> dict[str, Any]:
    """Run ``steps`` in order; returns ``{passed, attempt, steps: [...], failed_step}``."""
    results: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    failed: dict[str, Any] | None = None
    for index, command in enumerate(steps, 1):
        if failed is not None:
            results.append({"command": command, "status": "skipped", "passed": False})
            continue
        batcher = OutputBatcher(emit, batch_interval)
        started = time.monotonic()
        async with batching(batcher):
            batcher.add("status", f"verification {index}/{len(steps)} (try {attempt}): {command}\n")
            outcome = await run_streaming(command, batcher=batcher, cwd=cwd,
                                          timeout=max(deadline - time.monotonic(), 0.001))
            batcher.add("status" if outcome.ok else "error",
                        f"verification {index}/{len(steps)} {'passed' if outcome.ok else 'FAILED'}"
                        f"{'' if outcome.ok else ': ' + outcome.describe(timeout)}\n")
        output = batcher.output
        step = {"command": command, "status": "passed" if outcome.ok else "failed",
                "passed": outcome.ok, "exit_code": outcome.exit_code,
                "duration_ms": int((time.monotonic() - started) * 1000),
                "output": output[-MAX_STEP_OUTPUT:], "output_truncated": len(output) > MAX_STEP_OUTPUT}
        if not outcome.ok:
            step["error"] = outcome.describe(timeout)
            failed = step
        results.append(step)
    return {"attempt": attempt, "passed": failed is None, "steps": results,
            "failed_step": failed["command"] if failed else None}


def feedback_of(report: Mapping[str, Any]) -> str:
    """What the agent is told about a failed verification: the step, how it ended, its output."""
    failed = next((s for s in report.get("steps", []) if s.get("status") == "failed"), None)
    if failed is None:
        return ""
    return (f"Verification step `{failed['command']}` failed ({failed.get('error')}). "
            f"Its output ends with:\n{str(failed.get('output') or '')[-2000:]}")
