"""Every flow of the Elixir hub's Node sidecar against a real hub, with ``Sidecar`` (a faithful
re-implementation of its wire behaviour, ``tests/sidecar_client.py``): crash and restart inside
the reconnect grace, cancel, chatty output, Claude cost, verification, failure reasons, metadata,
timeouts, retries, a bad token."""

from __future__ import annotations

import json
import logging
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import yaml
from agent_client import AgentClient, accept_next, complete
from conftest import board_files, wait_until, write_task
from raw_ws import RawSocket
from sidecar_client import Sidecar

from agentdeck.actors.messages import CancelTask, GetOutput
from agentdeck.actors.protocol.auth import TokenStore
from agentdeck.actors.protocol.schema import FRAME_BURST
from agentdeck.actors.protocol.session import RATE_NOTICE_SECONDS
from agentdeck.actors.telemetry.pricing import price_invocation

FLOW_TIMEOUT = 30.0


async def wait_file(board: Path, relpath: str, timeout: float = FLOW_TIMEOUT) -> dict:
    """The task file at ``relpath`` once it is there (the hub writes files whole, by rename)."""
    def read() -> dict | None:
        try:
            return yaml.safe_load((board / relpath).read_bytes())
        except FileNotFoundError:
            return None
    return await wait_until(read, timeout=timeout)


async def test_kill_and_restart_inside_the_grace_ends_with_the_task_done_once(
        start_hub, board_dir, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="agentdeck")
    # the first run hangs (and is killed with its sidecar); the rerun finds the marker and ends
    write_task(board_dir, "inbox/t.yaml", {
        "id": "t", "title": "once", "shell_command":
        "if [ -f marker ]; then echo finished; else touch marker; sleep 30; fi"})
    running = await start_hub(reconnect_grace=30.0)
    home = tmp_path / "sidecar"
    async with trio.open_nursery() as nursery:
        first = Sidecar(running.base_url, "sc", home)
        await nursery.start(first.run)
        await first.wait_for("task_accepted", sent=True, task_id="t")
        await wait_until((home / "marker").exists)
        await first.crash()
        assert json.loads((home / "queue.json").read_text())["active"]["task_id"] == "t"

        second = Sidecar(running.base_url, "sc", home)  # the restart, well inside the grace
        await nursery.start(second.run)
        done = await wait_file(board_dir, "done/sc/t.yaml")
        nursery.cancel_scope.cancel()
    assert second.sent_frames("task_recovering", task_id="t")
    kinds = [m["type"] for m in second.received if m.get("task_id") == "t"]
    assert kinds[:2] == ["task_reassign", "task_assign"], kinds
    assert "task_continue" not in kinds and not second.sent_frames("task_rejected")
    assert done["result"]["output"] == "finished\n"
    outcomes = [a["outcome"] for a in done["attempts"]]
    assert outcomes == ["reclaimed", "done"]  # done once
    assert done["retry_count"] == 1  # the lost attempt counted
    assert set(board_files(board_dir)) == {"done/sc/t.yaml"}
    assert any("recovering on sc" in r.getMessage() and "reassigned" in r.getMessage()
               for r in caplog.records)


async def test_a_cancel_frees_the_sidecar_for_the_next_task_at_once(start_hub, board_dir, tmp_path,
                                                                   caplog) -> None:
    caplog.set_level(logging.INFO, logger="agentdeck")
    write_task(board_dir, "inbox/long.yaml", {"id": "long", "priority": "high",
                                              "shell_command": "sleep 3; echo late"})
    write_task(board_dir, "inbox/next.yaml", {"id": "next", "shell_command": "echo next"})
    running = await start_hub()
    async with trio.open_nursery() as nursery:
        sidecar = Sidecar(running.base_url, "sc", tmp_path / "sc")
        await nursery.start(sidecar.run)
        await sidecar.wait_for("task_accepted", sent=True, task_id="long")
        assert await running.hub.ask_queue(CancelTask("long")) == "cancelled"
        with trio.fail_after(2):  # at once, not when the cancelled command ends
            done = await wait_file(board_dir, "done/sc/next.yaml")
        # the cancelled command runs on in the sidecar; its late report changes nothing
        late = await sidecar.wait_for("task_complete", sent=True, task_id="long")
        await sidecar.wait_for("task_ack", task_id="long", status="stale")
        nursery.cancel_scope.cancel()
    assert sidecar.frames("task_cancelled", task_id="long")
    assert not sidecar.sent_frames("task_rejected")
    assert late["generation"] == 0  # the sidecar forgot the cancelled task's generation
    assert done["result"]["output"] == "next\n"
    assert set(board_files(board_dir)) == {"done/sc/next.yaml", "dead/long.yaml"}
    assert any("task long cancelled" in r.getMessage() for r in caplog.records)


