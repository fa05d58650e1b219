"""Verification results a ``task_complete`` carries, reduced to what the done file keeps.

The Elixir hub's sidecars (and the reference agent) run the task's ``verification_steps`` after
the work and send ``verification_report`` (the last run) and ``verification_history`` (every run)
at the top level of ``task_complete``; ``result.verification_status`` says how the bounded retry
loop ended. Shapes are in ``docs/protocol.md``. A failed verification is a completed task that did
not pass its checks: ``verification_status: failed``, never a plain success.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REPORT_PASSED = frozenset({"pass"})
REPORT_FAILED = frozenset({"fail", "error", "timeout"})
REPORT_SKIPPED = frozenset({"skip"})
REPORT_NO_CHECKS = frozenset({"auto_pass"})
LOOP_FAILED = frozenset({"partial_pass", "execution_failed"})
MAX_CHECK_OUTPUT = 4096
MAX_CHECKS = 64
MAX_RUNS = 20
STATUSES = ("passed", "failed", "skipped", "no_checks")


def _report_of(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    report = {k: v for k, v in value.items() if k != "checks"}
    checks = value.get("checks")
    if isinstance(checks, list):
        kept = []
        for check in checks[:MAX_CHECKS]:
            if not isinstance(check, Mapping):
                continue
            check = dict(check)
            output = check.get("output")
            if isinstance(output, str) and len(output) > MAX_CHECK_OUTPUT:
                check["output"] = output[-MAX_CHECK_OUTPUT:]
                check["output_truncated"] = True
            kept.append(check)
        report["checks"] = kept
    return report


def status_of(report: Mapping[str, Any] | None, loop_status: Any) -> str | None:
    """``passed``, ``failed``, ``skipped``, ``no_checks`` (nothing to verify), or None (no report)."""
    if loop_status in LOOP_FAILED:
        return "failed"
    report_status = report.get("status") if report else None
    if report_status in REPORT_FAILED:
        return "failed"
    if report_status in REPORT_PASSED or (loop_status == "verified" and report_status is None):
        return "passed"
    if report_status in REPORT_SKIPPED:
        return "skipped"
    if report_status in REPORT_NO_CHECKS:
        return "no_checks"
    if report is not None:
        return "failed"  # a report whose status we cannot read did not show a pass
    return None


def verification_of(body: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{verification_status, verification_report, verification_history}`` of a ``task_complete``
    (top-level fields first, as sidecars send them; inside ``result`` as some agents do); None
    when it carries no verification at all."""
    report = _report_of(body.get("verification_report") or result.get("verification_report"))
    history_raw = body.get("verification_history") or result.get("verification_history")
    history = [r for r in (_report_of(item) for item in history_raw[-MAX_RUNS:])
               if r is not None] if isinstance(history_raw, list) else []
    if report is None and history:
        report = history[-1]
    status = status_of(report, result.get("verification_status"))
    if status is None:
        return None
    return {"verification_status": status, "verification_report": report,
            "verification_history": history or None}
