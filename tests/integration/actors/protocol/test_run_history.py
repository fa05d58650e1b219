"""Run history: every attempt's output on disk beside the board's state, bounded per task, shown in
the panel after a restart (with what was trimmed), downloadable; the file's output when no history."""

from __future__ import annotations

from agent_client import AgentClient, accept_next
from conftest import task_yaml, wait_until, write_task

from agentdeck.actors.messages import GetRunHistory
from agentdeck.actors.protocol.run_history import RunHistory, task_key


def test_attempts_are_kept_apart_and_read_back_in_order(tmp_path):
    history = RunHistory(tmp_path, 1 << 20)
    history.append("t/1", 1, [("stdout", "first\n"), ("token", "Hel")])
    history.append("t/1", 1, [("token", "lo")])
    history.append("t/1", 2, [("stderr", "again\n")])
    record = history.read("t/1")
    assert [a.generation for a in record.attempts] == [1, 2]
    assert record.attempts[0].lines == (("stdout", "first\n"), ("token", "Hel"), ("token", "lo"))
    assert record.latest.lines == (("stderr", "again\n"),)
    assert not record.dropped_attempts
    assert history.read("unknown").attempts == ()
    assert (tmp_path / task_key("t/1")).parent == tmp_path  # the id never becomes a path


def test_oldest_attempts_are_trimmed_first_and_the_trim_is_recorded(tmp_path):
    history = RunHistory(tmp_path, 16 * 1024)
    for generation in range(1, 6):
        history.append("t", generation, [("stdout", f"{generation}-" + "x" * 1000)] * 4)
    record = history.read("t")
    kept = [a.generation for a in record.attempts]
    assert kept[-1] == 5 and kept == list(range(kept[0], 6)) and kept[0] > 1
    assert record.dropped_attempts == tuple(range(1, kept[0]))
    assert record.dropped_attempt_bytes > 0
    assert sum(p.stat().st_size for p in (tmp_path / task_key("t")).glob("*.jsonl")) <= 16 * 1024
    # a fresh process (new object) reads the same notes
    assert RunHistory(tmp_path, 16 * 1024).read("t") == record


def test_one_huge_attempt_keeps_its_tail_from_a_whole_line(tmp_path):
    history = RunHistory(tmp_path, 8 * 1024)
    for n in range(400):
        history.append("big", 3, [("stdout", f"line {n:04d} " + "y" * 40)])
    attempt = history.read("big").latest
    numbers = [int(text.split()[1]) for _, text in attempt.lines]
    assert numbers == list(range(numbers[0], 400)) and numbers[0] > 0  # newest kept, whole lines
    assert attempt.dropped_bytes > 0


def test_a_line_cut_by_a_crash_does_not_hide_the_rest(tmp_path):
    RunHistory(tmp_path, 1 << 20).append("t", 1, [("stdout", "ok")])
    path = tmp_path / task_key("t") / "000001.jsonl"
    with open(path, "ab") as out:
        out.write(b'["stdout", "cut mid-wr')
    restarted = RunHistory(tmp_path, 1 << 20)
    restarted.append("t", 1, [("stdout", "after")])
    assert [t for _, t in restarted.read("t").latest.lines] == ["ok", "after"]


async def test_output_survives_a_restart_and_is_served_to_the_panel(start_hub, board_dir):
    write_task(board_dir, "inbox/t.yaml", task_yaml(id="run/1", title="streams"))
    first = await start_hub()
    async with AgentClient.connect(first.base_url, "a1") as agent:
        assign = await accept_next(agent, task_id="run/1")
        for n in range(80):
            await agent.send("task_progress", task_id="run/1",
                             execution_event={"event_type": "stdout", "text": f"out <{n}>\n"})
        await agent.send("task_complete", task_id="run/1", generation=assign["generation"],
                         result={"status": "success", "output": "short summary"})
        await agent.expect("task_ack")

    async def on_disk():
        record = await first.hub.ask_output(GetRunHistory("run/1"))
        return record if record.latest and len(record.latest.lines) == 80 else None
    await wait_until(on_disk)
    first.hub.stop()
    await wait_until(lambda: first.hub.shutdown.is_set())

    second = await start_hub()
    page = await second.client.get("/tasks/run%2F1", headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert "out &lt;0&gt;" in page.text and "out &lt;79&gt;" in page.text
    assert "No output yet" not in page.text
    download = await second.client.get("/tasks/run%2F1/output.txt")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/plain")
    assert "attachment" in download.headers["content-disposition"]
    assert "===== attempt 1 =====" in download.text and "out <79>\n" in download.text
    part = await second.client.get("/tasks/run%2F1/part/output")
    assert part.status_code == 200 and 'hx-trigger="agentdeck:resync from:body"' in part.text


async def test_a_finished_task_without_history_shows_the_output_its_file_kept(running_hub):
    write_task(running_hub.board, "done/a1/old.yaml",
               task_yaml(id="old", title="before history", status="done",
                         result={"status": "success", "output": "kept in the file"}))
    async def panel():
        page = await running_hub.client.get("/tasks/old", headers={"HX-Request": "true"})
        return page if page.status_code == 200 else None
    page = await wait_until(panel)
    assert "kept in the file" in page.text and "No output yet" not in page.text
    assert "kept output from the task file" in page.text


async def test_trimmed_history_says_so_in_the_panel(start_hub, board_dir):
    write_task(board_dir, "inbox/t.yaml", task_yaml(id="t", title="long"))
    running = await start_hub(run_history_bytes=8 * 1024)
    async with AgentClient.connect(running.base_url, "a1") as agent:
        await accept_next(agent, task_id="t")
        for n in range(200):
            await agent.send("task_progress", task_id="t",
                             execution_event={"event_type": "stdout", "text": f"{n:04d} " + "z" * 60})
        await agent.send("ping")
        await agent.expect("pong")

        async def trimmed():
            page = await running.client.get("/tasks/t", headers={"HX-Request": "true"})
            return page.text if "0199 " in page.text else None
        text = await wait_until(trimmed)
    assert "earliest output was trimmed" in text
