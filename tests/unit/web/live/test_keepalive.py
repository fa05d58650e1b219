"""An idle stream still gets a comment every 15 s (one timer for every browser); a lagging one does not."""

from __future__ import annotations

import pytest
import trio

from agentdeck.web.live.broadcaster import KEEPALIVE, KEEPALIVE_S, Broadcaster, Client
from agentdeck.web.live.regions import MAIN_REGIONS, BoardFilter


async def test_every_browser_gets_a_keepalive_comment_and_a_lagging_one_none(autojump_clock):
    broadcaster = Broadcaster(hub=None, renderer=None)
    idle, lagging = (Client(BoardFilter(), frozenset(MAIN_REGIONS)) for _ in range(2))
    broadcaster.clients.update((idle, lagging))
    lagging.lagging = True
    async with trio.open_nursery() as nursery:
        nursery.start_soon(broadcaster._keepalive_loop)
        await trio.sleep(KEEPALIVE_S - 0.1)
        with pytest.raises(trio.WouldBlock):
            idle.receive.receive_nowait()
        await trio.sleep(0.2)
        assert idle.receive.receive_nowait() is KEEPALIVE
        assert KEEPALIVE.text.startswith(":") and KEEPALIVE.text.endswith("\n\n")
        with pytest.raises(trio.WouldBlock):
            lagging.receive.receive_nowait()
        await trio.sleep(KEEPALIVE_S)
        assert idle.receive.receive_nowait() is KEEPALIVE
        nursery.cancel_scope.cancel()
