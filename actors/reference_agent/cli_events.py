"""Small helpers shared by the coding-agent stream readers: short summaries of tool inputs and
results, and non-negative token counts from untrusted JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_SUMMARY = 200
MAX_TOOL_RESULT = 2000  # characters of a tool's result shown in the live output


def parse_line(text: str) -> dict[str, Any] | str | None:
    """One line of a CLI's JSON stream: its record (a JSON object), the line itself when it is not
    JSON (plain output, shown as such), or None for any other JSON value (nothing to show)."""
    try:
        record = json.loads(text)
    except ValueError:
        return text
    return record if isinstance(record, dict) else None


def count(record: Any, key: str) -> int:
    value = record.get(key) if isinstance(record, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def shorten(text: str, limit: int = MAX_SUMMARY) -> str:
    text = " ".join(text.split()) if limit <= MAX_SUMMARY else text
    return text if len(text) <= limit else text[:limit - 1] + "…"


def input_summary(tool_input: Any) -> str:
    """The part of a tool's input a person wants to see: the command, the file, the pattern."""
    if isinstance(tool_input, Mapping):
        for key in ("command", "file_path", "path", "pattern", "url", "query", "description",
                    "prompt"):
            value = tool_input.get(key)
            if isinstance(value, str) and value.strip():
                return shorten(value)
        return shorten(json.dumps(tool_input, ensure_ascii=False, default=str))
    return shorten(str(tool_input)) if tool_input is not None else ""


def result_text(content: Any) -> str:
    """A tool result's content (a string, or a list of ``{type: text, text}`` blocks), shortened."""
    if isinstance(content, list):
        content = "\n".join(str(block.get("text", "")) for block in content
                            if isinstance(block, Mapping) and block.get("type") == "text")
    text = str(content or "").rstrip("\n")
    if len(text) > MAX_TOOL_RESULT:
        text = text[:MAX_TOOL_RESULT] + f"\n[… {len(text) - MAX_TOOL_RESULT} more characters]"
    return text
