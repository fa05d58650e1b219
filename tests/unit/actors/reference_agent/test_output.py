"""The output batcher: nothing taken for sending is lost when the task's body ends."""

from __future__ import annotations

from typing import Any

import trio

from agentdeck.actors.reference_agent.output import OutputBatcher, batching


async def test_a_batch_being_sent_when_the_body_ends_is_sent_whole(autojump_clock: Any) -> None:
    sent: list[tuple[str, str]] = []

    async def slow_emit(event: dict[str, Any]) -> None:
        await trio.sleep(0.05)  # a socket that takes its time
        sent.append((event["event_type"], event["text"]))

    batcher = OutputBatcher(slow_emit)
    async with batching(batcher):
        batcher.add("tool_call", "Bash ls -a\n")
        batcher.add("stdout", "README.md\n")
        await trio.sleep(0.12)  # the loop has taken both and is sending the first
        batcher.add("token", "Done.")
    assert sent == [("tool_call", "Bash ls -a\n"), ("stdout", "README.md\n"), ("token", "Done.")]
