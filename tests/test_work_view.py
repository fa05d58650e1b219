"""The task panel's "Changes" and "Verification" sections: built from the task file, never trusting
its types, escaped, large diffs truncated with a note; tool calls in the live output get their own
line style."""

from __future__ import annotations

import yaml
from conftest import write_task

from agentdeck.actors.board.taskfile import parse_task
from agentdeck.web.live.regions import output_line
from agentdeck.web.view.work import MAX_DIFF_LINES, diff_lines, work_view

DIFF = ("diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n"
        " keep\n-old <b>bold</b>\n+new <script>alert(1)</script>\n")


def _task(fields: dict):
    return parse_task("done/a/t.yaml", yaml.safe_dump({"id": "t", **fields}).encode())


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


def test_diff_lines_are_classified():
    kinds = [line["kind"] for line in diff_lines(DIFF)]
    assert kinds == ["file", "file", "file", "file", "hunk", "ctx", "del", "add"]


def test_work_view_of_a_done_task():
    work = work_view(_task(done_fields()))
    ws = work["workspace"]
    assert (ws["branch"], ws["base"], ws["head"]) == ("agentdeck/t", "a" * 10, "b" * 10)
    assert ws["files"][1]["binary"] and ws["commits"] == [{"sha": "b" * 10, "subject": "Add x"}]
    assert work["status"] == "passed" and work["report"]["checks"][0]["status"] == "pass"
    assert [run["status"] for run in work["history"]] == ["fail", "pass"]
    assert ws["diff_note"] == ""


def test_hostile_and_odd_fields_do_not_break_it():
    assert work_view(_task({"title": "plain"})) is None
    odd = work_view(_task({"result": {"workspace": {"files_changed": "x", "commits": [1, None, {"sha": 3}],
                                                    "diff": ["no"], "insertions": True}},
                           "verification_report": {"checks": [{"status": "<img>"}, "x"]},
                           "verification_history": "nope"}))
    assert odd["workspace"]["files"] == [] and odd["workspace"]["diff"] == []
    assert odd["report"]["checks"][0]["status"] == "unknown" and odd["history"] == []


def test_a_large_diff_is_truncated_with_a_note():
    big = "".join(f"+line {i}\n" for i in range(MAX_DIFF_LINES + 250))
    fields = done_fields()
    fields["result"]["workspace"].update(diff=big, diff_truncated=True, diff_chars=999_999)
    ws = work_view(_task(fields))["workspace"]
    assert len(ws["diff"]) == MAX_DIFF_LINES
    assert ws["diff_note"] == (f"showing the first {MAX_DIFF_LINES} of {MAX_DIFF_LINES + 250} lines; "
                               f"the agent kept the first {len(big):,} of 999,999 characters")


def test_tool_calls_keep_their_own_kind():
    assert output_line({"event_type": "tool_call", "text": "Bash ls\n"}) == {"kind": "tool_call", "text": "Bash ls"}


async def test_the_panel_shows_branch_files_diff_and_checks_escaped(running_hub):
    write_task(running_hub.board, "done/a/t.yaml", yaml.safe_dump(
        {"id": "t", "title": "T", "status": "done", **done_fields(result={
            **done_fields()["result"], "cost_disagreement": True, "agent_estimated_cost_usd": 0.5,
            "estimated_cost_usd": 0.25})}))

    async def panel():
        response = await running_hub.client.get("/tasks/t", headers={"HX-Request": "true"})
        return response.text if response.status_code == 200 else None

    from conftest import wait_until
    html = await wait_until(panel)
    assert "<code>agentdeck/t</code>" in html and "Add x" in html
    assert '<span class="dl dl-add">+new &lt;script&gt;alert(1)&lt;/script&gt;</span>' in html
    assert '<span class="dl dl-del">-old &lt;b&gt;bold&lt;/b&gt;</span>' in html
    assert "<script>alert(1)" not in html
    assert 'class="badge check-badge check-pass">pass</span> <code>pytest -q</code>' in html
    assert "All 2 runs" in html and "+1" in html and "binary" in html
    assert "The agent reported $0.5000; the hub priced the tokens at $0.2500." in html
    assert "claude, 3 tool calls, 5 turns" in html
