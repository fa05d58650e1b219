"""Output on its way to the hub: batched into few events, with a tail kept for the task's result.

Output is batched every 100 ms so a chatty process costs ten frames a second, not one per line;
the result keeps the tail of the output so a failed task's log survives into the task file.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

Emit = Callable[[dict[str, Any]], Awaitable[None]]
BATCH_SECONDS = 0.1
MAX_RESULT_OUTPUT = 128 * 1024
MAX_PARTIAL_LINE = 8 * 1024
MAX_EVENT_TEXT = 64 * 1024  # JSON escaping can grow text 6x; frames must stay under 1 MiB
FLUSH_AT = 256 * 1024  # flush before the 100 ms tick when this much is waiting
MAX_PENDING = 1024 * 1024  # output waiting for a slow socket; the oldest is dropped beyond this
KEPT_TYPES = ("stdout", "stderr", "token", "tool_call")  # what the result's output tail keeps
DEFAULT_TIMEOUT = 300.0
STOP_GRACE_SECONDS = 5.0  # a last flush stuck on a dead connection is given up after this


def now_ms() -> int:
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
    stopped: bool = False
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
        if event_type in KEPT_TYPES:
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
                         "timestamp": now_ms()}
                if event_type == "token":
                    event["tokens_so_far"] = self.tokens
                if self.model:
                    event["model"] = self.model
                await self.emit(event)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Flush every ``interval`` (sooner when a lot is waiting) until cancelled; the caller
        flushes once more at the end."""
        task_status.started()
        while not self.stopped:
            with trio.move_on_after(self.interval):
                await self.full.wait()
            self.full = trio.Event()
            await self.flush()

    def stop(self) -> None:
        """End the flush loop after the flush under way: cancelling it would lose the batch it
        had taken but not yet sent (the last tool calls of a task, seen under load)."""
        self.stopped = True
        self.full.set()


def build_result(status: str, batcher: OutputBatcher, started: float, *, model: str = "none",
            tokens_in: int = 0, tokens_out: int = 0, cost: float | None = 0.0,
                 equivalent: float | None = None,
            error: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"status": status, "output": batcher.output, "model_used": model,
            "tokens_in": tokens_in, "tokens_out": tokens_out, "estimated_cost_usd": cost,
            "equivalent_claude_cost_usd": equivalent,
            "execution_ms": int((time.monotonic() - started) * 1000), "error": error, **extra}


@asynccontextmanager
async def batching(batcher: OutputBatcher) -> AsyncIterator[OutputBatcher]:
    """Run the batcher's flush loop for the body, then flush what is left (unless cancelled)."""
    async with trio.open_nursery() as nursery:
        await nursery.start(batcher.run)
        try:
            yield batcher
        finally:
            batcher.stop()
            nursery.cancel_scope.deadline = trio.current_time() + STOP_GRACE_SECONDS
    await batcher.flush()
