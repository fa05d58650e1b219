"""Task ids that look like paths (issue 12 item 7): every link is one path segment, the panel gets
task fragments only, and '.'/'..' never name a task."""

from __future__ import annotations

import re

from conftest import task_yaml, wait_until, write_task

from agentdeck.actors.board.taskfile import parse_task
from agentdeck.web.view.present import path_segment


def test_an_id_is_encoded_as_one_path_segment():
    assert path_segment("../api/tasks") == "..%2Fapi%2Ftasks"
    assert path_segment("a?b#c%d e") == "a%3Fb%23c%25d%20e"


def test_dot_ids_name_the_task_by_its_file():
    for task_id in (".", "..", "..."):
        assert parse_task("inbox/x.yaml", task_yaml(id=task_id).encode()).id == "x"


async def test_links_to_path_like_ids_stay_under_tasks(running_hub, board_dir):
    write_task(board_dir, "dead/a.yaml", task_yaml(id="../api/tasks", title="climber",
                                                   dependencies=["../api/agents"]))
    async def listed() -> bool:
        return (await running_hub.client.get("/api/tasks/..%2Fapi%2Ftasks")).status_code == 200

    await wait_until(listed, timeout=5)
    page = (await running_hub.client.get("/")).text
    hrefs = set(re.findall(r'href="(/tasks/[^"]*)"', page)) | set(re.findall(r'hx-post="(/tasks/[^"]*)"', page))
    assert hrefs, "the card links somewhere"
    for href in hrefs:
        assert "/../" not in href and "/tasks/../" not in href, href
    assert "/tasks/..%2Fapi%2Ftasks" in page
    panel = await running_hub.client.get("/tasks/..%2Fapi%2Ftasks", headers={"HX-Request": "true"})
    assert panel.status_code == 200 and panel.headers["content-type"].startswith("text/html")
    assert 'href="/tasks/..%2Fapi%2Fagents"' in panel.text
    assert 'href="/tasks/../' not in panel.text
