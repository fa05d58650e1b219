"""When the broadcaster may flush next: a budget of the event loop's time, not a window after every flush.

A flush costs the loop its render plus one write per browser (about ``WRITE_COST_S`` each in
Hypercorn and h11, done by the browsers' streams right after it). The broadcaster may spend
``BUSY_SHARE`` of the loop on that over time, and up to ``CREDIT_S`` of loop time back to back
after a quiet spell. So a change that finds the hub idle or keeping up goes out at once, even to
500 browsers (a flush there costs ~80 ms, its share of a second between changes is 200 ms);
only a run of changes faster than the budget allows waits, and what comes meanwhile goes out
together in the next flush. Before, every flush to 500 browsers held the next one back ~0.32 s,
whether or not anything else wanted the loop.
"""

from __future__ import annotations

import math

WRITE_COST_S = 150e-6  # one SSE write to one browser, measured with py-spy under load
BUSY_SHARE = 0.2  # of the event loop that the broadcaster may take while changes keep coming
CREDIT_S = 0.2  # loop time it may take back to back after a quiet spell (a second's share)
MAX_WINDOW_S = 1.0  # the longest a change waits for the budget


def flush_cost(render_cpu_s: float, clients: int) -> float:
    """Loop time a flush takes: its render, then one write per browser."""
    return render_cpu_s + clients * WRITE_COST_S


class FlushPacer:
    """The budget (in seconds of loop time), refilled at ``share`` per second up to ``credit``."""

    def __init__(self, share: float = BUSY_SHARE, credit: float = CREDIT_S, max_wait: float = MAX_WINDOW_S) -> None:
        self._share = share
        self._cap = credit
        self._max_wait = max_wait
        self._credit = credit
        self._at: float | None = None  # when the credit was last worked out (trio time)
        self.ready_at = -math.inf  # no flush before this unless a browser waits

    def spent(self, now: float, cost: float) -> None:
        """A flush that took ``cost`` of the loop ended at ``now``."""
        if self._at is not None:
            self._credit = min(self._cap, self._credit + self._share * (now - self._at))
        self._at = now
        self._credit = max(self._credit - cost, -self._share * self._max_wait)
        self.ready_at = now - self._credit / self._share if self._credit < 0 else -math.inf

    def waive(self) -> None:
        """A browser waits for regions never rendered: the next flush goes at once."""
        self.ready_at = -math.inf
