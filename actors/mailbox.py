"""Request/reply over an actor's mailbox: the only way to ask an actor what it knows."""

from __future__ import annotations

import contextlib
from typing import Any

import trio

from agentdeck.actors.messages import Request


class ActorUnavailable(Exception):
    """The actor did not answer in time (it is restarting, or overloaded)."""


async def ask(mailbox: trio.MemorySendChannel, body: Any, timeout: float = 5.0) -> Any:
    """Send ``body`` to an actor and wait for its reply; an Exception reply is raised here."""
    reply_send, reply_receive = trio.open_memory_channel[Any](1)
    with trio.move_on_after(timeout) as scope:
        await mailbox.send(Request(body, reply_send))
        answer = await reply_receive.receive()
    if scope.cancelled_caught:
        raise ActorUnavailable(f"no answer to {type(body).__name__} within {timeout} s")
    if isinstance(answer, Exception):
        raise answer
    return answer


def reply(request: Request, answer: Any) -> None:
    """Answer a request; never blocks (the reply channel has room for exactly one answer)."""
    if request.reply is not None:
        with contextlib.suppress(trio.BrokenResourceError, trio.WouldBlock, trio.ClosedResourceError):
            request.reply.send_nowait(answer)
