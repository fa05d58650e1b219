"""The reference agent's executors: run a shell command or an Ollama generation, streaming as it goes.

An executor gets an ``emit`` callback for ``execution_event`` dicts and returns the ``result`` of
``task_complete`` (``status`` "success" or "failed", output, model, tokens, cost, duration, error).
Output is batched every 100 ms so a chatty process costs ten frames a second, not one per line;
the result keeps the tail of the output so a failed task's log survives into the task file.
"""

from __future__ import annotations

import codecs
import json
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import attrs
import httpx
import trio

from agentdeck.actors.telemetry.pricing import price_invocation

Emit = Callable[[dict[str, Any]], Awaitable[None]]
BATCH_SECONDS = 0.1
MAX_RESULT_OUTPUT = 128 * 1024
MAX_PARTIAL_LINE = 8 * 1024
MAX_EVENT_TEXT = 64 * 1024  # JSON escaping can grow text 6x; frames must stay under 1 MiB
FLUSH_AT = 256 * 1024  # flush before the 100 ms tick when this much is waiting
MAX_PENDING = 1024 * 1024  # output waiting for a slow socket; the oldest is dropped beyond this
DEFAULT_TIMEOUT = 300.0
KILL_GRACE = 2.0


def _now_ms() -> int:
    return int(time.time() * 1000)


@attrs.define
class OutputBatcher:
    """Collects output pieces and emits them, merged by event type, at most every ``interval``."""

    emit: Emit
    interval: float = BATCH_SECONDS
    model: str | None = None
    pending: list[tuple[str, str]] = attrs.field(factory=list)
    pending_chars: int = 0
    skipped_chars: int = 0
    full: trio.Event = attrs.field(factory=trio.Event)
    tail: list[str] = attrs.field(factory=list)
    tail_chars: int = 0
    tokens: int = 0

    def add(self, event_type: str, text: str, tokens: int = 0) -> None:
        if not text:
            return
        self.tokens += tokens
        if self.pending and self.pending[-1][0] == event_type:
            self.pending[-1] = (event_type, self.pending[-1][1] + text)
        else:
            self.pending.append((event_type, text))
        self.pending_chars += len(text)
        if self.pending_chars >= FLUSH_AT:
            self.full.set()
        while self.pending_chars > MAX_PENDING:
            kind, oldest = self.pending[0]
            drop = min(len(oldest), self.pending_chars - MAX_PENDING)
            self.pending[0] = (kind, oldest[drop:])
            if not self.pending[0][1]:
                self.pending.pop(0)
            self.pending_chars -= drop
            self.skipped_chars += drop
        if event_type in ("stdout", "stderr", "token"):
            self.tail.append(text)
            self.tail_chars += len(text)
            while self.tail_chars > MAX_RESULT_OUTPUT and len(self.tail) > 1:
                self.tail_chars -= len(self.tail.pop(0))

    @property
    def output(self) -> str:
        return "".join(self.tail)[-MAX_RESULT_OUTPUT:]

    async def flush(self) -> None:
        batch, self.pending, self.pending_chars = self.pending, [], 0
        if self.skipped_chars:
            batch.insert(0, ("status", f"[{self.skipped_chars} characters of output not streamed "
                                       "(it came faster than it could be sent); the result keeps the tail]\n"))
            self.skipped_chars = 0
        for event_type, text in batch:
            for start in range(0, len(text), MAX_EVENT_TEXT):
                event = {"event_type": event_type, "text": text[start:start + MAX_EVENT_TEXT],
                         "timestamp": _now_ms()}
                if event_type == "token":
                    event["tokens_so_far"] = self.tokens
                if self.model:
                    event["model"] = self.model
                await self.emit(event)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Flush every ``interval`` (sooner when a lot is waiting) until cancelled; the caller
        flushes once more at the end."""
        task_status.started()
        while True:
            with trio.move_on_after(self.interval):
                await self.full.wait()
            self.full = trio.Event()
            await self.flush()


def _result(status: str, batcher: OutputBatcher, started: float, *, model: str = "none",
            tokens_in: int = 0, tokens_out: int = 0, equivalent: float | None = None,
            error: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"status": status, "output": batcher.output, "model_used": model,
            "tokens_in": tokens_in, "tokens_out": tokens_out, "estimated_cost_usd": 0.0,
            "equivalent_claude_cost_usd": equivalent,
            "execution_ms": int((time.monotonic() - started) * 1000), "error": error, **extra}


# ---------------------------------------------------------------- shell


async def _kill_group(process: trio.Process) -> None:
    """Cancel delivery: the whole process group (``sh -c`` children too), TERM then KILL."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        if wait is not None:
            with trio.move_on_after(wait):
                await process.wait()
                return


async def _pump(stream: trio.abc.ReceiveStream, event_type: str, batcher: OutputBatcher) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    partial_line = ""
    while True:
        chunk = await stream.receive_some(65536)
        text = decoder.decode(chunk, final=not chunk)
        partial_line += text
        cut = partial_line.rfind("\n") + 1
        if cut == 0 and len(partial_line) > MAX_PARTIAL_LINE:
            cut = len(partial_line)
        if not chunk:
            cut = len(partial_line)
        batcher.add(event_type, partial_line[:cut])
        partial_line = partial_line[cut:]
        if not chunk:
            return


