"""The client side of the broadcaster: an idle stream still gets a comment every 15 s (one timer for
every browser) and a lagging one none; a browser's region keys follow its filter."""

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


def test_a_browsers_region_keys_follow_its_filter():
    client = Client(BoardFilter(), frozenset(MAIN_REGIONS))
    assert client.key_for("lane-inbox") == BoardFilter().key_for("lane-inbox")
    assert client.key_for("agents") is None
    paged = client.flt.with_lane("inbox", 400)
    client.flt = paged  # "show more" in its page
    assert client.key_for("lane-inbox") == paged.key_for("lane-inbox") != BoardFilter().key_for("lane-inbox")
    assert client.key_for("lane-done") == paged.key_for("lane-done")
