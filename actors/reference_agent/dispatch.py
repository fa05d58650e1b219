"""Which executor runs an assignment, and running it: the task's ``executor`` field, else the routing
decision's ``target_type``; each executor exists only when configured (and its CLI installed), and
the agent advertises exactly those as capabilities so the hub routes it only what it can run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from agentdeck.actors.queue.routing import endpoint_of, executor_of, shell_command_of, target_of_executor
from agentdeck.actors.reference_agent.assignment import mapping_of, metadata_of
from agentdeck.actors.reference_agent.claude_code import ClaudeOptions, run_claude
from agentdeck.actors.reference_agent.codex import CodexOptions, run_codex
from agentdeck.actors.reference_agent.command_agent import CommandAgent, run_command_agent
from agentdeck.actors.reference_agent.executors import run_ollama, run_shell
from agentdeck.actors.reference_agent.output import Emit
from agentdeck.actors.reference_agent.prompt import prompt_of

FEEDBACK_ENV = "AGENTDECK_VERIFICATION_FEEDBACK"


@attrs.frozen
class Executors:
    """What this agent can run; ``claude``/``codex`` are None when not installed or not wanted."""

    ollama_url: str | None = None
    default_ollama_model: str = "llama3.2"
    claude_model: str = "claude-sonnet-4-5"
    claude: ClaudeOptions | None = None
    codex: CodexOptions | None = None
    commands: tuple[CommandAgent, ...] = ()

    def capabilities(self) -> tuple[str, ...]:
        names = ["shell"]
        if self.ollama_url:
            names.append("ollama")
        if self.claude is not None:
            names.append("claude")
        if self.codex is not None:
            names.append("codex")
        return (*names, *(agent.name for agent in self.commands))

    def command_agent(self, name: str) -> CommandAgent | None:
        return next((agent for agent in self.commands if agent.name == name), None)


def target_of(assignment: Mapping[str, Any], executors: Executors) -> str:
    """The executor for this assignment: the task's ``executor``, else the routing target."""
    metadata = metadata_of(assignment)
    named = executor_of(assignment)
    if named:
        return target_of_executor(named)
    target = mapping_of(assignment, "routing_decision").get("target_type")
    if isinstance(target, str) and target:
        return target
    if shell_command_of(metadata) or shell_command_of(assignment):
        return "sidecar"
    return "ollama" if executors.ollama_url else "claude"


def ollama_url_for(own: str | None, endpoint: Any) -> str | None:
    """The hub names the endpoint as ``host:port``; prefer our own URL when it is the same."""
    if not isinstance(endpoint, str) or not endpoint:
        return own
    if own and endpoint_of(own) == endpoint_of(endpoint):
        return own
    return endpoint if "://" in endpoint else f"http://{endpoint}"


def refusal(error: str) -> dict[str, Any]:
    return {"status": "failed", "output": "", "model_used": "none", "tokens_in": 0,
            "tokens_out": 0, "estimated_cost_usd": 0.0, "equivalent_claude_cost_usd": None,
            "execution_ms": 0, "error": error}


async def run_target(target: str, assignment: Mapping[str, Any], executors: Executors, *,
                     emit: Emit, timeout: float, cwd: str | None,
                     feedback: str | None = None) -> dict[str, Any]:
    """Run the assignment on ``target``; a target this agent lacks is a clear failure."""
    metadata = metadata_of(assignment)
    routing = mapping_of(assignment, "routing_decision")
    routed_model = routing.get("selected_model") if routing.get("target_type") == target else None
    if target == "sidecar":
        command = shell_command_of(metadata) or shell_command_of(assignment)
        if command is None:
            return refusal("no shell_command in the task's metadata")
        return await run_shell(command, emit=emit, timeout=timeout, cwd=cwd,
                               env={FEEDBACK_ENV: feedback} if feedback else None)
    prompt = prompt_of(assignment, feedback)
    if target == "ollama":
        url = ollama_url_for(executors.ollama_url, routing.get("selected_endpoint"))
        if not url:
            return refusal("routed to Ollama but this agent has no --ollama-url")
        return await run_ollama(url, routed_model or executors.default_ollama_model, prompt,
                                emit=emit, timeout=timeout, claude_model=executors.claude_model)
    if target == "claude":
        if executors.claude is None:
            return refusal("this agent cannot run claude (the claude CLI is not installed or not enabled)")
        return await run_claude(prompt, emit=emit, options=executors.claude,
                                model=routed_model or executors.claude_model, timeout=timeout, cwd=cwd)
    if target == "codex":
        if executors.codex is None:
            return refusal("this agent cannot run codex (the codex CLI is not installed or not enabled)")
        return await run_codex(prompt, emit=emit, options=executors.codex, model=routed_model,
                               timeout=timeout, cwd=cwd)
    agent = executors.command_agent(target)
    if agent is None:
        return refusal(f"this agent has no executor {target!r}")
    return await run_command_agent(agent, prompt, emit=emit, timeout=timeout, cwd=cwd)
