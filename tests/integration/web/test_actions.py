"""Acting on work from the page: Cancel (queued and running), the dead letter grouped by error with
count and money, Retry of a whole group, bulk by ids; every one refused without the page's token."""

from __future__ import annotations

import re

from agent_client import AgentClient, accept_next
from conftest import task_yaml, wait_until, write_task

from agentdeck.web.view.dead_letter import error_signature


async def _same(running) -> dict[str, str]:
    page = await running.client.get("/")
    token = running.client.cookies.get("agentdeck_csrf")
    assert token and token in page.text
    return {"X-CSRF-Token": token, "Sec-Fetch-Site": "same-origin", "Origin": running.base_url}


def test_errors_group_without_the_numbers_that_vary():
    assert error_signature("timeout after 31 s (pid 4411)") == error_signature("timeout after 58 s (pid 7)")
    assert error_signature("exit code 1\nTraceback ...") == "exit code #"
    assert error_signature("") == "no error recorded"


async def test_cancel_is_refused_cross_site_and_cancels_queued_and_running(running_hub):
    write_task(running_hub.board, "inbox/q.yaml", task_yaml(id="q", title="queued", agent="nobody"))
    write_task(running_hub.board, "inbox/r.yaml", task_yaml(id="r", title="to run"))
    client = running_hub.client
    same = await _same(running_hub)
    refused = await client.post("/tasks/q/cancel", headers={**same, "X-CSRF-Token": "wrong" * 8})
    assert refused.status_code == 403 and "CSRF" in refused.text
    cross = await client.post("/tasks/q/cancel", headers={**same, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    ok = await client.post("/tasks/q/cancel", headers=same)
    assert ok.status_code == 200 and "Cancelled" in ok.text
    await wait_until(lambda: (running_hub.board / "dead/q.yaml").exists())

    async with AgentClient.connect(running_hub.base_url, "a1") as agent:
        await accept_next(agent, task_id="r")
        panel = await client.get("/tasks/r", headers={"HX-Request": "true"})
        assert 'hx-post="/tasks/r/cancel"' in panel.text
        running = await client.post("/tasks/r/cancel", headers=same)
        assert running.status_code == 200
        told = await agent.expect("task_cancelled")
        assert told["task_id"] == "r"
    await wait_until(lambda: (running_hub.board / "dead/r.yaml").exists())
    again = await client.post("/tasks/r/cancel", headers=same)
    assert again.status_code == 404


async def test_dead_letter_groups_by_error_with_money_and_retries_a_group(running_hub):
    board = running_hub.board
    for n in range(3):
        write_task(board, f"dead/t{n}.yaml", task_yaml(
            id=f"t{n}", title=f"timed out {n}", status="dead", last_error=f"timeout after {30 + n} s",
            attempts=[{"generation": 1, "outcome": "failed", "cost_usd": 0.25}]))
    write_task(board, "dead/x.yaml", task_yaml(id="x", title="other", status="dead", last_error="disk full"))

    async def grouped():
        page = (await running_hub.client.get("/")).text
        lane = re.search(r'<section id="lane-dead".*?</section>', page, re.S).group(0)
        return lane if "Retry 3" in lane and "disk full" in lane else None
    lane = await wait_until(grouped)
    assert "timeout after # s" in lane and "$0.75" in lane
    assert lane.index("timeout after # s") < lane.index("disk full")  # the biggest group first
    key = re.search(r'"group": "([0-9a-f]{12})"', lane).group(1)
    same = await _same(running_hub)
    refused = await running_hub.client.post("/tasks/bulk", data={"action": "retry", "group": key})
    assert refused.status_code == 403
    done = await running_hub.client.post("/tasks/bulk", data={"action": "retry", "group": key}, headers=same)
    assert done.status_code == 200 and "3 retried" in done.text
    await wait_until(lambda: all((board / f"inbox/t{n}.yaml").exists() for n in range(3)))
    assert (board / "dead/x.yaml").exists()

    by_ids = await running_hub.client.post("/tasks/bulk", headers=same,
                                           data={"action": "cancel", "ids": ["t0", "t1", "nope"]})
    assert by_ids.status_code == 200 and "2 cancelled, 1 skipped" in by_ids.text
    bad = await running_hub.client.post("/tasks/bulk", headers=same, data={"action": "delete", "ids": ["t2"]})
    assert bad.status_code == 400