async def test_a_busy_sidecar_rejects_and_the_hub_logs_it(start_hub, board_dir, tmp_path,
                                                         caplog) -> None:
    caplog.set_level(logging.INFO, logger="agentdeck")
    write_task(board_dir, "inbox/t.yaml", {"id": "t", "shell_command": "echo hi"})
    home = tmp_path / "sc"
    home.mkdir()
    # a queue file whose active task is someone else's (a task the hub no longer knows)
    (home / "queue.json").write_text(json.dumps({"active": None, "recovering": None}))
    running = await start_hub()
    async with trio.open_nursery() as nursery:
        sidecar = Sidecar(running.base_url, "sc", home)
        sidecar.queue["active"] = {"task_id": "ghost", "status": "working", "generation": 1,
                                   "assigned_at": 0, "description": "", "metadata": {}}
        await nursery.start(sidecar.run)
        await sidecar.wait_for("task_rejected", sent=True, task_id="t")
        # its state_report for the ghost is answered abort: the slot frees, the task comes back
        await sidecar.wait_for("state_report_ack", task_id="ghost", action="abort")
        await wait_file(board_dir, "done/sc/t.yaml")
        nursery.cancel_scope.cancel()
    assert any("task t rejected by sc: busy" in r.getMessage() for r in caplog.records)


CHATTY = "import time\nfor i in range(8000):\n    print('line', i, flush=True)\n    time.sleep(0.0005)\n"


async def test_an_8000_line_chatty_task_completes_with_its_result(start_hub, board_dir,
                                                                  tmp_path) -> None:
    script = tmp_path / "chatty.py"
    script.write_text(CHATTY)
    write_task(board_dir, "inbox/chatty.yaml", {"id": "chatty", "max_retries": 1,
                                                "shell_command": f"{sys.executable} {script}"})
    running = await start_hub()
    async with trio.open_nursery() as nursery:
        sidecar = Sidecar(running.base_url, "sc", tmp_path / "sc")
        await nursery.start(sidecar.run)
        started = trio.current_time()
        done = await wait_file(board_dir, "done/sc/chatty.yaml", timeout=90)
        took = trio.current_time() - started
        output = await running.hub.ask_output(GetOutput("chatty"))
        nursery.cancel_scope.cancel()
    assert sidecar.closes == []  # never disconnected
    assert done["result"]["status"] == "success"
    assert done["result"]["output"].endswith("line 7999\n")
    frames = len(sidecar.sent_frames("task_progress", task_id="chatty"))
    text = "".join(e.text for e in output)
    rate = running.hub.config.agent_frame_rate
    if frames > rate.burst + rate.per_second * took * 1.1:  # it went over the rate
        assert sidecar.frames("error", error="rate_limited")
    assert "line 7999" in text or "[output truncated:" in text
    assert text.startswith("line 0\n")


def _frame(message: dict) -> bytes:
    """One masked client text frame (a zero mask is a valid mask), to write thousands at once."""
    payload = json.dumps(message).encode()
    length = len(payload)
    header = struct.pack("!BB", 0x81, 0x80 | length) if length < 126 else \
        struct.pack("!BBH", 0x81, 0x80 | 126, length)
    return header + b"\x00\x00\x00\x00" + payload


async def _until(raw: RawSocket, kind: str, timeout: float = 20.0) -> list[dict]:
    """Frames up to and including the first of ``kind``."""
    seen = []
    with trio.fail_after(timeout):
        while True:
            opcode, payload = await raw.receive_frame()
            assert opcode == 1, (opcode, payload)
            seen.append(json.loads(payload))
            if seen[-1]["type"] == kind:
                return seen


