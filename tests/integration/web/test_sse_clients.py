"""Browsers that misbehave, on the real server: slow ones, one that stalls (never reads, a tiny
receive buffer), one dropped in the middle of a chunk, one that reconnects with its Last-Event-ID
in the middle of a burst. A browser that keeps up gets every event once, in order; a slow one gets
them all too, or a resync, never a gap; the stalled one holds nobody up, the memory held for it
stays bounded, and once it reads again it gets a resync in a stream that still decodes."""

from __future__ import annotations

import os

import trio
import trio.lowlevel
from conftest import wait_until
from raw_sse import RawStream, serve_app

from agentdeck.web.live.clients import LOG_BYTES, LOG_CHUNKS

BURST = 600
EVENT_BYTES = 16_000  # 600 of them (9.6 MB) outgrow the kernel's buffers and the log's byte bound


def _indexes(browser: RawStream, after: str | None = None) -> list[int]:
    """The numbers of the burst events a browser decoded, in the order it got them."""
    events = browser.events()
    if after is not None:
        events = events[next(i for i, e in enumerate(events) if e.id == after) + 1:]
    return [int(e.data.split()[1]) for e in events if e.name == "activity" and e.data.startswith("burst ")]


async def test_keeping_up_slow_stalled_and_dropped_browsers(running_hub):
    async with trio.open_nursery() as nursery:
        base_url, broadcaster, _, shutdown = await serve_app(running_hub, nursery)
        quick = [await RawStream.open(base_url, gzip=n != 0) for n in range(3)]
        slow = await RawStream.open(base_url, gzip=True)
        stalled = await RawStream.open(base_url, gzip=True, receive_buffer=4096)
        dropped = await RawStream.open(base_url, gzip=False)
        for browser in (*quick, slow, stalled, dropped):
            await browser.read_until("event: agents")
        assert broadcaster.client_count == 6 and len(broadcaster.fanout.audiences) == 1
        audience = next(iter(broadcaster.fanout.audiences.values()))
        done = trio.Event()

        async def emit() -> None:
            for index in range(BURST):
                broadcaster._emit(None, "activity", f"burst {index} {os.urandom(EVENT_BYTES // 2).hex()}")
                held = audience.since(audience.start)
                assert len(held) <= LOG_CHUNKS and sum(len(c.plain) for c in held) <= LOG_BYTES + 2 * EVENT_BYTES
                await trio.sleep(0.002)
            done.set()

        async def read_quickly(browser: RawStream) -> None:
            await browser.read_until(f"burst {BURST - 1} ", timeout=60)

        async def read_slowly() -> None:
            with trio.fail_after(60):
                while f"burst {BURST - 1} " not in slow.text:
                    await slow.read_some(4096)
                    await trio.sleep(0.001)

        async def drop_mid_chunk() -> None:
            await dropped.read_until("burst 3 ", timeout=30)
            await dropped.read_some(100)  # part of a chunk
            await dropped.abort()

        async with trio.open_nursery() as readers:
            readers.start_soon(emit)
            for browser in quick:
                readers.start_soon(read_quickly, browser)
            readers.start_soon(read_slowly)
            readers.start_soon(drop_mid_chunk)
        stalled_client = min(broadcaster.fanout, key=lambda c: c.cursor)
        try:
            await _check(broadcaster, quick, slow, stalled, stalled_client)
        finally:  # a socket nobody reads would hold the server's shutdown (its write is shielded)
            await stalled.abort()
        shutdown.set()
        running_hub.hub.stop()


async def _check(broadcaster, quick, slow, stalled, stalled_client) -> None:
    for browser in quick:
        assert _indexes(browser) == list(range(BURST))  # every one, once, in order
    got = _indexes(slow)
    resynced = slow.text.count("event: agents") > 1
    assert got == sorted(set(got)) and (resynced or got == list(range(BURST)))
    await wait_until(lambda: broadcaster.client_count == 5, 10, message="the dropped one is gone")
    assert stalled_client.lagging  # it fell off the log, which stayed bounded meanwhile
    assert "burst 599" not in stalled.text
    with trio.fail_after(30):  # reading again: what was in flight, then a resync (not the backlog)
        while stalled.text.count("event: agents") < 2:
            await stalled.read_some()
    broadcaster._emit(None, "activity", "fresh after the stall")
    await stalled.read_until("fresh after the stall", timeout=30)
    assert len(_indexes(stalled)) < BURST


async def test_a_browser_reconnecting_with_its_last_event_id_mid_burst_misses_nothing_and_doubles_nothing(running_hub):
    async with trio.open_nursery() as nursery:
        base_url, broadcaster, _, shutdown = await serve_app(running_hub, nursery)
        first = await RawStream.open(base_url, gzip=True)
        await first.read_until("event: agents")

        async def emit() -> None:
            for index in range(BURST):
                broadcaster._emit(None, "activity", f"burst {index} {'x' * (index % 300)}")
                if index % 3 == 0:
                    await trio.lowlevel.checkpoint()

        got: list[int] = []
        async with trio.open_nursery() as burst:
            burst.start_soon(emit)
            browser = first
            for at in (50, 200, 350):  # dropped in the middle of a chunk and back at once, three times
                await browser.read_until(f"burst {at} ", timeout=30)
                await browser.read_some(64)
                events = browser.events()
                last = events[-1].id
                got += _indexes(browser)
                await browser.abort()
                browser = await RawStream.open(base_url, gzip=bool(at % 2), last_event_id=last)
                await browser.read_some()
                assert "event: agents" not in browser.text  # a replay of what it missed, not a resync
        await browser.read_until(f"burst {BURST - 1} ", timeout=30)
        got += _indexes(browser)
        assert got == list(range(BURST))
        shutdown.set()
        running_hub.hub.stop()


async def test_head_and_other_methods_on_the_stream(running_hub):
    head = await running_hub.client.head("/events")
    assert head.status_code == 200 and head.headers["content-type"] == "text/event-stream"
    assert "content-security-policy" in head.headers and head.text == ""
    post = await running_hub.client.post("/events")
    assert post.status_code == 405 and post.json()["error"] == "method_not_allowed"
    assert "GET" in post.headers["allow"]
    wrong_host = await running_hub.client.get("/events", headers={"Host": "evil.test"})
    assert wrong_host.status_code == 421
