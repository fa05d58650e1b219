"""Fake ``claude`` and ``codex`` executables that print what the real CLIs print.

Claude Code: ``claude -p --output-format stream-json --verbose [--include-partial-messages]`` prints
JSON Lines: a ``system``/``init`` record, ``stream_event`` records wrapping Messages API stream events
(only with ``--include-partial-messages``), ``assistant`` and ``user`` records wrapping whole messages
(``text``, ``tool_use``, ``tool_result`` blocks), and a final ``result`` (usage with cache tokens,
``total_cost_usd``, ``num_turns``, ``session_id``, ``is_error``, ``subtype``). Codex: ``codex exec
--json`` prints ``thread.started``, ``turn.started``, ``item.started``/``item.completed`` (reasoning,
command_execution, file_change, agent_message), ``turn.completed`` with usage (``cached_input_tokens``),
and ``error`` / ``turn.failed`` on failure. Formats from the tools' public documentation.

``install(directory, name, scenario)`` writes an executable ``name`` that runs this file; every run
appends ``{argv, prompt, cwd}`` to ``<directory>/<name>.calls.jsonl`` for the test to read.
Scenarios: ``edit`` (tool calls, writes NOTES.md), ``fix_on_feedback`` (writes value.txt: "broken",
or "fixed" when the prompt reports a failed verification), ``error`` (an error result), ``crash``
(no result, exit 2), ``hang`` (sleeps, with a child process), ``slow`` (streams slowly).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

MODEL = "claude-sonnet-4-5-20250929"
HELP = """Usage: claude [options] [command] [prompt]

Options:
  -p, --print                      Print response and exit (useful for pipes)
  --output-format <format>         "text", "json" or "stream-json"
  --verbose                        Override verbose mode setting from config
  --include-partial-messages       Include partial message chunks as they arrive
  --model <model>                  Model for the current session
  --permission-mode <mode>         Permission mode to use for the session
  --allowedTools <tools...>        Tool names to allow
