"""The Claude Code, Codex and command-agent executors against fake CLIs that print the real formats."""

from __future__ import annotations

import os
import sys

import pytest
import trio
from fake_cli_agents import MODEL, calls, install

from agentdeck.actors.reference_agent.claude_code import ClaudeOptions, run_claude, supports_partial_messages
from agentdeck.actors.reference_agent.codex import CodexOptions, run_codex
from agentdeck.actors.reference_agent.command_agent import parse_command_agent, run_command_agent

HOSTILE_PROMPT = ("Fix the bug.\n\nIt's \"quoted\" and 'single' and `uname` and $(touch pwned) "
                  "and ${HOME} ; touch pwned2 && echo $PATH | cat\n-- --model evil\n\n\nend")


class Events(list):
    async def __call__(self, event):
        self.append(event)

    def of(self, event_type: str) -> str:
        return "".join(e["text"] for e in self if e["event_type"] == event_type)


async def test_claude_streams_tokens_tool_calls_and_reports_usage_with_cache(tmp_path):
    claude = install(tmp_path / "bin", "claude")
    work = tmp_path / "work"
    work.mkdir()
    events = Events()
    result = await run_claude("Add notes", emit=events, options=ClaudeOptions(binary=str(claude)),
                              model="claude-sonnet-4-5", timeout=20, cwd=str(work))
    assert result["status"] == "success", result["error"]
    tokens = events.of("token")
    assert "I'll look at the repository first." in tokens and "Done: the change is in place." in tokens
    assert tokens.count("I'll look at the repository first.") == 1, "deltas and the whole message: once"
    tool_calls = events.of("tool_call").splitlines()
    assert tool_calls[0] == "Bash ls -a"
    assert tool_calls[1] == f"Write {work / 'NOTES.md'}" and tool_calls[2] == "Read /nonexistent"
    assert "NOTES.md" in events.of("stdout") and "File does not exist" in events.of("stderr")
    assert "Claude Code session" in events.of("status") and MODEL in events.of("status")
    assert (work / "NOTES.md").exists()
    assert result["model_used"] == MODEL and result["executor"] == "claude"
    assert result["tokens_in"] == 12 + 3600 + 27000 and result["tokens_out"] == 120 * 5
    assert (result["cache_read_tokens"], result["cache_creation_tokens"]) == (27000, 3600)
    assert result["estimated_cost_usd"] == 0.0537, "the CLI's own figure, sent as the agent's"
    assert result["num_turns"] == 5 and result["tool_calls"] == 3 and result["session_id"]
    assert result["permission_denials"] == 1
    assert "permission denied: Bash rm -rf build (see --claude-allowed-tools)" in events.of("status")
    argv = calls(claude)[0]["argv"]
    assert argv[:5] == ["-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages"]
    assert argv[argv.index("--model") + 1] == "claude-sonnet-4-5"
    assert argv[argv.index("--permission-mode") + 1] == "acceptEdits"
    assert any(e.get("model") == MODEL for e in events if e["event_type"] == "token")


async def test_a_hostile_prompt_reaches_the_cli_intact_and_runs_nothing(tmp_path):
    claude = install(tmp_path / "bin", "claude")
    codex = install(tmp_path / "bin", "codex")
    work = tmp_path / "work"
    work.mkdir()
    await run_claude(HOSTILE_PROMPT, emit=Events(), options=ClaudeOptions(binary=str(claude)),
                     model=None, timeout=20, cwd=str(work))
    await run_codex(HOSTILE_PROMPT, emit=Events(), options=CodexOptions(binary=str(codex)), model=None,
                    timeout=20, cwd=str(work))
    agent = parse_command_agent(f"echoer={sys.executable} -c 'import sys; print(sys.argv[1])' "
                                "--message={prompt}")
    events = Events()
    await run_command_agent(agent, HOSTILE_PROMPT, emit=events, timeout=20, cwd=str(work))
    assert calls(claude)[0]["prompt"] == HOSTILE_PROMPT
    assert calls(codex)[0]["prompt"] == HOSTILE_PROMPT
    assert events.of("stdout") == f"--message={HOSTILE_PROMPT}\n"
    assert not (work / "pwned").exists() and not (work / "pwned2").exists()
    assert "--model" not in calls(claude)[0]["argv"]


async def test_claude_without_partial_messages_prints_each_message_once(tmp_path):
    claude = install(tmp_path / "bin", "claude", scenario="old_cli")
    assert not await supports_partial_messages(str(claude))
    assert await supports_partial_messages(str(install(tmp_path / "bin2", "claude")))
    assert not await supports_partial_messages(str(tmp_path / "missing"))
    events = Events()
    options = ClaudeOptions(binary=str(claude), partial_messages=False, permission_mode=None,
                            allowed_tools=("Read", "Bash(git *)"))
    result = await run_claude("x", emit=events, options=options, model=None, timeout=20, cwd=str(tmp_path))
    assert result["status"] == "success"
    assert events.of("token").count("I'll look at the repository first.") == 1
    argv = calls(claude)[0]["argv"]
    assert "--include-partial-messages" not in argv and "--permission-mode" not in argv
    assert argv[argv.index("--allowedTools"):][:3] == ["--allowedTools", "Read", "Bash(git *)"]


