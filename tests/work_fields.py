"""Task-file fields of a task a coding agent finished: a worktree result with a diff, and two
verification runs (the first failed). For the panel's tests."""

from __future__ import annotations

DIFF = ("diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n"
        " keep\n-old <b>bold</b>\n+new <script>alert(1)</script>\n")


def done_fields(**extra):
    return {"result": {"status": "success", "executor": "claude", "tool_calls": 3, "num_turns": 5,
                       "workspace": {"repo": "/r", "branch": "agentdeck/t", "base_branch": "main",
                                     "base_commit": "a" * 40, "head_commit": "b" * 40,
                                     "commits": [{"sha": "b" * 40, "subject": "Add x"}],
                                     "files_changed": [{"path": "x.py", "added": 1, "removed": 1},
                                                       {"path": "img.png", "added": None, "removed": None,
                                                        "binary": True}],
                                     "insertions": 1, "deletions": 1, "diff": DIFF}},
            "verification_status": "passed",
            "verification_report": {"run_number": 2, "status": "pass", "checks": [
                {"type": "command", "target": "pytest -q", "status": "pass", "exit_code": 0,
                 "duration_ms": 1200, "output": "1 passed"}]},
            "verification_history": [{"run_number": 1, "status": "fail", "checks": [
                {"target": "pytest -q", "status": "fail", "exit_code": 1, "output": "1 failed"}]},
                {"run_number": 2, "status": "pass", "checks": []}], **extra}
