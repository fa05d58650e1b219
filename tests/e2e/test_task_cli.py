"""``agentdeck task``: add writes a valid task file atomically (hub running or not); list, show,
retry and cancel talk to a running hub."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trio
import yaml
from conftest import task_yaml, wait_until, write_task

from agentdeck.actors.board.taskfile import parse_task
from agentdeck.web.commands.task_file import task_fields, write_new_task

ROOT = Path(__file__).parent.parent


def agentdeck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentdeck.web.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_task_add_writes_a_valid_task_with_the_hub_stopped(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    result = agentdeck("task", "add", "Fix the login bug", "--work", str(tmp_path), "--description",
                       "Line one\nIt's \"quoted\" $(rm -rf /)", "--repo", str(repo), "--priority", "high",
                       "--capabilities", "python, git", "--depends-on", "a", "b", "--verify", "pytest -q",
                       "--verify", "ruff check .", "--executor", "claude", "--branch", "fix/login")
    assert result.returncode == 0, result.stderr
    task_id = result.stdout.strip()
    path = tmp_path / "collaboration" / "inbox" / f"{task_id}.yaml"
    fields = yaml.safe_load(path.read_text())
    assert fields["title"] == "Fix the login bug" and fields["priority"] == "high"
    assert fields["description"] == "Line one\nIt's \"quoted\" $(rm -rf /)"
    assert fields["repo"] == str(repo) and fields["branch"] == "fix/login" and fields["executor"] == "claude"
    assert fields["needed_capabilities"] == ["python", "git"] and fields["dependencies"] == ["a", "b"]
    assert fields["verification_steps"] == ["pytest -q", "ruff check ."]
    assert task_id.endswith("-fix-the-login-bug") and fields["status"] == "new"
    parse_task(f"inbox/{path.name}", path.read_bytes())
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file left behind"


def test_task_add_never_overwrites_and_refuses_bad_input(tmp_path: Path) -> None:
    board = tmp_path / "collaboration"
    fields = task_fields("Same", task_id="same")
    first, second = write_new_task(board, fields), write_new_task(board, fields)
    assert (first.name, second.name) == ("same.yaml", "same-2.yaml")
    assert yaml.safe_load(second.read_text())["id"] == "same-2"
    both = agentdeck("task", "add", "x", "--shell", "ls", "--repo", ".", "--work", str(tmp_path))
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    bad = agentdeck("task", "add", "x", "--priority", "whenever", "--work", str(tmp_path))
    assert bad.returncode == 2 and "priority 'whenever'" in bad.stderr
    empty = agentdeck("task", "add", "  ", "--work", str(tmp_path))
    assert empty.returncode == 2 and "title must not be empty" in empty.stderr


async def test_list_show_retry_and_cancel_against_a_running_hub(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/waiting.yaml", task_yaml(id="waiting", title="Waits", executor="claude"))
    write_task(board_dir, "dead/failed.yaml", task_yaml(id="failed", title="Failed before", status="dead"))
    hub = await start_hub()
    run = trio.to_thread.run_sync
    listed = await run(agentdeck, "task", "list", "--hub", hub.base_url)
    assert listed.returncode == 0, listed.stderr
    assert "waiting" in listed.stdout and "Failed before" in listed.stdout
    shown = await run(agentdeck, "task", "show", "waiting", "--hub", hub.base_url)
    assert shown.returncode == 0 and "executor: claude" in shown.stdout
    missing = await run(agentdeck, "task", "show", "nope", "--hub", hub.base_url)
    assert missing.returncode == 1 and "no task 'nope'" in missing.stderr
    retried = await run(agentdeck, "task", "retry", "failed", "--hub", hub.base_url)
    assert retried.returncode == 0 and retried.stdout.strip() == "failed: requeued", retried.stderr
    await wait_until(lambda: (board_dir / "inbox" / "failed.yaml").exists())
    cancelled = await run(agentdeck, "task", "cancel", "waiting", "--hub", hub.base_url)
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == "waiting: cancelled"
    await wait_until(lambda: (board_dir / "dead" / "waiting.yaml").exists())
    again = await run(agentdeck, "task", "cancel", "waiting", "--hub", hub.base_url)
    assert again.returncode == 1 and "not_found" in again.stdout
    added = await run(agentdeck, "task", "add", "Added live", "--shell", "echo hi", "--work",
                      str(board_dir.parent))
    assert added.returncode == 0
    task_id = added.stdout.strip()

    async def seen_by_the_hub():
        response = await hub.client.get(f"/api/tasks/{task_id}")
        return response.json() if response.status_code == 200 else None

    detail = await wait_until(seen_by_the_hub)
    assert detail["lane"] == "inbox" and detail["title"] == "Added live"


def test_commands_fail_clearly_without_a_hub() -> None:
    result = agentdeck("task", "list", "--hub", "http://127.0.0.1:9")
    assert result.returncode == 1 and "cannot reach the hub" in result.stderr


async def test_a_hub_with_a_dashboard_token_needs_it(start_hub, board_dir) -> None:
    write_task(board_dir, "dead/gone.yaml", task_yaml(id="gone", title="Gone", status="dead"))
    hub = await start_hub(dashboard_token="s3cret-token")
    run = trio.to_thread.run_sync
    refused = await run(agentdeck, "task", "list", "--hub", hub.base_url)
    assert refused.returncode == 1 and "answered HTTP 401" in refused.stderr and "--dashboard-token" in refused.stderr
    refused_ws = await run(agentdeck, "task", "retry", "gone", "--hub", hub.base_url)
    assert refused_ws.returncode == 1 and "answered HTTP 401" in refused_ws.stderr
    listed = await run(agentdeck, "task", "list", "--hub", hub.base_url, "--dashboard-token", "s3cret-token")
    assert listed.returncode == 0 and "gone" in listed.stdout
    retried = await run(agentdeck, "task", "retry", "gone", "--hub", hub.base_url, "--dashboard-token", "s3cret-token")
    assert retried.returncode == 0 and retried.stdout.strip() == "gone: requeued", retried.stderr