async def test_over_rate_output_is_held_or_marked_and_the_outcome_always_accepted(
        start_hub, board_dir) -> None:
    """Thousands of frames in one write: far over the rate, deterministically."""
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    running = await start_hub()
    port = int(running.base_url.rsplit(":", 1)[1])
    raw = await RawSocket.connect(port, "/ws")
    await raw.send_text(json.dumps({"type": "identify", "agent_id": "a1", "token": None}))
    assign = (await _until(raw, "task_assign"))[-1]
    await raw.send_text(json.dumps({"type": "task_accepted", "task_id": "t"}))
    await _until(raw, "task_ack")
    flood = FRAME_BURST * 8  # 8,000 short lines: all within what the output log keeps
    started = trio.current_time()
    await raw.stream.send_all(b"".join(_frame({
        "type": "task_progress", "task_id": "t",
        "execution_event": {"event_type": "stdout", "text": f"line {n:05d}\n"}})
        for n in range(flood)) + _frame({
            "type": "task_complete", "task_id": "t", "generation": assign["generation"],
            "result": {"status": "success", "output": "all done"}}))
    frames = await _until(raw, "task_ack", timeout=60)
    took = trio.current_time() - started
    await raw.send_text(json.dumps({"type": "ping"}))
    await _until(raw, "pong")
    assert frames[-1]["status"] == "complete"
    told = [f["error"] for f in frames if f["type"] == "error"]
    events = await running.hub.ask_output(GetOutput("t"))
    text = "".join(e.text for e in events)
    # the hub took `took` s to read them all; at most burst + rate * took frames were within the rate
    rate = running.hub.config.agent_frame_rate
    if flood > rate.burst + rate.per_second * took:
        # told (again at most every 10 s), and not disconnected
        assert set(told) == {"rate_limited"} and len(told) <= 1 + took // RATE_NOTICE_SECONDS
        assert len(events) < flood  # joined, not one event per frame
    assert set(told) <= {"rate_limited"}  # and nothing else went wrong
    lines = {line for line in text.splitlines() if line.startswith("line ")}
    dropped = sum(int(e.text.split()[2]) for e in events if e.event_type == "status"
                  and e.text.startswith("[output truncated:"))
    assert len(lines) + dropped == flood  # every line delivered, or counted as dropped
    # closed on both sides at once: our close frame is answered, then the hub ends the TCP stream
    await raw.send_frame(struct.pack("!H", 1000), opcode=8)
    assert await raw.close_code(timeout=2) == 1000
    with trio.fail_after(2):
        assert await raw.stream.receive_some(1) == b""
    await raw.aclose()


async def test_a_claude_task_costs_the_hubs_price_with_the_agents_figure_beside(
        start_hub, board_dir, tmp_path) -> None:
    async def claude(task: dict) -> dict:
        model = task["routing_decision"]["selected_model"]
        return {"status": "success", "output": "refactored", "model_used": model,
                "tokens_in": 12_000, "tokens_out": 3_000}

    write_task(board_dir, "inbox/big.yaml", {"id": "big", "complexity": "complex",
                                             "description": "refactor the parser"})
    running = await start_hub(claude_model="claude-sonnet-4-5")
    async with trio.open_nursery() as nursery:
        sidecar = Sidecar(running.base_url, "sc", tmp_path / "sc", capabilities=("shell", "claude"),
                          claude=claude)
        await nursery.start(sidecar.run)
        done = await wait_file(board_dir, "done/sc/big.yaml")
        nursery.cancel_scope.cancel()
    expected = price_invocation("claude-sonnet-4-5", 12_000, 3_000).cost_usd
    assert expected and expected > 0.05
    result = done["result"]
    assert result["model_used"] == "claude-sonnet-4-5"
    assert result["estimated_cost_usd"] == pytest.approx(expected)
    assert result["agent_estimated_cost_usd"] == 0  # the sidecar's table knows only "4.5"
    assert result["cost_disagreement"] is True
    assert result["equivalent_claude_cost_usd"] is None  # paid: never shown as local savings
    async def spent() -> float:
        return (await running.client.get("/api/stats")).json()["all_time"]["cost_usd"]
    assert await wait_until(spent) == pytest.approx(expected)


