"""The reference agent's plain executors: a shell command, or an Ollama generation, streaming as it goes.

An executor gets an ``emit`` callback for ``execution_event`` dicts and returns the ``result`` of
``task_complete`` (``status`` "success" or "failed", output, model, tokens, cost, duration, error).
The coding-agent CLIs (Claude Code, Codex, any command) live in their own modules.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import httpx
import trio

from agentdeck.actors.reference_agent.output import (
    BATCH_SECONDS,
    DEFAULT_TIMEOUT,
    Emit,
    OutputBatcher,
    batching,
)
from agentdeck.actors.reference_agent.output import build_result as _result
from agentdeck.actors.reference_agent.process import run_streaming
from agentdeck.actors.telemetry.pricing import price_invocation

# ---------------------------------------------------------------- shell


async def run_shell(command: str, *, emit: Emit, timeout: float = DEFAULT_TIMEOUT,
                    cwd: str | None = None, batch_interval: float = BATCH_SECONDS,
                    env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run ``command`` with ``sh -c``; stdout/stderr lines stream as events; non-zero exit fails."""
    started = time.monotonic()
    batcher = OutputBatcher(emit, batch_interval)
    async with batching(batcher):
        outcome = await run_streaming(command, batcher=batcher, timeout=timeout, cwd=cwd, env=env)
    if not outcome.ok:
        return _result("failed", batcher, started, error=outcome.describe(timeout),
                       exit_code=outcome.exit_code)
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
