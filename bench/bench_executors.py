"""Shell executor throughput: lines/s read from a process and handed to ``emit`` in 100 ms batches."""

from __future__ import annotations

import time

import trio

from agentdeck.actors.reference_agent.executors import run_shell

LINES = 10_000_000


async def main() -> None:
    events = []

    async def emit(event):
        events.append(len(event["text"]))

    start = time.perf_counter()
    result = await run_shell(f"seq 1 {LINES}", emit=emit, timeout=120)
    elapsed = time.perf_counter() - start
    assert result["status"] == "success"
    print(f"seq 1 {LINES}: {LINES / elapsed:,.0f} lines/s, {sum(events) / elapsed / 1e6:.1f} MB/s, "
          f"{len(events)} events ({len(events) / elapsed:.0f} events/s), {elapsed:.2f} s")


if __name__ == "__main__":
    trio.run(main)
