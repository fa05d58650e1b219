"""The Claude Code executor: ``claude -p --output-format stream-json --verbose`` in the task's
directory, the prompt on stdin, each line of its stream turned into execution events.

Stream lines (Claude Code's documented headless output): ``system``/``init`` (model, session id,
tools); ``stream_event`` wrapping API deltas when ``--include-partial-messages`` is given (text
deltas become ``token`` events as they arrive); ``assistant`` messages (text -> ``token`` unless it
was already streamed as deltas, ``tool_use`` -> ``tool_call``); ``user`` messages carrying
``tool_result`` blocks (-> ``stdout``, or ``stderr`` when ``is_error``); and the final ``result``
(usage with cache tokens, ``total_cost_usd``, ``num_turns``, ``session_id``, ``is_error``,
``subtype``), which becomes the task's result. Its ``total_cost_usd`` is sent as the agent's
``estimated_cost_usd``: the hub prices the tokens itself and keeps this figure beside its own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import attrs
import trio

from agentdeck.actors.reference_agent.cli_events import count, input_summary, parse_line, result_text, shorten
from agentdeck.actors.reference_agent.output import (
    BATCH_SECONDS,
    Emit,
    OutputBatcher,
    batching,
    build_result,
)
from agentdeck.actors.reference_agent.process import run_streaming

PARTIAL_FLAG = "--include-partial-messages"


@attrs.frozen
class ClaudeOptions:
    """How this agent runs Claude Code (from ``agentdeck agent`` options)."""

    binary: str = "claude"
    permission_mode: str | None = "acceptEdits"
    allowed_tools: tuple[str, ...] = ()
    partial_messages: bool = True  # token deltas; turned off when the installed CLI lacks the flag
    extra_args: tuple[str, ...] = ()


def claude_argv(options: ClaudeOptions, model: str | None) -> list[str]:
    """The argument vector; the prompt itself goes on stdin."""
    argv = [options.binary, "-p", "--output-format", "stream-json", "--verbose"]
    if options.partial_messages:
        argv.append(PARTIAL_FLAG)
    if model:
        argv += ["--model", model]
    if options.permission_mode:
        argv += ["--permission-mode", options.permission_mode]
    if options.allowed_tools:
        argv += ["--allowedTools", *options.allowed_tools]
    return argv + list(options.extra_args)


async def supports_partial_messages(binary: str) -> bool:
    """Whether ``claude --help`` lists ``--include-partial-messages`` (older CLIs do not)."""
    try:
        with trio.move_on_after(15):
            done = await trio.run_process([binary, "--help"], capture_stdout=True,
                                          capture_stderr=True, check=False)
            return PARTIAL_FLAG.encode() in done.stdout + done.stderr
    except OSError:
        return False
    return False


@attrs.define
class ClaudeStream:
    """Reads stream-json lines into the batcher; keeps what the final result needs."""

    batcher: OutputBatcher
    model: str | None = None
    session_id: str | None = None
    final: dict[str, Any] | None = None
    streamed_text: bool = False  # text deltas seen since the last whole assistant message
    tool_calls: int = 0
    denied: int = 0

    def line(self, text: str) -> None:
        record = parse_line(text)
        if isinstance(record, str):
            self.batcher.add("stdout", record + "\n")
        if not isinstance(record, dict):
            return
        kind = record.get("type")
        if kind == "system" and record.get("subtype") == "init":
            self._init(record)
        elif kind == "stream_event":
            self._delta(record.get("event"))
        elif kind == "assistant":
            self._assistant(record.get("message"))
        elif kind == "user":
            self._tool_results(record.get("message"))
        elif kind == "result":
            self.final = record
            self._denials(record.get("permission_denials"))

    def _init(self, record: Mapping[str, Any]) -> None:
        self.session_id = str(record.get("session_id") or "") or None
        if isinstance(record.get("model"), str):
            self.model = self.batcher.model = record["model"]
        tools = record.get("tools")
        tools = tools if isinstance(tools, list) else []
        self.batcher.add("status", f"Claude Code session {self.session_id or '?'} "
                                   f"({self.model or 'default model'}, {len(tools)} tools)\n")

    def _delta(self, event: Any) -> None:
        if not isinstance(event, Mapping) or event.get("type") != "content_block_delta":
            return
        delta = event.get("delta")
        if isinstance(delta, Mapping) and delta.get("type") == "text_delta":
            text = str(delta.get("text") or "")
            if text:
                self.streamed_text = True
                self.batcher.add("token", text, tokens=1)

    def _assistant(self, message: Any) -> None:
        content = message.get("content") if isinstance(message, Mapping) else None
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, Mapping):
                continue
            if block.get("type") == "text" and not self.streamed_text:
                text = str(block.get("text") or "")
                self.batcher.add("token", text + ("" if text.endswith("\n") else "\n"),
                                 tokens=max(1, len(text.split())))
            elif block.get("type") == "text":
                self.batcher.add("token", "\n")
            elif block.get("type") == "tool_use":
                self.tool_calls += 1
                name = str(block.get("name") or "tool")
                self.batcher.add("tool_call", f"{name} {input_summary(block.get('input'))}".rstrip() + "\n")
        self.streamed_text = False

    def _tool_results(self, message: Any) -> None:
        content = message.get("content") if isinstance(message, Mapping) else None
        for block in content if isinstance(content, list) else []:
            if isinstance(block, Mapping) and block.get("type") == "tool_result":
                text = result_text(block.get("content"))
                if text:
                    self.batcher.add("stderr" if block.get("is_error") else "stdout", text + "\n")

    def _denials(self, denials: Any) -> None:
        """Tools the permission mode refused: worth a line, the usual reason a headless run stalls."""
        for denial in denials if isinstance(denials, list) else []:
            if isinstance(denial, Mapping):
                self.denied += 1
                name = str(denial.get("tool_name") or "tool")
                self.batcher.add("status", f"permission denied: {name} {input_summary(denial.get('tool_input'))}"
                                           .rstrip() + " (see --claude-allowed-tools)\n")

    def outcome(self) -> dict[str, Any]:
        """The result fields Claude Code reported (empty when it printed no ``result``)."""
        final = self.final
        if final is None:
            return {}
        usage = final.get("usage") if isinstance(final.get("usage"), Mapping) else {}
        cache_read, cache_write = count(usage, "cache_read_input_tokens"), count(usage, "cache_creation_input_tokens")
        cost = final.get("total_cost_usd")
        return {
            "tokens_in": count(usage, "input_tokens") + cache_read + cache_write,
            "tokens_out": count(usage, "output_tokens"),
            "cache_read_tokens": cache_read, "cache_creation_tokens": cache_write,
            "reported_cost_usd": float(cost) if isinstance(cost, (int, float))
            and not isinstance(cost, bool) and cost >= 0 else None,
            "num_turns": count(final, "num_turns"),
            "session_id": str(final.get("session_id") or self.session_id or "") or None,
            "subtype": str(final.get("subtype") or ""),
            "is_error": bool(final.get("is_error")),
            "final_text": str(final.get("result") or ""),
            "errors": [str(e) for e in final.get("errors") or [] if e] if isinstance(final.get("errors"), list) else [],
        }


async def run_claude(prompt: str, *, emit: Emit, options: ClaudeOptions, model: str | None,
                     timeout: float, cwd: str | None = None,
                     batch_interval: float = BATCH_SECONDS) -> dict[str, Any]:
    """Run one Claude Code session; success needs exit 0 and a ``result`` that is not an error."""
    started = time.monotonic()
    batcher = OutputBatcher(emit, batch_interval, model=model)
    stream = ClaudeStream(batcher, model=model)
    async with batching(batcher):
        process = await run_streaming(claude_argv(options, model), batcher=batcher, timeout=timeout,
                                      cwd=cwd, stdin_text=prompt, on_stdout_line=stream.line)
    found = stream.outcome()
    fields: dict[str, Any] = {key: found[key] for key in (
        "cache_read_tokens", "cache_creation_tokens", "num_turns", "session_id") if key in found}
    fields.update(executor="claude", tool_calls=stream.tool_calls, permission_denials=stream.denied,
                  exit_code=process.exit_code,
                  claude_subtype=found.get("subtype"))
    model_used = stream.model or model or "claude"
    error = _error_of(process.describe(timeout), process.ok, found)
    return build_result("failed" if error else "success", batcher, started, model=model_used,
                        tokens_in=found.get("tokens_in", 0), tokens_out=found.get("tokens_out", 0),
                        cost=found.get("reported_cost_usd"), error=error, **fields)


def _error_of(exit_text: str, exited_ok: bool, found: Mapping[str, Any]) -> str | None:
    if found.get("is_error") or (found and found.get("subtype") not in ("", "success")):
        detail = "; ".join(found.get("errors") or []) or found.get("final_text") or ""
        return shorten(f"Claude Code {found.get('subtype') or 'error'}: {detail}".rstrip(": "), 2000)
    if not exited_ok:
        return f"Claude Code failed: {exit_text}"
    if not found:
        return "Claude Code ended without a result"
    return None