async def test_verification_reports_are_kept_and_a_failed_one_is_not_a_plain_success(
        start_hub, board_dir, tmp_path) -> None:
    write_task(board_dir, "inbox/v.yaml", {
        "id": "v", "shell_command": "echo built > artifact.txt", "verification_timeout_ms": 5000,
        "verification_steps": [{"type": "file_exists", "target": "artifact.txt"},
                               {"type": "command_succeeds", "target": "echo checking; exit 1",
                                "description": "lint"}]})
    write_task(board_dir, "inbox/s.yaml", {"id": "s", "shell_command": "true",
                                           "skip_verification": True})
    running = await start_hub()
    async with trio.open_nursery() as nursery:
        sidecar = Sidecar(running.base_url, "sc", tmp_path / "sc")
        await nursery.start(sidecar.run)
        failed = await wait_file(board_dir, "done/sc/v.yaml")
        skipped = await wait_file(board_dir, "done/sc/s.yaml")
        nursery.cancel_scope.cancel()
    assign = sidecar.frames("task_assign", task_id="v")[0]
    assert (assign["verification_timeout_ms"], assign["skip_verification"]) == (5000, False)
    assert failed["verification_status"] == "failed"
    report = failed["verification_report"]
    assert report["status"] == "fail" and report["summary"]["failed"] == 1
    assert [c["status"] for c in report["checks"]] == ["pass", "fail"]
    assert len(failed["verification_history"]) == 1
    assert failed["attempts"][-1]["verification"] == "failed"
    assert skipped["verification_status"] == "skipped"
    page = (await running.client.get("/tasks/v")).text
    assert 'badge verify-failed">failed</span>' in page and "echo checking; exit 1" in page
    board = (await running.client.get("/")).text
    assert "verification failed</span>" in board  # the done card says so too


async def test_the_failure_reason_is_the_last_error_event(start_hub, board_dir, tmp_path) -> None:
    write_task(board_dir, "inbox/f.yaml", {"id": "f", "max_retries": 1,
                                           "shell_command": "echo boom >&2; exit 3"})
    running = await start_hub()
    async with trio.open_nursery() as nursery:
        sidecar = Sidecar(running.base_url, "sc", tmp_path / "sc")
        await nursery.start(sidecar.run)
        dead = await wait_file(board_dir, "dead/f.yaml")
        nursery.cancel_scope.cancel()
    complete = sidecar.sent_frames("task_complete", task_id="f")[0]
    assert complete["result"]["status"] == "failed" and "error" not in complete["result"]
    assert dead["last_error"] == "Shell failed after 2 attempts: Command exited with code 3: boom\n"


async def test_nested_metadata_and_timeouts_reach_the_sidecar(start_hub, board_dir, tmp_path) -> None:
    write_task(board_dir, "inbox/n.yaml", {"id": "n", "priority": "high", "timeout_seconds": 90,
                                           "metadata": {"shell_command": "echo nested"}})
    write_task(board_dir, "inbox/slow.yaml", {"id": "slow", "max_retries": 1,
                                              "shell_command": "sleep 5", "timeout_seconds": 0.3})
    running = await start_hub()
    async with trio.open_nursery() as nursery:
        sidecar = Sidecar(running.base_url, "sc", tmp_path / "sc")
        await nursery.start(sidecar.run)
        nested = await wait_file(board_dir, "done/sc/n.yaml")
        slow = await wait_file(board_dir, "dead/slow.yaml")
        nursery.cancel_scope.cancel()
    assign = sidecar.frames("task_assign", task_id="n")[0]
    assert assign["metadata"] == {"shell_command": "echo nested", "timeout_seconds": 90,
                                  "timeout_ms": 90000}
    assert isinstance(assign["assigned_at"], int)
    assert nested["result"]["output"] == "nested\n"
    assert "Command timed out after 300ms" in slow["last_error"]


async def test_a_task_that_keeps_losing_its_agent_ends_in_the_dead_letter(start_hub, board_dir,
                                                                          tmp_path) -> None:
    write_task(board_dir, "inbox/doomed.yaml", {"id": "doomed", "max_retries": 2,
                                                "shell_command": "sleep 30"})
    running = await start_hub()
    home = tmp_path / "sc"
    async with trio.open_nursery() as nursery:
        for _ in range(2):
            sidecar = Sidecar(running.base_url, "sc", home)
            await nursery.start(sidecar.run)
            await sidecar.wait_for("task_accepted", sent=True, task_id="doomed")
            await trio.sleep(0.1)
            await sidecar.crash()
        restarted = Sidecar(running.base_url, "sc", home)
        await nursery.start(restarted.run)
        dead = await wait_file(board_dir, "dead/doomed.yaml")
        await restarted.wait_for("task_reassign", task_id="doomed")
        nursery.cancel_scope.cancel()
    assert dead["retry_count"] == 2
    assert dead["last_error"] == "lost its agent 2 times; last: agent restarted and lost the task"
    assert not restarted.frames("task_assign", task_id="doomed")


