"""The prompt a coding agent or model gets: the task's description, success criteria, file hints,
and (on a retry after a failed verification) what failed. Plain text, handed over as one argument or
on stdin, never through a shell."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentdeck.actors.reference_agent.assignment import metadata_of

SECTIONS = (("file_hints", "Relevant files"), ("success_criteria", "Success criteria"),
            ("verification_steps", "Verification steps (run after you finish)"))


def prompt_of(assignment: Mapping[str, Any], feedback: str | None = None) -> str:
    """The text sent to a model: the description plus any file hints and success criteria."""
    metadata = metadata_of(assignment)
    parts = [str(assignment.get("description") or metadata.get("title") or "")]
    for key, heading in SECTIONS:
        value = assignment.get(key, metadata.get(key))
        if isinstance(value, list) and value:
            parts.append(heading + ":\n" + "\n".join(f"- {_item_text(item)}" for item in value))
        elif isinstance(value, str) and value.strip():
            parts.append(f"{heading}: {value}")
    if feedback:
        parts.append("Your previous attempt did not pass verification. Fix the problem and finish "
                     "the task.\n" + feedback)
    return "\n\n".join(p for p in parts if p)


def _item_text(item: Any) -> str:
    """A list entry: plain text, or an object such as ``{path, reason}`` (the Elixir hub's form)."""
    if isinstance(item, dict):
        head = item.get("path") or item.get("command") or item.get("description") or item.get("name")
        rest = {k: v for k, v in item.items() if k not in ("path", "command", "description", "name")}
        text = str(head) if head else json.dumps(item, ensure_ascii=False)
        if head and rest:
            text += " (" + ", ".join(f"{k}: {v}" for k, v in rest.items()) + ")"
        return text
    return str(item)
