"""The task panel's "Changes" and "Verification" sections: built from the task file, never trusting
its types, escaped, large diffs truncated with a note; tool calls in the live output get their own
line style."""

from __future__ import annotations

import yaml
from work_fields import DIFF, done_fields

from agentdeck.actors.board.taskfile import parse_task
from agentdeck.web.live.regions import output_line
from agentdeck.web.view.work import MAX_DIFF_LINES, diff_lines, work_view


def _task(fields: dict):
    return parse_task("done/a/t.yaml", yaml.safe_dump({"id": "t", **fields}).encode())


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
