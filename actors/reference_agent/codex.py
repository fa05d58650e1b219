"""The Codex CLI executor: ``codex exec --json -`` in the task's directory, the prompt on stdin.

``codex exec --json`` prints JSON Lines: ``thread.started`` (thread id), ``turn.started``,
``item.started`` / ``item.updated`` / ``item.completed`` for each item (``agent_message`` ->
``token``, ``command_execution`` -> ``tool_call`` and its output, ``file_change`` -> ``status``,
``reasoning`` -> ``status``, ``mcp_tool_call`` / ``web_search`` -> ``tool_call``, ``error``),
``turn.completed`` with usage (input, cached input, output tokens), and ``turn.failed`` or ``error``
when something goes wrong.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import attrs

from agentdeck.actors.reference_agent.cli_events import count, parse_line, result_text, shorten
from agentdeck.actors.reference_agent.output import (
    BATCH_SECONDS,
    Emit,
    OutputBatcher,
    batching,
    build_result,
)
from agentdeck.actors.reference_agent.process import run_streaming


@attrs.frozen
class CodexOptions:
    binary: str = "codex"
    sandbox: str | None = "workspace-write"
    model: str | None = None  # None: the CLI's own default
    extra_args: tuple[str, ...] = ()


def codex_argv(options: CodexOptions, model: str | None) -> list[str]:
    """The argument vector; ``-`` makes codex read the prompt from stdin."""
    argv = [options.binary, "exec", "--json", "--skip-git-repo-check"]
    if options.sandbox:
        argv += ["--sandbox", options.sandbox]
    if model:
        argv += ["--model", model]
    return argv + list(options.extra_args) + ["-"]


@attrs.define
class CodexStream:
    batcher: OutputBatcher
    thread_id: str | None = None
    tokens_in: int = 0
    cached_in: int = 0
    tokens_out: int = 0
    turns_completed: int = 0
    failure: str | None = None
    last_error: str | None = None
    tool_calls: int = 0
    announced: set[str] = attrs.field(factory=set)  # command items already shown as tool calls

    def line(self, text: str) -> None:
        record = parse_line(text)
        if isinstance(record, str):
            self.batcher.add("stdout", record + "\n")
        if not isinstance(record, dict):
            return
        kind = record.get("type")
        if kind == "thread.started":
            self.thread_id = str(record.get("thread_id") or "") or None
            self.batcher.add("status", f"Codex thread {self.thread_id or '?'}\n")
        elif kind in ("item.started", "item.updated", "item.completed") and isinstance(record.get("item"), Mapping):
            self._item(record["item"], done=kind == "item.completed")
        elif kind == "turn.completed":
            usage = record.get("usage")
            self.turns_completed += 1
            self.tokens_in += count(usage, "input_tokens")
            self.cached_in += count(usage, "cached_input_tokens")
            self.tokens_out += count(usage, "output_tokens")
        elif kind == "turn.failed":
            error = record.get("error")
            message = error.get("message") if isinstance(error, Mapping) else error
            self.failure = shorten(str(message or "turn failed"), 2000)
            self.batcher.add("error", f"turn failed: {self.failure}\n")
        elif kind == "error":
            self.last_error = shorten(str(record.get("message") or "error"), 2000)
            self.batcher.add("error", self.last_error + "\n")

    def _item(self, item: Mapping[str, Any], *, done: bool) -> None:
        kind, item_id = item.get("type"), str(item.get("id") or "")
        if kind == "command_execution":
            if item_id not in self.announced:
                self.announced.add(item_id)
                self.tool_calls += 1
                self.batcher.add("tool_call", f"$ {shorten(str(item.get('command') or ''))}\n")
            if done:
                output = result_text(item.get("aggregated_output"))
                if output:
                    self.batcher.add("stdout", output + "\n")
                exit_code = item.get("exit_code")
                if isinstance(exit_code, int) and exit_code != 0:
                    self.batcher.add("stderr", f"(exit code {exit_code})\n")
        elif not done:
            return
        elif kind == "agent_message":
            text = str(item.get("text") or "")
            self.batcher.add("token", text + "\n", tokens=max(1, len(text.split())))
        elif kind == "reasoning":
            self.batcher.add("status", f"thinking: {shorten(str(item.get('text') or ''))}\n")
        elif kind == "file_change":
            changes = _list(item.get("changes"))
            names = ", ".join(f"{c.get('kind', 'update')} {c.get('path', '?')}" for c in changes
                              if isinstance(c, Mapping))
            self.batcher.add("status", f"files changed: {names or '(none listed)'}\n")
        elif kind in ("mcp_tool_call", "web_search"):
            self.tool_calls += 1
            name = item.get("query") if kind == "web_search" else \
                f"{item.get('server', 'mcp')}.{item.get('tool', '?')}"
            self.batcher.add("tool_call", f"{kind.replace('_', ' ')}: {shorten(str(name))}\n")
        elif kind == "error":
            self.batcher.add("stderr", f"{shorten(str(item.get('message') or 'error'), 2000)}\n")
        elif kind == "todo_list":
            items = _list(item.get("items"))
            self.batcher.add("status", "plan: " + "; ".join(
                ("[x] " if i.get("completed") else "[ ] ") + str(i.get("text", ""))
                for i in items if isinstance(i, Mapping)) + "\n")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


async def run_codex(prompt: str, *, emit: Emit, options: CodexOptions, model: str | None,
                    timeout: float, cwd: str | None = None,
                    batch_interval: float = BATCH_SECONDS) -> dict[str, Any]:
    """Run one ``codex exec``; success needs exit 0, a completed turn and no ``turn.failed``."""
    started = time.monotonic()
    model = model or options.model
    batcher = OutputBatcher(emit, batch_interval, model=model)
    stream = CodexStream(batcher)
    async with batching(batcher):
        process = await run_streaming(codex_argv(options, model), batcher=batcher, timeout=timeout,
                                      cwd=cwd, stdin_text=prompt, on_stdout_line=stream.line)
    error = None
    if stream.failure:
        error = f"Codex turn failed: {stream.failure}"
    elif not process.ok:
        error = f"Codex failed: {process.describe(timeout)}" + (
            f" ({stream.last_error})" if stream.last_error else "")
    elif not stream.turns_completed:
        error = "Codex ended without completing a turn" + (
            f" ({stream.last_error})" if stream.last_error else "")
    return build_result("failed" if error else "success", batcher, started,
                        model=model or "codex", tokens_in=stream.tokens_in,
                        tokens_out=stream.tokens_out, cost=None, error=error, executor="codex",
                        cache_read_tokens=stream.cached_in, thread_id=stream.thread_id,
                        tool_calls=stream.tool_calls, exit_code=process.exit_code)
