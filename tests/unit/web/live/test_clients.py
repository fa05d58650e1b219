"""The client side of the broadcaster: browsers grouped by what they get, one shared log per group
read at each browser's pace (bounded with a stalled reader), "show more" moving a browser to another
log without losing or doubling an event, an idle stream's keepalive from one timer, and a browser's
region keys following its filter."""

from __future__ import annotations

import trio

from agentdeck.web.compression import Encoded
from agentdeck.web.live.broadcaster import Broadcaster
from agentdeck.web.live.clients import KEEPALIVE, KEEPALIVE_S, LOG_BYTES, LOG_CHUNKS, Client, Emitted, Fanout
from agentdeck.web.live.regions import MAIN_REGIONS, BoardFilter


def _client(flt: BoardFilter | None = None) -> Client:
    return Client(flt or BoardFilter(), frozenset(MAIN_REGIONS))


def _item(seq: int, name: str, data: str, key: str | None = None) -> Emitted:
    return Emitted.of(seq, key, name, data, f"id: e-{seq}\nevent: {name}\ndata: {data}\n\n")


def _text(chunks: list[Encoded]) -> str:
    return b"".join(chunk.plain for chunk in chunks).decode()


async def test_every_browser_gets_a_keepalive_comment_through_its_log(autojump_clock):
    broadcaster = Broadcaster(hub=None, renderer=None)
    idle, filtered = _client(), _client(BoardFilter(agent="a1"))
    broadcaster.fanout.add(idle)
    broadcaster.fanout.add(filtered)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(broadcaster._keepalive_loop)
        await trio.sleep(KEEPALIVE_S - 0.1)
        assert idle.take() == [] and filtered.take() == []
        await trio.sleep(0.2)
        assert _text(idle.take()) == _text(filtered.take()) == KEEPALIVE.text
        assert KEEPALIVE.text.startswith(":") and KEEPALIVE.text.endswith("\n\n")
        await trio.sleep(KEEPALIVE_S)
        assert _text(idle.take()) == KEEPALIVE.text
        nursery.cancel_scope.cancel()


def test_a_browsers_region_keys_follow_its_filter():
    client = _client()
    assert client.key_for("lane-inbox") == BoardFilter().key_for("lane-inbox")
    assert client.key_for("agents") is None
    paged = client.flt.with_lane("inbox", 400)
    client.flt = paged  # "show more" in its page
    assert client.key_for("lane-inbox") == paged.key_for("lane-inbox") != BoardFilter().key_for("lane-inbox")
    assert client.key_for("lane-done") == paged.key_for("lane-done")


def test_browsers_with_one_filter_share_a_log_and_a_filtered_one_gets_its_own_fragments():
    fanout = Fanout()
    plain = [_client() for _ in range(3)]
    mine = _client(BoardFilter(agent="a1"))
    for client in (*plain, mine):
        fanout.add(client)
    assert len(fanout.audiences) == 2 and fanout.count == 4
    every, theirs = BoardFilter().key_for("lane-inbox"), mine.key_for("lane-inbox")
    fanout.publish([_item(1, "lane-inbox", "all inbox", every), _item(2, "lane-inbox", "a1 inbox", theirs),
                    _item(3, "agents", "agents")])
    texts = [_text(client.take()) for client in plain]
    assert texts[0] == texts[1] == texts[2]
    assert "all inbox" in texts[0] and "a1 inbox" not in texts[0] and "agents" in texts[0]
    assert _text(mine.take()) == ("id: e-2\nevent: lane-inbox\ndata: a1 inbox\n\n"
                                  "id: e-3\nevent: agents\ndata: agents\n\n")
    assert fanout.encoded == 2  # one encoding per distinct share of the flush, not one per browser
    fanout.publish([_item(4, "agents", "only agents")])
    assert fanout.encoded == 3  # both audiences get the very same bytes: encoded once
    assert plain[0].take()[0] is mine.take()[0]
    for client in (*plain, mine):
        fanout.remove(client)
    assert fanout.audiences == {} and fanout.count == 0


def test_a_stalled_reader_is_bounded_and_holds_nobody_up():
    fanout = Fanout()
    stalled, slow, quick = _client(), _client(), _client()
    for client in (stalled, slow, quick):
        fanout.add(client)
    audience = stalled.audience
    assert audience is not None
    got_quick, got_slow = [], []
    big = "x" * 40_000
    for seq in range(1, 2 * LOG_CHUNKS):
        fanout.publish([_item(seq, "activity", f"{seq} {big if seq % 7 == 0 else ''}")])
        got_quick.append(_text(quick.take()))
        if seq % 50 == 0:
            got_slow.append(_text(slow.take()))  # slow: fifty flushes in one write
        held = audience.since(audience.start)
        assert len(held) <= LOG_CHUNKS and sum(len(c.plain) for c in held) <= LOG_BYTES
    assert [text.split("\n")[0] for text in got_quick] == [f"id: e-{seq}" for seq in range(1, 2 * LOG_CHUNKS)]
    assert "".join(got_slow) == "".join(got_quick)[:len("".join(got_slow))]
    assert stalled.lagging and not slow.lagging and not quick.lagging
    stalled.restart()  # given a resync, it reads on from the head
    fanout.publish([_item(5000, "activity", "after")])
    assert "after" in _text(stalled.take())
    assert audience.start == slow.cursor  # held: what the slow reader has not taken yet, no more
    slow.take()
    quick.take()
    fanout.publish([_item(5001, "activity", "next")])
    assert len(audience.since(audience.start)) == 1  # what every reader took is dropped


def test_a_browser_that_pages_a_lane_keeps_every_event_once_in_order():
    fanout = Fanout()
    pager, other = _client(), _client()
    fanout.add(pager)
    fanout.add(other)
    fanout.publish([_item(1, "activity", "one")])
    fanout.publish([_item(2, "activity", "two")])
    longer = pager.flt.with_lane("inbox", 400)
    fanout.move(pager, longer, Encoded(b"id: e-3\nevent: patch-lane-inbox\ndata: more cards\n\n"))
    assert len(fanout.audiences) == 2 and pager.flt == longer
    fanout.publish([_item(4, "lane-inbox", "at 400", longer.key_for("lane-inbox")),
                    _item(5, "lane-inbox", "at default", BoardFilter().key_for("lane-inbox"))])
    text = _text(pager.take())
    assert [line for line in text.split("\n") if line.startswith("data:")] == [
        "data: one", "data: two", "data: more cards", "data: at 400"]
    assert "at 400" not in _text(other.take())