async def run_shell(command: str, *, emit: Emit, timeout: float = DEFAULT_TIMEOUT,
                    cwd: str | None = None, batch_interval: float = BATCH_SECONDS) -> dict[str, Any]:
    """Run ``command`` with ``sh -c``; stdout/stderr lines stream as events; non-zero exit fails."""
    started = time.monotonic()
    batcher = OutputBatcher(emit, batch_interval)
    exit_code: int | None = None
    async with trio.open_nursery() as outer:
        await outer.start(batcher.run)
        with trio.move_on_after(timeout) as deadline:
            async with trio.open_nursery() as nursery:
                process = await nursery.start(partial(
                    trio.run_process, command, shell=True, check=False, cwd=cwd,
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    start_new_session=True, deliver_cancel=_kill_group))
                nursery.start_soon(_pump, process.stdout, "stdout", batcher)
                nursery.start_soon(_pump, process.stderr, "stderr", batcher)
            exit_code = process.returncode
        if deadline.cancelled_caught:
            batcher.add("error", f"timed out after {timeout:g} s; process killed\n")
        outer.cancel_scope.cancel()
    await batcher.flush()
    if exit_code is None:
        return _result("failed", batcher, started, error=f"timed out after {timeout:g} s",
                       exit_code=None)
    if exit_code != 0:
        return _result("failed", batcher, started, error=f"exit code {exit_code}",
                       exit_code=exit_code)
    return _result("success", batcher, started, exit_code=0)


# ---------------------------------------------------------------- ollama


class OllamaError(Exception):
    """The endpoint answered with an error worth retrying (``retry``) or not."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


async def _generate_once(client: httpx.AsyncClient, url: str, model: str, prompt: str,
                         batcher: OutputBatcher) -> dict[str, Any]:
    """One streamed ``/api/generate`` call; returns the final (``done``) record."""
    body = {"model": model, "prompt": prompt, "stream": True}
    try:
        async with client.stream("POST", url.rstrip("/") + "/api/generate", json=body) as response:
            if response.status_code != 200:
                detail = (await response.aread())[:300].decode("utf-8", "replace")
                raise OllamaError(f"HTTP {response.status_code}: {detail}",
                                  retry=response.status_code >= 500)
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    raise OllamaError(f"not NDJSON: {line[:120]!r}", retry=True) from None
                if not isinstance(record, dict):
                    raise OllamaError(f"not an object: {line[:120]!r}", retry=True)
                if record.get("error"):
                    raise OllamaError(str(record["error"])[:500], retry=False)
                batcher.add("token", str(record.get("response") or ""), tokens=1)
                if record.get("done"):
                    return record
    except httpx.HTTPError as error:
        raise OllamaError(f"{type(error).__name__}: {error}", retry=True) from None
    raise OllamaError("stream ended before done", retry=True)


def _count(record: dict[str, Any], key: str) -> int:
    value = record.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


async def run_ollama(ollama_url: str, model: str, prompt: str, *, emit: Emit,
                     timeout: float = DEFAULT_TIMEOUT, retries: int = 2, retry_delay: float = 1.0,
                     claude_model: str = "claude-sonnet-4-5",
                     batch_interval: float = BATCH_SECONDS) -> dict[str, Any]:
    """Stream a generation; retry transport/5xx failures ``retries`` times with a status event."""
    started = time.monotonic()
    batcher = OutputBatcher(emit, batch_interval, model=model)
    final: dict[str, Any] | None = None
    error: str | None = None
    async with trio.open_nursery() as outer:
        await outer.start(batcher.run)
        with trio.move_on_after(timeout) as deadline:
            async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=timeout)) as client:
                for attempt in range(retries + 1):
                    try:
                        final = await _generate_once(client, ollama_url, model, prompt, batcher)
                        break
                    except OllamaError as failure:
                        error = f"Ollama: {failure}"
                        if not failure.retry or attempt == retries:
                            break
                        batcher.add("status", f"Ollama retry {attempt + 1}/{retries}... ({failure})\n")
                        await trio.sleep(retry_delay * 2 ** attempt)
        if deadline.cancelled_caught:
            error = f"timed out after {timeout:g} s"
            batcher.add("error", f"{error}\n")
        elif final is None:
            batcher.add("error", f"{error}\n")
        outer.cancel_scope.cancel()
    await batcher.flush()
    if final is None:
        return _result("failed", batcher, started, model=model, error=error)
    tokens_in, tokens_out = _count(final, "prompt_eval_count"), _count(final, "eval_count")
    price = price_invocation(f"ollama/{model}", tokens_in, tokens_out, claude_model=claude_model)
    return _result("success", batcher, started, model=model, tokens_in=tokens_in,
                   tokens_out=tokens_out, equivalent=price.equivalent_claude_cost_usd)


def prompt_of(assignment: dict[str, Any]) -> str:
    """The text sent to a model: the description plus any file hints and success criteria."""
    parts = [str(assignment.get("description") or "")]
    for key, heading in (("file_hints", "Relevant files"), ("success_criteria", "Success criteria"),
                         ("verification_steps", "Verification steps")):
        value = assignment.get(key)
        if isinstance(value, list) and value:
            parts.append(heading + ":\n" + "\n".join(f"- {_item_text(item)}" for item in value))
        elif isinstance(value, str) and value.strip():
            parts.append(f"{heading}: {value}")
    return "\n\n".join(p for p in parts if p)


def _item_text(item: Any) -> str:
    """A list entry: plain text, or an object such as ``{path, reason}`` (the Elixir hub's form)."""
    if isinstance(item, dict):
        head = item.get("path") or item.get("description") or item.get("name")
        rest = {k: v for k, v in item.items() if k not in ("path", "description", "name")}
        text = str(head) if head else json.dumps(item, ensure_ascii=False)
        if head and rest:
            text += " (" + ", ".join(f"{k}: {v}" for k, v in rest.items()) + ")"
        return text
    return str(item)
