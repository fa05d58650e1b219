"""Output over the rate limit: joined and delivered late, or dropped with a marker, never a reason
to disconnect.

The Elixir hub's sidecar sends one ``task_progress`` per stdout chunk, so a chatty command passes
any fixed frame rate. The session holds over-rate ``execution_event``s here (per task and event
type, in order of arrival) and hands them back as one event each when the rate allows again, or
before the task's ``task_complete``. Past ``MAX_PENDING_BYTES`` the text is dropped and counted; the
release then carries a ``status`` event saying how much is missing. Pure data: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

MAX_PENDING_BYTES = 64 * 1024
TRUNCATED_MARKER = "[output truncated: {events} events, {bytes} bytes dropped over the rate limit]"


class OutputThrottle:
    def __init__(self, max_pending_bytes: int = MAX_PENDING_BYTES) -> None:
        self._max = max_pending_bytes
        self._held: dict[tuple[str, str], dict[str, Any]] = {}  # (task, event type) -> joined event
        self._held_bytes = 0
        self._dropped: dict[str, list[int]] = {}  # task -> [events, bytes]

    @property
    def holding(self) -> bool:
        return bool(self._held or self._dropped)

    def hold(self, message: dict[str, Any]) -> bool:
        """Keep an over-rate ``task_progress``; True when it starts an episode (tell the agent)."""
        starts = not self.holding
        event = message.get("execution_event")
        task_id = str(message["task_id"])
        if not isinstance(event, dict):
            return starts  # a bare progress figure: the next one says the same, newer
        text = str(event.get("text") or "")
        size = len(text.encode("utf-8", "surrogatepass"))
        if self._held_bytes + size > self._max:
            dropped = self._dropped.setdefault(task_id, [0, 0])
            dropped[0] += 1
            dropped[1] += size
            return starts
        key = (task_id, str(event.get("event_type") or "stdout"))
        joined = self._held.get(key)
        if joined is None:
            self._held[key] = {**event, "text": text}
        else:
            joined["text"] += text
            for field in ("tokens_so_far", "model", "timestamp"):
                if event.get(field) is not None:
                    joined[field] = event[field]
        self._held_bytes += size
        return starts

    def release(self, task_id: str | None = None) -> list[dict[str, Any]]:
        """The held output as ``task_progress`` messages (all tasks, or one), ending the episode
        for what is released; a marker event follows the output of a task that lost some."""
        messages: list[dict[str, Any]] = []
        for key in [k for k in self._held if task_id is None or k[0] == task_id]:
            event = self._held.pop(key)
            self._held_bytes -= len(event["text"].encode("utf-8", "surrogatepass"))
            messages.append(_progress(key[0], event))
        for task in [t for t in self._dropped if task_id is None or t == task_id]:
            events, size = self._dropped.pop(task)
            messages.append(_progress(task, {"event_type": "status", "text": TRUNCATED_MARKER.format(
                events=events, bytes=size)}))
        return messages


def _progress(task_id: str, event: dict[str, Any]) -> dict[str, Any]:
    return {"type": "task_progress", "task_id": task_id, "execution_event": event}
