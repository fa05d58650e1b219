"""How many agent frames per second ``agentdeck.actors.protocol.schema.decode`` parses and validates (one core)."""

from __future__ import annotations

import contextlib
import json
import time

from agentdeck.actors.protocol.schema import ProtocolError, decode

FRAMES = {
    "task_progress(stdout event)": json.dumps({
        "type": "task_progress", "task_id": "task-0001", "execution_event": {
            "event_type": "stdout", "text": "line of build output\n" * 4, "timestamp": 1.0}}),
    "task_complete(result)": json.dumps({
        "type": "task_complete", "task_id": "task-0001", "generation": 3, "result": {
            "status": "success", "output": "x" * 2000, "model_used": "llama3.2", "tokens_in": 100,
            "tokens_out": 200, "estimated_cost_usd": 0, "execution_ms": 1234}}),
    "invalid (validation_failed)": json.dumps({"type": "task_complete", "task_id": 5}),
}


def main() -> None:
    for name, frame in FRAMES.items():
        count = 50_000
        start = time.perf_counter()
        for _ in range(count):
            with contextlib.suppress(ProtocolError):
                decode(frame)
        elapsed = time.perf_counter() - start
        print(f"{name:32s} {count / elapsed:>10,.0f} frames/s  ({elapsed / count * 1e6:.1f} us each)")


if __name__ == "__main__":
    main()
