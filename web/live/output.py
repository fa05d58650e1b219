"""Execution output on its way to open task panels: kept raw between flushes, rendered once.

Output of an older attempt (a lower generation than the last one seen) is dropped; the first output
of a newer attempt, or its assignment, clears the panel (an out-of-band reset of the output block).
"""

from __future__ import annotations

import attrs

from agentdeck.actors.messages import ExecutionEvent
from agentdeck.web.live.regions import Renderer, output_line
from agentdeck.web.view.present import task_hash

MAX_TRACKED_TASKS = 20_000


@attrs.define
class _Pending:
    reset: int | None = None  # set when a new attempt began since the last flush
    lines: list[dict[str, str]] = attrs.field(factory=list)


class LiveOutput:
    def __init__(self) -> None:
        self._generations: dict[str, int] = {}
        self._pending: dict[str, _Pending] = {}

    def new_attempt(self, task_id: str, generation: int, shown: bool) -> str | None:
        """Note an attempt; returns the task hash whose panel must be cleared (when ``shown``)."""
        self._generations[task_id] = generation
        if len(self._generations) > MAX_TRACKED_TASKS:
            self._generations.pop(next(iter(self._generations)))
        if not shown:
            return None
        h = task_hash(task_id)
        self._pending[h] = _Pending(reset=generation)
        return h

    def add(self, event: ExecutionEvent, shown: bool) -> str | None:
        """Keep one piece of output; returns the task hash to flush, None when there is nothing to."""
        known = self._generations.get(event.task_id)
        if known is not None and event.generation < known:
            return None
        if known is None or event.generation > known:
            self.new_attempt(event.task_id, event.generation, shown)
        if not shown:
            return None  # nobody to show it to; a panel opened later asks the execution log
        h = task_hash(event.task_id)
        self._pending.setdefault(h, _Pending()).lines.append(output_line(event))
        return h

    def render(self, h: str, renderer: Renderer) -> str:
        pending = self._pending.pop(h, None)
        if pending is None:
            return ""
        return renderer.partial("output_chunk", hash=h, reset=pending.reset, lines=pending.lines)
