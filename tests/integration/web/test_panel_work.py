"""The task panel shows what a coding agent did: branch, files, the escaped diff, verification."""

from __future__ import annotations

import yaml
from conftest import wait_until, write_task
from work_fields import done_fields


async def test_the_panel_shows_branch_files_diff_and_checks_escaped(running_hub):
    write_task(running_hub.board, "done/a/t.yaml", yaml.safe_dump(
        {"id": "t", "title": "T", "status": "done", **done_fields(result={
            **done_fields()["result"], "cost_disagreement": True, "agent_estimated_cost_usd": 0.5,
            "estimated_cost_usd": 0.25})}))

    async def panel():
        response = await running_hub.client.get("/tasks/t", headers={"HX-Request": "true"})
        return response.text if response.status_code == 200 else None

    html = await wait_until(panel)
    assert "<code>agentdeck/t</code>" in html and "Add x" in html
    assert '<span class="dl dl-add">+new &lt;script&gt;alert(1)&lt;/script&gt;</span>' in html
    assert '<span class="dl dl-del">-old &lt;b&gt;bold&lt;/b&gt;</span>' in html
    assert "<script>alert(1)" not in html
    assert 'class="badge check-badge check-pass">pass</span> <code>pytest -q</code>' in html
    assert "All 2 runs" in html and "+1" in html and "binary" in html
    assert "The agent reported $0.5000; the hub priced the tokens at $0.2500." in html
    assert "claude, 3 tool calls, 5 turns" in html
