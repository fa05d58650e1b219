"""Any other CLI agent (aider, gemini, a team's own script): a configured argument vector, the prompt
on stdin or in place of a ``{prompt}`` placeholder, stdout and stderr streamed as they come."""

from __future__ import annotations

import shlex
import time
from typing import Any

import attrs

from agentdeck.actors.reference_agent.output import BATCH_SECONDS, Emit, OutputBatcher, batching, build_result
from agentdeck.actors.reference_agent.process import run_streaming

PLACEHOLDER = "{prompt}"


@attrs.frozen
class CommandAgent:
    name: str
    argv: tuple[str, ...]

    @property
    def prompt_on_stdin(self) -> bool:
        return not any(PLACEHOLDER in part for part in self.argv)

    def command(self, prompt: str) -> list[str]:
        """The argument vector for ``prompt``: the placeholder is replaced inside its argument only."""
        return [part.replace(PLACEHOLDER, prompt) for part in self.argv]


def parse_command_agent(spec: str) -> CommandAgent:
    """``NAME=COMMAND`` (split like a shell would, but never run by one) -> CommandAgent."""
    name, sep, command = spec.partition("=")
    name = name.strip()
    if not sep or not name or not command.strip():
        raise ValueError(f"expected NAME=COMMAND, got {spec!r}")
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"agent name {name!r}: letters, digits, '-' and '_' only")
    return CommandAgent(name, tuple(shlex.split(command)))


async def run_command_agent(agent: CommandAgent, prompt: str, *, emit: Emit, timeout: float,
                            cwd: str | None = None,
                            batch_interval: float = BATCH_SECONDS) -> dict[str, Any]:
    started = time.monotonic()
    batcher = OutputBatcher(emit, batch_interval)
    async with batching(batcher):
        outcome = await run_streaming(agent.command(prompt), batcher=batcher, timeout=timeout,
                                      cwd=cwd, stdin_text=prompt if agent.prompt_on_stdin else None)
    error = None if outcome.ok else f"{agent.name}: {outcome.describe(timeout)}"
    return build_result("failed" if error else "success", batcher, started, model=agent.name,
                        error=error, executor=agent.name, exit_code=outcome.exit_code)
