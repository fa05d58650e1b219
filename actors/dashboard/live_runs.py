"""What each running task is doing right now: its last output line, tokens so far, spend so far.

Fed one ``ExecutionEvent`` at a time (constant work each), forgotten when the attempt ends. Spend
so far prices the tokens reported so far as output tokens of the reported model (an upper
estimate: the final cost comes with the result); an unknown model is "unpriced", never $0.
"""

from __future__ import annotations

from typing import Any

import attrs

from agentdeck.actors.messages import ExecutionEvent
from agentdeck.actors.telemetry.pricing import price_invocation

MAX_LINE = 240
MAX_RUNS = 5000


@attrs.define
class _Run:
    agent_id: str
    generation: int
    line: str = ""  # the last complete (or growing) line of output
    partial: str = ""  # tokens since the last newline
    tokens: int | None = None
    model: str | None = None


class LiveRuns:
    def __init__(self, claude_model: str) -> None:
        self._claude_model = claude_model
        self._runs: dict[str, _Run] = {}

    def output(self, event: ExecutionEvent) -> None:
        run = self._runs.get(event.task_id)
        if run is None or event.generation > run.generation:
            if run is None and len(self._runs) >= MAX_RUNS:
                self._runs.pop(next(iter(self._runs)))
            run = self._runs[event.task_id] = _Run(event.agent_id, event.generation)
        elif event.generation < run.generation:
            return
        if event.tokens_so_far is not None and isinstance(event.tokens_so_far, int):
            run.tokens = max(0, event.tokens_so_far)
        if event.model:
            run.model = str(event.model)
        text = event.text
        if event.event_type == "token":
            pieces = (run.partial + text).split("\n")
            run.partial = pieces[-1][-MAX_LINE:]
            complete = [p for p in pieces[:-1] if p.strip()]
            if complete:
                run.line = complete[-1].strip()[-MAX_LINE:]
            if run.partial.strip():
                run.line = run.partial.strip()
        else:
            lines = [p for p in text.splitlines() if p.strip()]
            if lines:
                run.line = lines[-1].strip()[:MAX_LINE]
                run.partial = ""

    def forget(self, task_id: str) -> bool:
        return self._runs.pop(task_id, None) is not None

    def json(self) -> dict[str, dict[str, Any]]:
        out = {}
        for task_id, run in self._runs.items():
            cost: float | None = None
            priced = True
            if run.tokens is not None and run.model:
                price = price_invocation(run.model, 0, run.tokens, claude_model=self._claude_model)
                cost, priced = price.cost_usd, price.priced
            out[task_id] = {"agent_id": run.agent_id, "generation": run.generation, "last_line": run.line,
                            "tokens": run.tokens, "model": run.model, "cost_usd": cost, "priced": priced}
        return out
