"""Many browsers on one event stream: each distinct flush is encoded once for all of them, every
browser (gzip or not) decodes exactly what it is sent, a lagging browser's gzip stream stays valid
through its resync, and a gzip stream that ends is a whole gzip member (CRC and length right)."""

from __future__ import annotations

import gzip

import trio
from conftest import task_yaml, write_task
from raw_sse import RawStream, drain, serve_app

from agentdeck.web.compression import EncodedStream, SharedEncoder
from agentdeck.web.live.clients import LOG_CHUNKS


async def test_forty_browsers_share_each_flush_and_each_decodes_it(running_hub):
    async with trio.open_nursery() as nursery:
        base_url, broadcaster, _, shutdown = await serve_app(running_hub, nursery)
        browsers = [await RawStream.open(base_url, gzip=n % 4 != 0) for n in range(40)]
        for browser in browsers:
            await browser.read_until("event: lane-inbox")
        assert all(b"content-encoding: gzip" in b.head.lower() for b in browsers if b.gzip)
        assert not any(b"content-encoding" in b.head.lower() for b in browsers if not b.gzip)
        assert all(b"vary: accept-encoding" in b.head.lower() for b in browsers)
        await drain(browsers, 0.3)
        before = broadcaster.fanout.encoded, [len(b.body) for b in browsers], [len(b.text) for b in browsers]
        write_task(running_hub.board, "inbox/fan.yaml", task_yaml(id="fan", title="seen by <all> forty"))
        for browser in browsers:
            await browser.read_until("seen by &lt;all&gt; forty")
        await drain(browsers, 0.3)  # the follow-ups of the change (counts, activity) too
        texts = {b.text[start:] for b, start in zip(browsers, before[2], strict=True)}
        assert len(texts) == 1, "every browser, gzip or not, decodes the same events"
        zipped = {b.body[start:] for b, start in zip(browsers, before[1], strict=True) if b.gzip}
        assert len(zipped) == 1, "gzip browsers get the very same bytes: one compression per flush"
        assert len(broadcaster.fanout.audiences) == 1  # one log read by all forty
        assert 1 <= broadcaster.fanout.encoded - before[0] <= 6  # each flush encoded once, not forty times
        assert "<all>" not in next(iter(texts))
        shutdown.set()
        running_hub.hub.stop()


async def test_a_lagging_gzip_browser_gets_a_resync_in_a_stream_that_still_decodes(running_hub):
    async with trio.open_nursery() as nursery:
        base_url, broadcaster, _, shutdown = await serve_app(running_hub, nursery)
        browser = await RawStream.open(base_url, gzip=True)
        await browser.read_until("event: agents")
        client = next(iter(broadcaster.fanout))
        for index in range(LOG_CHUNKS + 50):  # synchronously: the stream cannot drain meanwhile
            broadcaster._emit(None, "activity", f"<p>flood {index}</p>")
        assert client.lagging
        with trio.fail_after(10):
            while browser.text.count("event: agents") < 2:
                await browser.read_some()
        assert not client.lagging
        assert browser.text.count("flood") < LOG_CHUNKS + 50  # the backlog was dropped, not sent
        broadcaster._emit(None, "activity", "<p>fresh after the resync</p>")
        await browser.read_until("fresh after the resync")
        shutdown.set()
        running_hub.hub.stop()


async def test_a_gzip_stream_that_ends_is_a_whole_gzip_member(running_hub):
    async with trio.open_nursery() as nursery:
        base_url, _, _, shutdown = await serve_app(running_hub, nursery)
        browser = await RawStream.open(base_url, gzip=True)
        await browser.read_until("event: lane-inbox")
        write_task(running_hub.board, "inbox/last.yaml", task_yaml(id="last", title="the last words"))
        await browser.read_until("the last words")
        running_hub.hub.stop()  # the broadcaster closes every stream
        with trio.fail_after(10):
            while not browser.ended:
                await browser.read_some()
        assert gzip.decompress(browser.body).decode() == browser.text  # checks the CRC and the length
        shutdown.set()


def test_shared_blocks_follow_each_other_in_any_order_and_the_cache_is_bounded():
    encoder = SharedEncoder(entries=3, max_bytes=10_000)
    first, second = EncodedStream(encoder, gzip=True), EncodedStream(encoder, gzip=True)
    flushes = {("a",): "event: a\ndata: one\n\n", ("b",): "event: b\ndata: two\n\n" * 20,
               ("c",): "event: c\ndata: three\n\n"}
    body_1 = b"".join(first.write(key, lambda t=text: t) for key, text in flushes.items()) + first.end()
    body_2 = b"".join(second.write(key, lambda t=text: t) for key, text in reversed(flushes.items())) + second.end()
    assert gzip.decompress(body_1).decode() == "".join(flushes.values())
    assert gzip.decompress(body_2).decode() == "".join(reversed(flushes.values()))
    assert encoder.compressed == 3  # each flush once, for both streams
    assert gzip.decompress(EncodedStream(encoder, gzip=True).end()) == b""
    plain = EncodedStream(encoder, gzip=False)
    assert plain.write(("a",), lambda: "unused: cached") == flushes[("a",)].encode() and plain.end() == b""
    for n in range(10):
        plain.write(("big", n), lambda: "x" * 4000)
    assert len(encoder._cache) <= 3 and encoder._bytes <= 10_000
