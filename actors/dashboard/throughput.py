"""A true sliding hour of finished tasks: counts and sums kept up to date as entries age out.

Not a counter reset on the hour: every finished task stays counted for exactly ``window`` seconds
after it finished. Each entry is added once and expired once, so the cost per task is constant and
reading the figures costs nothing. Times are trio clock readings.
"""

from __future__ import annotations

from collections import deque
from typing import Any

HOUR = 3600.0


class SlidingHour:
    def __init__(self, window: float = HOUR) -> None:
        self.window = window
        self._entries: deque[tuple[float, bool, int | None, int]] = deque()
        self.completed = 0
        self.failed = 0
        self.tokens = 0
        self._duration_sum = 0
        self._duration_count = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, now: float, *, ok: bool, duration_ms: int | None = None, tokens: int = 0) -> None:
        self.expire(now)
        self._entries.append((now, ok, duration_ms, tokens))
        self._count(ok, duration_ms, tokens, +1)

    def expire(self, now: float) -> bool:
        """Forget entries older than the window; True when anything changed."""
        changed = False
        while self._entries and now - self._entries[0][0] > self.window:
            _, ok, duration_ms, tokens = self._entries.popleft()
            self._count(ok, duration_ms, tokens, -1)
            changed = True
        return changed

    def next_expiry(self) -> float | None:
        """When the oldest entry leaves the window (None when empty)."""
        return self._entries[0][0] + self.window if self._entries else None

    def _count(self, ok: bool, duration_ms: int | None, tokens: int, sign: int) -> None:
        if ok:
            self.completed += sign
            if duration_ms is not None:
                self._duration_sum += sign * duration_ms
                self._duration_count += sign
        else:
            self.failed += sign
        self.tokens += sign * tokens

    def json(self) -> dict[str, Any]:
        average = round(self._duration_sum / self._duration_count) if self._duration_count else None
        return {
            "completed_last_hour": self.completed,
            "failed_last_hour": self.failed,
            "avg_completion_ms": average,
            "total_tokens_hour": self.tokens,
        }
