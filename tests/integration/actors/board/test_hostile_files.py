"""Hostile files and results on the board (issue 12 items 12, 13, 15, 16, 19, 21): what an agent may
write, name collisions, FIFOs, links, huge dependency lists and file names that forge log lines."""

from __future__ import annotations

import json
import logging
import os

import trio
from agent_client import AgentClient, accept_next
from conftest import task_yaml, wait_until, write_task

from agentdeck.actors.board.taskfile import read_task_file
from agentdeck.web.cli import OneLineFormatter


async def _task(hub, task_id: str) -> dict | None:
    response = await hub.client.get(f"/api/tasks/{task_id}")
    return response.json() if response.status_code == 200 else None


async def test_a_huge_or_deep_result_still_leaves_a_readable_done_file(running_hub, board_dir):
    write_task(board_dir, "inbox/big.yaml", task_yaml(id="big", title="big result"))
    write_task(board_dir, "inbox/deep.yaml", task_yaml(id="deep", title="deep result"))
    deep: list = []
    for _ in range(450):
        deep = [deep]
    results = {"big": {"output": [["x" * 90] * 100] * 80, "extra": {"k": "v" * 150_000}},
               "deep": {"output": "fine", "error": {"nested": deep}}}
    async with AgentClient.connect(running_hub.base_url, "a1") as agent:
        for _ in range(2):
            assign = await accept_next(agent)
            frame = json.dumps({"type": "task_complete", "task_id": assign["task_id"],
                                "generation": assign["generation"], "result": results[assign["task_id"]]})
            assert len(frame.encode()) < 1024 * 1024
            await agent.send_raw(frame)
            ack = await agent.expect("task_ack", task_id=assign["task_id"])
            assert ack["status"] == "complete"
    for task_id in ("big", "deep"):
        task = await _task(running_hub, task_id)
        assert task is not None and task["lane"] == "done", task_id
        path = board_dir / task["path"]
        assert path.stat().st_size < 256 * 1024
        assert read_task_file(board_dir, task["path"]).invalid is None


async def test_a_move_onto_a_taken_name_keeps_both_tasks(start_hub, board_dir):
    write_task(board_dir, "dead/same.yaml", task_yaml(id="in-dead", title="already dead"))
    write_task(board_dir, "inbox/same.yaml", task_yaml(id="queued", title="will be cancelled", agent="nobody"))
    hub = await start_hub()
    url = hub.base_url.replace("http://", "ws://") + "/ws/dashboard"
    from trio_websocket import open_websocket_url

    async with open_websocket_url(url) as ws:
        await ws.get_message()
        await ws.send_message(json.dumps({"type": "cancel_task", "task_id": "queued"}))
        with trio.fail_after(5):
            while json.loads(await ws.get_message())["type"] != "cancel_result":
                pass
    files = sorted(p.name for p in (board_dir / "dead").iterdir())
    assert len(files) == 2 and "same.yaml" in files, files
    listed = (await hub.client.get("/api/tasks")).json()
    assert sorted(t["id"] for t in listed["dead"]) == ["in-dead", "queued"]


async def test_a_fifo_named_like_a_task_never_hangs_the_watcher(running_hub, board_dir):
    os.mkfifo(board_dir / "inbox" / "pipe.yaml")
    write_task(board_dir, "inbox/after.yaml", task_yaml(id="after", title="written after the fifo"))

    async def seen() -> bool:
        return await _task(running_hub, "after") is not None

    await wait_until(seen, timeout=5)

    async def refused() -> bool:
        invalid = (await running_hub.client.get("/api/tasks")).json()["invalid"]
        return any(i["path"] == "inbox/pipe.yaml" and "regular file" in i["error"] for i in invalid)

    await wait_until(refused, timeout=5)
    health = await running_hub.client.get("/health")
    assert health.status_code == 200 and health.json()["watcher"]["mode"] == "native"


async def test_linked_lane_directories_and_hard_links_are_not_followed(start_hub, board_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(task_yaml(id="secret", title="exfiltrated", description="hunter2"))
    (board_dir / "dead").rmdir()
    (board_dir / "dead").symlink_to(outside, target_is_directory=True)
    (board_dir / "done" / "a1").mkdir(parents=True)
    os.link(outside / "secret.yaml", board_dir / "done" / "a1" / "linked.yaml")
    hub = await start_hub()
    body = (await hub.client.get("/api/tasks")).text
    assert "hunter2" not in body and "exfiltrated" not in body
    invalid = {i["path"]: i["error"] for i in (await hub.client.get("/api/tasks")).json()["invalid"]}
    assert "symbolic link" in invalid["dead/secret.yaml"]
    assert "hard links" in invalid["done/a1/linked.yaml"]


async def test_a_file_naming_90000_missing_dependencies_keeps_the_graph_small(running_hub, board_dir):
    deps = [f"m{n}" for n in range(90_000)]  # the file stays under the 1 MiB limit
    write_task(board_dir, "inbox/many.yaml", task_yaml(id="many", title="many deps", dependencies=deps))

    async def seen() -> bool:
        return await _task(running_hub, "many") is not None

    await wait_until(seen, timeout=20)
    graph = await running_hub.client.get("/graph", timeout=30)
    assert graph.status_code == 200 and len(graph.content) < 2 * 1024 * 1024
    panel = await running_hub.client.get("/tasks/many", headers={"HX-Request": "true"}, timeout=30)
    assert panel.status_code == 200 and panel.text.count('href="/tasks/m') <= 250


def test_a_newline_in_a_file_name_cannot_forge_a_log_line():
    record = logging.LogRecord("agentdeck.watcher", logging.WARNING, __file__, 1, "invalid task file %s: %s",
                               ("inbox/x.yaml\n2026-01-01 INFO agentdeck: all good", "bad"), None)
    line = OneLineFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert "\n" not in line and "\\n2026-01-01 INFO" in line


async def test_tasks_with_fields_of_the_wrong_type_never_stop_scheduling(running_hub, board_dir):
    odd = [{"needed_capabilities": 5}, {"attempts": 5, "generation": "x"}, {"routing_decision": 7},
           {"dependencies": 5}, {"max_retries": "many", "priority": ["high"]},
           {"created": "9999-12-31T23:59:59-12:00", "retry_after": "0001-01-01T00:00:00+14:00"},
           {"complexity": [1, 2], "model": {"a": 1}, "shell_command": ["echo", 1]}]
    for index, fields in enumerate(odd):
        content = task_yaml(**{"id": f"odd{index}", "priority": "critical", **fields})
        write_task(board_dir, f"inbox/odd{index}.yaml", content)
    write_task(board_dir, "inbox/good.yaml", task_yaml(id="good", title="ordinary", priority="low"))
    seen: set[str] = set()
    async with AgentClient.connect(running_hub.base_url, "a1", capabilities=["shell"]) as agent:
        with trio.fail_after(20):
            while "good" not in seen:
                assign = await accept_next(agent)
                seen.add(assign["task_id"])
                await agent.send("task_complete", task_id=assign["task_id"], generation=assign["generation"],
                                 result={"status": "success", "output": "ok"})
                await agent.expect("task_ack", task_id=assign["task_id"])
    health = (await running_hub.client.get("/health")).json()
    assert not [a for a in health["actors"] if a["restarts"]]
