"""Run history bounded for the whole board, not only per task: past the board's bound the output of
the least recently active tasks goes, whole tasks at a time, and each such task says so in its panel
and its download, also after a restart."""

from __future__ import annotations

import os

from agent_client import AgentClient, accept_next
from conftest import task_yaml, wait_until, write_task

from agentdeck.actors.protocol.run_history import RunHistory, task_key

KIB = 1024


def on_disk(root) -> int:
    return sum(path.stat().st_size for path in root.glob("*/*.jsonl"))


def test_the_board_stays_within_its_bound_and_the_least_recently_active_tasks_go(tmp_path):
    history = RunHistory(tmp_path, 16 * KIB, max_total_bytes=64 * KIB)
    line = [("stdout", "x" * 1000)] * 4
    for n in range(30):
        history.append(f"task-{n:02}", 1, line)
        assert on_disk(tmp_path) <= 64 * KIB
    kept = [n for n in range(30) if history.read(f"task-{n:02}").attempts]
    assert kept == list(range(kept[0], 30)) and kept[0] > 0  # the newest are kept, in one run
    gone = history.read("task-00")
    assert gone.attempts == () and gone.dropped_attempts == (1,)
    assert gone.dropped_attempt_bytes > 4000 and gone.board_cap == 64 * KIB
    assert history.read("task-29").board_cap == 0
    # a task that streams again is the most recently active one: it is not the one to go
    history.append("task-00", 2, line)
    history.append(f"task-{kept[0]:02}", 1, line)
    for n in range(30, 40):
        history.append(f"task-{n:02}", 1, line)
    assert [a.generation for a in history.read("task-00").attempts] in ([2], [])
    assert on_disk(tmp_path) <= 64 * KIB


def test_a_restarted_hub_learns_what_is_on_disk_before_it_writes(tmp_path):
    first = RunHistory(tmp_path, 16 * KIB, max_total_bytes=64 * KIB)
    for n in range(12):
        first.append(f"old-{n:02}", 1, [("stdout", "y" * 1000)] * 4)
    old = {n: (tmp_path / task_key(f"old-{n:02}")) for n in range(12)}
    for n, directory in old.items():  # the older the task, the longer ago it was written
        for path in directory.glob("*.jsonl"):
            os.utime(path, (1_000_000 + n, 1_000_000 + n))
    second = RunHistory(tmp_path, 16 * KIB, max_total_bytes=64 * KIB)
    for n in range(6):
        second.append(f"new-{n}", 1, [("stdout", "z" * 1000)] * 4)
    assert on_disk(tmp_path) <= 64 * KIB
    survivors = [n for n in range(12) if second.read(f"old-{n:02}").attempts]
    assert survivors and survivors == list(range(survivors[0], 12))  # oldest writes went first
    assert all(second.read(f"new-{n}").attempts for n in range(6))


async def test_the_panel_of_a_task_trimmed_for_the_board_says_why(start_hub, board_dir):
    for n in range(8):
        write_task(board_dir, f"inbox/t{n}.yaml", task_yaml(id=f"t{n}", title=f"chatty {n}",
                                                           created=f"2026-11-01T00:00:0{n}Z"))
    running = await start_hub(run_history_bytes=16 * KIB, run_history_total_bytes=48 * KIB)
    async with AgentClient.connect(running.base_url, "a1") as agent:
        for n in range(8):
            assign = await accept_next(agent, task_id=f"t{n}")
            for k in range(12):
                await agent.send("task_progress", task_id=f"t{n}",
                                 execution_event={"event_type": "stdout", "text": f"t{n} line {k} " + "q" * 900})
            await agent.send("task_complete", task_id=f"t{n}", generation=assign["generation"],
                             result={"status": "success", "output": "done"})
            await agent.expect("task_ack")

    async def trimmed():
        page = await running.client.get("/tasks/t0", headers={"HX-Request": "true"})
        return page.text if "whole board" in page.text else None
    text = await wait_until(trimmed, timeout=20)
    assert "output of attempt 1" in text and "whole board within 48.0 KiB" in text
    assert "the least recently active tasks" in text
    latest = await running.client.get("/tasks/t7", headers={"HX-Request": "true"})
    assert "t7 line 11" in latest.text and "whole board" not in latest.text
    download = await running.client.get("/tasks/t0/output.txt")
    assert "to keep the whole board within its run-history limit" in download.text
    assert on_disk(running.hub.config.runs_dir) <= 48 * KIB
