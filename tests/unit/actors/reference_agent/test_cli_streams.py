"""Reading Claude Code's and Codex's JSON Lines: odd, truncated or hostile lines never crash the
reader; they show as output or are skipped."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from agentdeck.actors.reference_agent.claude_code import ClaudeStream
from agentdeck.actors.reference_agent.codex import CodexStream
from agentdeck.actors.reference_agent.output import OutputBatcher


async def _ignore(event):
    pass


ODD_LINES = [
    "not json at all", "[1, 2]", "null", '"text"', "{}", '{"type": 5}',
    '{"type": "assistant", "message": "x"}', '{"type": "assistant", "message": {"content": {"a": 1}}}',
    '{"type": "assistant", "message": {"content": [1, null, {"type": "tool_use", "input": [1]}]}}',
    '{"type": "user", "message": {"content": [{"type": "tool_result", "content": [{"type": "text"}]}]}}',
    '{"type": "stream_event", "event": {"type": "content_block_delta", "delta": "x"}}',
    '{"type": "system", "subtype": "init", "tools": "all", "model": 3}',
    '{"type": "result", "usage": {"input_tokens": -5, "output_tokens": true}, "total_cost_usd": "1"}',
    '{"type": "item.completed", "item": {"type": "file_change", "changes": "x"}}',
    '{"type": "item.completed", "item": {"type": "todo_list", "items": [1, {"text": "a"}]}}',
    '{"type": "item.started", "item": {"type": "command_execution", "command": null}}',
    '{"type": "turn.completed", "usage": "lots"}', '{"type": "turn.failed", "error": "boom"}',
    '{"type": "item.completed", "item": []}', "\u0000\ufffd{", "x" * 100_000,
]


def test_odd_lines_never_crash_either_reader():
    claude, codex = ClaudeStream(OutputBatcher(_ignore)), CodexStream(OutputBatcher(_ignore))
    for line in ODD_LINES:
        claude.line(line)
        codex.line(line)
    found = claude.outcome()
    assert found["tokens_in"] == 0 and found["tokens_out"] == 0 and found["reported_cost_usd"] is None
    assert codex.failure == "boom" and codex.tokens_in == 0
    assert "not json at all" in claude.batcher.output


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(
                        st.sampled_from(["type", "subtype", "message", "content", "event", "delta", "item",
                                         "usage", "text", "input", "name", "changes", "error"]), children,
                        max_size=5), max_leaves=20),
       st.sampled_from(["assistant", "user", "system", "result", "stream_event", "item.started",
                        "item.completed", "turn.completed", "turn.failed", "error", "thread.started"]))
def test_any_json_shape_is_read_without_an_exception(payload, kind):
    record = payload if isinstance(payload, dict) else {"message": payload, "item": payload}
    line = json.dumps({**record, "type": kind})
    claude, codex = ClaudeStream(OutputBatcher(_ignore)), CodexStream(OutputBatcher(_ignore))
    claude.line(line)
    codex.line(line)
    claude.outcome()