async def test_claude_error_result_fails_the_task_and_keeps_its_cost(tmp_path):
    claude = install(tmp_path / "bin", "claude", scenario="error")
    result = await run_claude("x", emit=Events(), options=ClaudeOptions(binary=str(claude)), model=None,
                              timeout=20, cwd=str(tmp_path))
    assert result["status"] == "failed"
    assert result["error"].startswith("Claude Code error_max_turns")
    assert result["estimated_cost_usd"] == 0.0421 and result["tokens_in"] > 0
    assert result["claude_subtype"] == "error_max_turns" and result["exit_code"] == 1


async def test_claude_that_exits_without_a_result_fails_with_its_stderr(tmp_path):
    claude = install(tmp_path / "bin", "claude", scenario="crash")
    events = Events()
    result = await run_claude("x", emit=events, options=ClaudeOptions(binary=str(claude)), model=None,
                              timeout=20, cwd=str(tmp_path))
    assert result["status"] == "failed" and result["error"] == "Claude Code failed: exit code 2"
    assert "Invalid API key" in events.of("stderr") and "Invalid API key" in result["output"]


async def test_a_missing_cli_is_a_clear_failure(tmp_path):
    result = await run_claude("x", emit=Events(), options=ClaudeOptions(binary=str(tmp_path / "nope")),
                              model=None, timeout=5, cwd=str(tmp_path))
    assert result["status"] == "failed" and "cannot start" in result["error"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _wait_gone(pid: int) -> None:
    with trio.fail_after(10):
        while _alive(pid):  # noqa: ASYNC110 (a process ending is no trio event)
            await trio.sleep(0.05)


@pytest.mark.parametrize("name", ["claude", "codex"])
async def test_a_hanging_cli_times_out_and_its_whole_process_group_dies(tmp_path, name):
    binary = install(tmp_path / "bin", name, scenario="hang")
    if name == "claude":
        result = await run_claude("x", emit=Events(), options=ClaudeOptions(binary=str(binary)), model=None,
                                  timeout=4, cwd=str(tmp_path))
    else:
        result = await run_codex("x", emit=Events(), options=CodexOptions(binary=str(binary)), model=None,
                                 timeout=4, cwd=str(tmp_path))
    assert result["status"] == "failed" and "timed out after 4 s" in result["error"]
    child = int((tmp_path / "bin" / f"{name}.calls.jsonl.child").read_text())
    await _wait_gone(child)


async def test_cancel_mid_run_kills_the_cli(tmp_path):
    claude = install(tmp_path / "bin", "claude", scenario="slow")
    events = Events()

    async def emit(event):
        await events(event)
        if event["event_type"] == "token" and "still" in event["text"]:
            scope.cancel()  # the fake started its child before it began saying this

    with trio.CancelScope() as scope:
        await run_claude("x", emit=emit, options=ClaudeOptions(binary=str(claude)), model=None,
                         timeout=60, cwd=str(tmp_path), batch_interval=0.02)
    assert scope.cancelled_caught
    assert events.of("token").count("still") < 20, "the stream stopped when the task was cancelled"
    await _wait_gone(int((tmp_path / "bin" / "claude.calls.jsonl.child").read_text()))


async def test_codex_streams_items_and_reports_usage_with_cached_tokens(tmp_path):
    codex = install(tmp_path / "bin", "codex")
    work = tmp_path / "work"
    work.mkdir()
    events = Events()
    result = await run_codex("Add notes", emit=events, options=CodexOptions(binary=str(codex)),
                             model="gpt-5-codex", timeout=20, cwd=str(work))
    assert result["status"] == "success", result["error"]
    assert events.of("tool_call") == "$ bash -lc 'ls -a'\n"
    assert events.of("token") == "I added NOTES.md.\n"
    status = events.of("status")
    assert "Codex thread" in status and "thinking: **Planning the change**" in status
    assert f"files changed: add {work / 'NOTES.md'}" in status
    assert (result["tokens_in"], result["tokens_out"], result["cache_read_tokens"]) == (24763, 122, 24448)
    assert result["model_used"] == "gpt-5-codex" and result["estimated_cost_usd"] is None
    argv = calls(codex)[0]["argv"]
    assert argv[:2] == ["exec", "--json"] and argv[-1] == "-"
    assert argv[argv.index("--model") + 1] == "gpt-5-codex"
    assert argv[argv.index("--sandbox") + 1] == "workspace-write"


@pytest.mark.parametrize("scenario, error", [
    ("crash", "Codex turn failed: unexpected status 401 Unauthorized"),
    ("error", "Codex turn failed: You've hit your usage limit."),
])
async def test_codex_failures(tmp_path, scenario, error):
    codex = install(tmp_path / "bin", "codex", scenario=scenario)
    events = Events()
    result = await run_codex("x", emit=events, options=CodexOptions(binary=str(codex)), model=None,
                             timeout=20, cwd=str(tmp_path))
    assert result["status"] == "failed" and result["error"] == error
    assert result["model_used"] == "codex" and "turn failed" in events.of("error")


async def test_command_agent_gets_the_prompt_on_stdin_without_a_placeholder(tmp_path):
    agent = parse_command_agent("catter=cat")
    events = Events()
    result = await run_command_agent(agent, HOSTILE_PROMPT, emit=events, timeout=10, cwd=str(tmp_path))
    assert result["status"] == "success" and events.of("stdout") == HOSTILE_PROMPT
    failing = await run_command_agent(parse_command_agent("f=false"), "x", emit=Events(), timeout=10)
    assert failing["status"] == "failed" and failing["error"] == "f: exit code 1"
    with pytest.raises(ValueError):
        parse_command_agent("no-command=")
