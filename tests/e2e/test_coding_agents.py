"""Coding-agent CLIs through the real hub: a complex task done by (fake) Claude Code in its own
worktree, verified, with its tool calls in the live output and its cost in /api/stats."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys

import trio
import yaml
from agent_client import ws_url
from conftest import task_yaml, wait_until, write_task
from fake_cli_agents import install
from git_repos import git, make_repo
from trio_websocket import open_websocket_url

from agentdeck.actors.reference_agent.agent import AgentSettings, ReferenceAgent
from agentdeck.actors.reference_agent.claude_code import ClaudeOptions
from agentdeck.actors.reference_agent.codex import CodexOptions


def settings(hub, tmp_path, agent_id="coder", **overrides) -> AgentSettings:
    values = {"hub_url": ws_url(hub.base_url), "agent_id": agent_id, "backoff_min": 0.05,
              "backoff_max": 0.2, "identify_timeout": 2.0, "worktree_root": str(tmp_path / "wt"),
              "work_dir": str(tmp_path)}
    values.update(overrides)
    return AgentSettings(**values)


def done(board, agent_id, name):
    path = board / "done" / agent_id / name
    return yaml.safe_load(path.read_text()) if path.exists() else None


async def test_complex_task_with_a_repo_ends_done_on_its_branch_with_tool_calls_and_cost(
        running_hub, nursery, tmp_path):
    repo = make_repo(tmp_path / "repo")
    (repo / "README.md").write_text("dirty, not committed\n")
    claude = install(tmp_path / "bin", "claude")
    sub = running_hub.subscribe("coding")
    write_task(running_hub.board, "inbox/notes.yaml", task_yaml(
        id="notes", title="Add project notes", complexity="complex", repo=str(repo),
        description="Write NOTES.md.\nIt's \"quoted\" and $(touch pwned)", verification_steps=["test -f NOTES.md"]))
    agent = ReferenceAgent(settings(running_hub, tmp_path, claude=ClaudeOptions(binary=str(claude))))
    await nursery.start(agent.run)
    fields = await wait_until(lambda: done(running_hub.board, "coder", "notes.yaml"), timeout=60)
    assert fields["routing_decision"]["target_type"] == "claude"
    result = fields["result"]
    ws = result["workspace"]
    assert ws["branch"] == "agentdeck/notes" and [f["path"] for f in ws["files_changed"]] == ["NOTES.md"]
    assert git(repo, "show", "agentdeck/notes:NOTES.md").startswith("# Notes")
    assert (repo / "README.md").read_text() == "dirty, not committed\n" and not (repo / "pwned").exists()
    assert fields["verification_status"] == "passed" and fields["verification_report"]["status"] == "pass"
    assert fields["verification_report"]["checks"][0]["target"] == "test -f NOTES.md"
    assert result["cache_read_tokens"] == 27000 and result["agent_estimated_cost_usd"] == 0.0537
    assert result["priced"] and result["estimated_cost_usd"] > 0
    events = []
    while True:
        try:
            events.append(sub.receive_nowait())
        except trio.WouldBlock:
            break
    tool_calls = [e.text for e in events if getattr(e, "event_type", None) == "tool_call"]
    assert any(text.startswith("Bash ls -a") for text in tool_calls)
    panel = (await running_hub.client.get("/tasks/notes")).text
    assert "agentdeck/notes" in panel and "NOTES.md" in panel

    async def costed():
        stats = (await running_hub.client.get("/api/stats")).json()
        return stats if stats["all_time"]["cost_usd"] else None

    stats = await wait_until(costed, timeout=30)
    row = next(r for r in stats["by_model"] if r["model"] == "claude-sonnet-4-5-20250929")
    assert row["cost_usd"] == result["estimated_cost_usd"] and row["invocations"] == 1


async def test_a_codex_task_and_a_claude_task_go_to_the_agents_that_can_run_them(running_hub, nursery, tmp_path):
    codex = install(tmp_path / "bin", "codex")
    claude = install(tmp_path / "bin", "claude")
    write_task(running_hub.board, "inbox/c1.yaml", task_yaml(id="c1", title="c1", executor="codex"))
    write_task(running_hub.board, "inbox/c2.yaml", task_yaml(id="c2", title="c2", executor="claude"))
    only_codex = ReferenceAgent(settings(running_hub, tmp_path, "codex-agent", codex=CodexOptions(binary=str(codex))))
    await nursery.start(only_codex.run)
    fields = await wait_until(lambda: done(running_hub.board, "codex-agent", "c1.yaml"), timeout=60)
    assert fields["result"]["tokens_in"] == 24763 and fields["result"]["cache_read_tokens"] == 24448
    await trio.sleep(0.3)
    assert (running_hub.board / "inbox" / "c2.yaml").exists(), "nobody can run claude yet"
    state = (await running_hub.client.get("/api/tasks/c2")).json()
    assert state["lane"] == "inbox"
    claude_agent = ReferenceAgent(settings(running_hub, tmp_path, "claude-agent",
                                           claude=ClaudeOptions(binary=str(claude))))
    await nursery.start(claude_agent.run)
    await wait_until(lambda: done(running_hub.board, "claude-agent", "c2.yaml"), timeout=60)



async def test_cancel_from_the_dashboard_kills_the_cli_and_cleans_its_worktree(running_hub, nursery, tmp_path):
    repo = make_repo(tmp_path / "repo")
    claude = install(tmp_path / "bin", "claude", scenario="slow")
    write_task(running_hub.board, "inbox/long.yaml", task_yaml(
        id="long", title="Long job", executor="claude", repo=str(repo)))
    agent = ReferenceAgent(settings(running_hub, tmp_path, claude=ClaudeOptions(binary=str(claude))))
    await nursery.start(agent.run)
    child_file = tmp_path / "bin" / "claude.calls.jsonl.child"
    await wait_until(child_file.exists, timeout=20)
    child = int(child_file.read_text())
    worktrees = tmp_path / "wt" / "worktrees"
    assert any(worktrees.iterdir()), "the agent works in its worktree"
    async with open_websocket_url(ws_url(running_hub.base_url).replace("/ws", "/ws/dashboard")) as ws:
        await ws.send_message(json.dumps({"type": "cancel_task", "task_id": "long"}))
        while (message := json.loads(await ws.get_message())).get("type") != "cancel_result":
            pass
    assert message["status"] == "cancelled"

    def cleaned():
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return not any(worktrees.iterdir()) and agent.running is None
        return False

    await wait_until(cleaned, timeout=20)
    assert git(repo, "branch", "--list", "agentdeck/*") == "" and len(git(repo, "worktree", "list").splitlines()) == 1
    assert (running_hub.board / "dead" / "long.yaml").exists()


async def test_a_missing_repository_fails_the_task_clearly_and_keeps_the_file(running_hub, nursery, tmp_path):
    write_task(running_hub.board, "inbox/nowhere.yaml", task_yaml(
        id="nowhere", title="Nowhere", shell_command="echo never", repo=str(tmp_path / "missing"),
        max_retries=1, notes="keep me"))
    agent = ReferenceAgent(settings(running_hub, tmp_path))
    await nursery.start(agent.run)
    dead = running_hub.board / "dead" / "nowhere.yaml"
    await wait_until(dead.exists, timeout=20)
    fields = yaml.safe_load(dead.read_text())
    missing = tmp_path / "missing"
    assert fields["last_error"] == f"workspace: repo '{missing}': no such directory ({missing})"
    assert fields["notes"] == "keep me" and fields["shell_command"] == "echo never"


async def test_an_agent_killed_mid_task_cleans_the_worktree_when_it_comes_back(running_hub, tmp_path):
    repo = make_repo(tmp_path / "repo")
    pid_file = tmp_path / "child.pid"
    write_task(running_hub.board, "inbox/cut.yaml", task_yaml(
        id="cut", title="Cut short", repo=str(repo), shell_command=f"echo $$ > {pid_file}; echo x > x.txt; sleep 60"))
    command = [sys.executable, "-m", "agentdeck.web.cli", "agent", "--hub", ws_url(running_hub.base_url),
               "--id", "killed-agent", "--no-claude", "--no-codex", "--worktree-root", str(tmp_path / "wt")]
    worktrees = tmp_path / "wt" / "worktrees"
    child = None
    try:
        async with trio.open_nursery() as nursery:
            first = await nursery.start(functools.partial(
                trio.run_process, command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False))
            await wait_until(pid_file.exists, timeout=30)
            child = int(pid_file.read_text())
            assert len(list(worktrees.iterdir())) == 1
            first.send_signal(signal.SIGKILL)
        assert any(worktrees.iterdir()), "kill -9 leaves the worktree behind"
        async with trio.open_nursery() as nursery:
            second = await nursery.start(functools.partial(
                trio.run_process, command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False))
            await wait_until(lambda: not any(worktrees.iterdir())
                             and git(repo, "branch", "--list", "agentdeck/*") == "", timeout=30)
            second.terminate()
        assert len(git(repo, "worktree", "list").splitlines()) == 1
    finally:
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child, signal.SIGKILL)
