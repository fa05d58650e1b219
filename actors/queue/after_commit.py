"""What the queue tells others, held back until the moves made before it are durable.

The queue changes its board in memory as it stages a move, and goes on with the next message;
the moves of a batch reach the disk together, in one commit. Until then nobody may hear of them:
an agent must never be told a task is theirs, nor a completion be acknowledged, nor dashboards and
telemetry count a move that a crash would undo. So while moves are staged, every reply, frame to an
agent and bus event is held here, and released in order once the commit is done. With nothing
staged they go out at once (they depend on nothing that is not yet durable).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from agentdeck.actors.bus import EventBus
from agentdeck.actors.messages import Event


class AfterCommit:
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._held: list[Callable[[], None]] = []
        self.holding = False

    def __len__(self) -> int:
        return len(self._held)

    def hold(self) -> None:
        """A move was staged: from now on, everything waits for the commit."""
        self.holding = True

    def publish(self, event: Event) -> None:
        self.later(functools.partial(self._bus.publish, event))

    def later(self, action: Callable[[], None]) -> None:
        """Run ``action`` now, or once the staged moves are durable."""
        if self.holding:
            self._held.append(action)
        else:
            action()

    def release(self) -> int:
        """The commit is done: everything held happens, in the order it was asked for."""
        held, self._held, self.holding = self._held, [], False
        for action in held:
            action()
        return len(held)

    def drop(self) -> int:
        """The commit failed (none of its moves happened): nothing held may be said."""
        dropped, self._held, self.holding = len(self._held), [], False
        return dropped