async def test_a_bad_token_gets_invalid_token_before_the_close(start_hub, work_dir, tmp_path) -> None:
    TokenStore.in_state_dir(work_dir / ".agentdeck").add("sc")
    running = await start_hub()
    async with trio.open_nursery() as nursery:
        sidecar = Sidecar(running.base_url, "sc", tmp_path / "sc", token="wrong", reconnect_delay=60)
        await nursery.start(sidecar.run)
        await wait_until(lambda: sidecar.closes)
        nursery.cancel_scope.cancel()
    assert [m["type"] for m in sidecar.received] == ["error"]
    assert sidecar.received[0]["error"] == "invalid_token"
    assert sidecar.closes == [1008]


async def test_held_output_arrives_even_when_the_agent_falls_silent(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    running = await start_hub()
    port = int(running.base_url.rsplit(":", 1)[1])
    raw = await RawSocket.connect(port, "/ws")
    await raw.send_text(json.dumps({"type": "identify", "agent_id": "a1", "token": None}))
    await _until(raw, "task_assign")
    await raw.send_text(json.dumps({"type": "task_accepted", "task_id": "t"}))
    await _until(raw, "task_ack")
    count = FRAME_BURST + 2000
    await raw.stream.send_all(b"".join(_frame({
        "type": "task_progress", "task_id": "t",
        "execution_event": {"event_type": "stdout", "text": f"line {n:05d}\n"}}) for n in range(count)))
    # then nothing more: the last lines were over the rate, held, and must still arrive

    async def last_line() -> bool:
        events = await running.hub.ask_output(GetOutput("t"))
        return any(f"line {count - 1:05d}" in e.text for e in events)
    await wait_until(last_line, timeout=20)
    await raw.aclose()


def _close_wait(port: int) -> list[str]:
    """Sockets of the hub's port in CLOSE-WAIT: the peer closed, the hub has not."""
    out = subprocess.run(["ss", "-Htan", "state", "close-wait", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
@pytest.mark.parametrize("how", ["refused", "agent_closes", "agent_dies"])
async def test_closed_sockets_are_closed_on_both_sides_at_once(start_hub, work_dir, how) -> None:
    """As the ws library does: after the close handshake the client ends its TCP stream (FIN); a
    killed process just ends it. The hub's side must follow at once, not sit in CLOSE-WAIT."""
    TokenStore.in_state_dir(work_dir / ".agentdeck").add("sc")
    running = await start_hub()
    port = int(running.base_url.rsplit(":", 1)[1])
    raw = await RawSocket.connect(port, "/ws")
    token = "wrong" if how == "refused" else TokenStore.in_state_dir(work_dir / ".agentdeck").add("sc")
    await raw.send_text(json.dumps({"type": "identify", "agent_id": "sc", "token": token}))
    opcode, payload = await raw.receive_frame()
    assert opcode == 1
    if how == "refused":
        assert json.loads(payload)["error"] == "invalid_token"
        assert await raw.close_code(timeout=2) == 1008
        await raw.send_frame(struct.pack("!H", 1008), opcode=8)  # the handshake's answer
    elif how == "agent_closes":
        await raw.send_frame(struct.pack("!H", 1000), opcode=8)
        assert await raw.close_code(timeout=2) == 1000
    await raw.stream.send_eof()  # FIN
    with trio.fail_after(2):  # the hub ends its side too
        while await raw.stream.receive_some(65536):
            pass
    await wait_until(lambda: not _close_wait(port), timeout=1.0)
    await raw.aclose()


async def test_a_recovery_report_followed_by_a_running_state_report_keeps_the_task(
        start_hub, board_dir) -> None:
    """A sidecar with a stale recovering slot that only lost its socket sends task_recovering and,
    right behind it, a state_report for the same task it still runs: the task must continue."""
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})
    running = await start_hub()
    async with AgentClient.connect(running.base_url, "sc") as first:
        assign = await accept_next(first, task_id="t")
        await first.abort()
    async with AgentClient.connect(running.base_url, "sc") as again:
        await again.send("task_recovering", task_id="t", last_status="working")
        await again.send("state_report", task_id="t", generation=assign["generation"], status="working")
        await again.expect("state_report_ack", task_id="t", action="continue")
        await again.expect_silence(1.5)  # past the proof window: no task_reassign
        assert (await complete(again, assign))["status"] == "complete"
    done = await wait_file(board_dir, "done/sc/t.yaml")
    assert [a["outcome"] for a in done["attempts"]] == ["done"] and "retry_count" not in done
