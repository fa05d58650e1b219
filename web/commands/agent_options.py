"""The reference agent's executor options: which coding-agent CLIs it runs and how.

Claude Code and Codex are used when their CLI is on ``PATH`` (or given with ``--claude-bin`` /
``--codex-bin``) unless turned off; every ``--command-agent NAME=COMMAND`` adds an executor (and a
capability) called NAME. The agent declares exactly these, so the hub routes it only what it can run.
The executors themselves are imported only when the agent command runs (``serve`` starts faster).
"""

from __future__ import annotations

import argparse
import shutil
from typing import Any


def add_executor_arguments(agent: argparse.ArgumentParser) -> None:
    claude = agent.add_argument_group("Claude Code (used when `claude` is on PATH)")
    claude.add_argument("--no-claude", action="store_true", help="never run Claude Code")
    claude.add_argument("--claude-bin", default="claude", help="the claude executable")
    claude.add_argument("--claude-model", default=None, help="model when the hub names none")
    claude.add_argument("--claude-permission-mode", default="acceptEdits",
                        help="--permission-mode for claude (default acceptEdits; 'none' to omit)")
    claude.add_argument("--claude-allowed-tools", default="",
                        help="comma-separated --allowedTools, e.g. 'Read,Edit,Bash(git *)'")
    codex = agent.add_argument_group("Codex (used when `codex` is on PATH)")
    codex.add_argument("--no-codex", action="store_true", help="never run Codex")
    codex.add_argument("--codex-bin", default="codex", help="the codex executable")
    codex.add_argument("--codex-model", default=None, help="model for codex (default: its own)")
    codex.add_argument("--codex-sandbox", default="workspace-write",
                       help="--sandbox for codex exec (default workspace-write; 'none' to omit)")
    other = agent.add_argument_group("other CLI agents and workspaces")
    other.add_argument("--command-agent", action="append", default=[], metavar="NAME=COMMAND",
                       help="an executor NAME running COMMAND (no shell); the prompt replaces {prompt} "
                            "in an argument, or goes on stdin. Repeatable.")
    other.add_argument("--worktree-root", default=None,
                       help="where task worktrees and clones live (default: a temp directory)")
    other.add_argument("--keep-worktrees", action="store_true", help="keep each task's worktree")
    other.add_argument("--keep-failed-branches", action="store_true",
                       help="keep the branch of an attempt that was cancelled or failed before committing")


def _optional(value: str) -> str | None:
    return None if value.strip().lower() in ("", "none") else value


def executor_settings(args: argparse.Namespace) -> dict[str, Any]:
    """AgentSettings fields from the options; raises ValueError for a bad --command-agent."""
    from agentdeck.actors.reference_agent.claude_code import ClaudeOptions
    from agentdeck.actors.reference_agent.codex import CodexOptions
    from agentdeck.actors.reference_agent.command_agent import parse_command_agent

    claude_bin = None if args.no_claude else shutil.which(args.claude_bin)
    codex_bin = None if args.no_codex else shutil.which(args.codex_bin)
    tools = tuple(t.strip() for t in args.claude_allowed_tools.split(",") if t.strip())
    settings: dict[str, Any] = {
        "claude": ClaudeOptions(binary=claude_bin, permission_mode=_optional(args.claude_permission_mode),
                                allowed_tools=tools) if claude_bin else None,
        "codex": CodexOptions(binary=codex_bin, sandbox=_optional(args.codex_sandbox),
                              model=args.codex_model) if codex_bin else None,
        "command_agents": tuple(parse_command_agent(spec) for spec in args.command_agent),
        "worktree_root": args.worktree_root, "keep_worktrees": args.keep_worktrees,
        "keep_failed_branches": args.keep_failed_branches,
    }
    if args.claude_model:
        settings["claude_model"] = args.claude_model
    return settings