"""


def install(directory: Path, name: str, scenario: str = "edit", **env: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    exports = "".join(f"export {key}='{value}'\n" for key, value in env.items())
    record = f"{directory / name}.calls.jsonl"
    path.write_text(f"#!/bin/sh\nexport FAKE_SCENARIO='{scenario}'\nexport FAKE_RECORD='{record}'\n"
                    f"{exports}exec '{sys.executable}' '{Path(__file__).resolve()}' {name} \"$@\"\n")
    path.chmod(0o755)
    return path


def calls(path: Path) -> list[dict]:
    record = Path(f"{path}.calls.jsonl")
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def out(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _child() -> None:
    """A grandchild of the agent, to show that the whole process group is killed."""
    child = subprocess.Popen(["sleep", "300"])
    Path(os.environ["FAKE_RECORD"] + ".child").write_text(str(child.pid))


def _hang() -> None:
    _child()
    time.sleep(300)


# ---------------------------------------------------------------- claude


def claude(args: list[str], prompt: str, scenario: str) -> int:
    if "--help" in args:
        print(HELP if scenario != "old_cli" else HELP.replace("--include-partial-messages", "--foo"))
        return 0
    if "stream-json" in args and "--verbose" not in args:
        print("Error: When using --print, --output-format=stream-json requires --verbose", file=sys.stderr)
        return 1
    session = str(uuid.uuid4())
    partial = "--include-partial-messages" in args
    model = args[args.index("--model") + 1] if "--model" in args else MODEL
    model = MODEL if model == "claude-sonnet-4-5" else model
    envelope = {"parent_tool_use_id": None, "session_id": session}
    out({"type": "system", "subtype": "init", "cwd": os.getcwd(), "session_id": session,
         "tools": ["Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", "TodoWrite"],
         "mcp_servers": [], "model": model, "permissionMode": "acceptEdits",
         "slash_commands": ["compact", "review"], "apiKeySource": "none",
         "claude_code_version": "2.0.14", "output_style": "default", "uuid": str(uuid.uuid4())})
    turns = 0

    def message(content: list[dict], stop: str) -> dict:
        nonlocal turns
        turns += 1
        return {"type": "assistant", "message": {
            "model": model, "id": f"msg_01{uuid.uuid4().hex[:20]}", "type": "message", "role": "assistant",
            "content": content, "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 4, "cache_creation_input_tokens": 1200, "cache_read_input_tokens": 9000,
                      "output_tokens": 40, "service_tier": "standard"}}, **envelope, "uuid": str(uuid.uuid4())}

    def say(text: str, delay: float = 0.0) -> None:
        if partial:
            out({"type": "stream_event", "event": {"type": "message_start", "message": {
                "model": model, "id": "msg_x", "type": "message", "role": "assistant", "content": []}},
                **envelope, "uuid": str(uuid.uuid4())})
            out({"type": "stream_event", "event": {"type": "content_block_start", "index": 0,
                 "content_block": {"type": "text", "text": ""}}, **envelope, "uuid": str(uuid.uuid4())})
            for word in text.split(" "):
                out({"type": "stream_event", "event": {"type": "content_block_delta", "index": 0,
                     "delta": {"type": "text_delta", "text": word + " "}}, **envelope, "uuid": str(uuid.uuid4())})
                time.sleep(delay)
            out({"type": "stream_event", "event": {"type": "content_block_stop", "index": 0},
                 **envelope, "uuid": str(uuid.uuid4())})
        out(message([{"type": "text", "text": text}], "end_turn"))

    def tool(name: str, tool_input: dict, result: str, is_error: bool = False) -> None:
        tool_id = f"toolu_01{uuid.uuid4().hex[:20]}"
        out(message([{"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}], "tool_use"))
        out({"type": "user", "message": {"role": "user", "content": [
            {"tool_use_id": tool_id, "type": "tool_result", "content": result, "is_error": is_error}]},
            **envelope, "uuid": str(uuid.uuid4())})

    if scenario == "crash":
        print("Error: Invalid API key · Please run /login", file=sys.stderr)
        return 2
    if scenario == "hang":
        say("Thinking about it")
        _hang()
        return 0
    say("I'll look at the repository first.", 0.3 if scenario == "slow" else 0.0)
    tool("Bash", {"command": "ls -a", "description": "List files"}, "\n".join(sorted(os.listdir("."))))
    if scenario == "slow":
        _child()
        for _ in range(100):
            say("still working", 0.1)
    if scenario == "fix_on_feedback":
        value = "fixed" if "failed" in prompt else "broken"
        Path("value.txt").write_text(value + "\n")
        tool("Write", {"file_path": str(Path("value.txt").resolve()), "content": value},
             f"File created successfully at: {Path('value.txt').resolve()}")
    elif scenario in ("edit", "error"):
        Path("NOTES.md").write_text("# Notes\n\nWritten by the agent.\n")
        tool("Write", {"file_path": str(Path("NOTES.md").resolve()), "content": "# Notes\n"},
             f"File created successfully at: {Path('NOTES.md').resolve()}")
        tool("Read", {"file_path": "/nonexistent"}, "<tool_use_error>File does not exist.</tool_use_error>", True)
    if scenario != "error":
        say("Done: the change is in place.")
    usage = {"input_tokens": 12, "cache_creation_input_tokens": 3600, "cache_read_input_tokens": 27000,
             "output_tokens": 120 * turns, "server_tool_use": {"web_search_requests": 0}, "service_tier": "standard"}
    if scenario == "error":
        out({"type": "result", "subtype": "error_max_turns", "is_error": True, "duration_ms": 5120,
             "duration_api_ms": 4800, "num_turns": turns, "session_id": session, "total_cost_usd": 0.0421,
             "usage": usage, "permission_denials": [], "uuid": str(uuid.uuid4())})
        return 1
    out({"type": "result", "subtype": "success", "is_error": False, "duration_ms": 8123,
         "duration_api_ms": 7900, "num_turns": turns, "result": "Done: the change is in place.",
         "session_id": session, "total_cost_usd": 0.0537, "usage": usage,
         "modelUsage": {model: {"inputTokens": 12, "outputTokens": 120 * turns, "cacheReadInputTokens": 27000,
                                "cacheCreationInputTokens": 3600, "costUSD": 0.0537}},
         "permission_denials": [{"tool_name": "Bash", "tool_use_id": "toolu_01denied",
                                 "tool_input": {"command": "rm -rf build"}}] if scenario == "edit" else [],
         "uuid": str(uuid.uuid4())})
    return 0


# ---------------------------------------------------------------- codex


def codex(args: list[str], prompt: str, scenario: str) -> int:
    if args[:1] != ["exec"] or "--json" not in args:
        print("error: fake codex supports only `exec --json`", file=sys.stderr)
        return 2
    out({"type": "thread.started", "thread_id": str(uuid.uuid4())})
    out({"type": "turn.started"})
    if scenario == "crash":
        out({"type": "error", "message": "stream error: unexpected status 401 Unauthorized"})
        out({"type": "turn.failed", "error": {"message": "unexpected status 401 Unauthorized"}})
        return 1
    out({"type": "item.completed", "item": {"id": "item_0", "type": "reasoning",
                                            "text": "**Planning the change** Looking at the files first."}})
    command = "bash -lc 'ls -a'"
    out({"type": "item.started", "item": {"id": "item_1", "type": "command_execution", "command": command,
                                          "aggregated_output": "", "exit_code": None, "status": "in_progress"}})
    listing = "\n".join(sorted(os.listdir("."))) + "\n"
    out({"type": "item.completed", "item": {"id": "item_1", "type": "command_execution", "command": command,
                                            "aggregated_output": listing, "exit_code": 0, "status": "completed"}})
    if scenario == "hang":
        _hang()
    if scenario == "fix_on_feedback":
        Path("value.txt").write_text(("fixed" if "failed" in prompt else "broken") + "\n")
        changed = "value.txt"
    else:
        Path("NOTES.md").write_text("# Notes\n\nWritten by codex.\n")
        changed = "NOTES.md"
    out({"type": "item.completed", "item": {"id": "item_2", "type": "file_change", "changes": [
        {"path": str(Path(changed).resolve()), "kind": "add"}], "status": "completed"}})
    out({"type": "item.completed", "item": {"id": "item_3", "type": "agent_message",
                                            "text": f"I added {changed}."}})
    if scenario == "error":
        out({"type": "error", "message": "You've hit your usage limit."})
        out({"type": "turn.failed", "error": {"message": "You've hit your usage limit."}})
        return 1
    out({"type": "turn.completed", "usage": {"input_tokens": 24763, "cached_input_tokens": 24448,
                                             "output_tokens": 122}})
    return 0


def main() -> int:
    name, args = sys.argv[1], sys.argv[2:]
    reads_stdin = (name == "claude" and "--help" not in args) or (name == "codex" and args[-1:] == ["-"])
    prompt = sys.stdin.read() if reads_stdin else ""
    if "--help" in args:
        return claude(args, prompt, os.environ.get("FAKE_SCENARIO", "edit"))
    with open(os.environ["FAKE_RECORD"], "a") as record:
        record.write(json.dumps({"argv": args, "prompt": prompt, "cwd": os.getcwd()}) + "\n")
    scenario = os.environ.get("FAKE_SCENARIO", "edit")
    return (claude if name == "claude" else codex)(args, prompt, scenario)


if __name__ == "__main__":
    sys.exit(main())
