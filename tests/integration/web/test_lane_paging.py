"""Paging one lane of one page (``GET /lanes/<lane>``) against the real hub: the next cards reach
that page's stream alone as a patch of that lane, later live patches match what it shows, a
reconnecting stream keeps its lanes, and hostile requests get 4xx answers."""

from __future__ import annotations

import re
import secrets

from conftest import task_yaml, wait_until, write_task
from sse_client import lane, open_stream

from agentdeck.web.view.present import task_hash

LI = re.compile(r'<li id="li-inbox-([0-9a-z]+)"')


async def _inbox(running_hub, count: int) -> None:
    for n in range(count):
        write_task(running_hub.board, f"inbox/p{n:03}.yaml",
                   task_yaml(id=f"p{n:03}", title=f"paged {n}", created=f"2026-01-01T{n // 60:02}:{n % 60:02}:00Z"))
    async def all_there() -> bool:
        return f'data-count="{count}"' in (await running_hub.client.get("/")).text

    await wait_until(all_there, timeout=10)


def _ids_in(data: str) -> list[str]:
    return LI.findall(data)


async def test_show_more_brings_only_the_next_cards_of_that_lane_to_that_page(running_hub):
    await _inbox(running_hub, 250)
    mine, other = secrets.token_hex(16), secrets.token_hex(16)
    async with open_stream(running_hub.client, f"/events?tab={mine}") as stream, \
            open_stream(running_hub.client, f"/events?tab={other}") as peer:
        first = (await stream.initial())["lane-inbox"].data
        await peer.initial()
        assert len(_ids_in(first)) == 100 and 'data-show="200"' in first and "Show 100 more of 150" in first
        answer = await running_hub.client.get(f"/lanes/inbox?tab={mine}&show=200")
        assert answer.status_code == 200, answer.text
        event_id = answer.json()["event"]
        paged = await stream.until(lambda e: e.id == event_id)
        assert paged.name == "patch-lane-inbox"
        new = _ids_in(paged.data)
        assert new == [task_hash(f"p{n:03}") for n in range(100, 200)]  # in order, after the first page
        assert paged.data.count("hx-swap-oob=\"afterend:") == 1  # one insert for the whole page
        assert "Show 50 more of 50" in paged.data and 'data-show="400"' in paged.data
        assert not [e for e in await peer.quiet(0.3) if e.id == event_id or lane(e, "inbox")]

        # a live change: each stream gets the patch for what it shows
        write_task(running_hub.board, "inbox/top.yaml", task_yaml(id="top", title="urgent", priority="critical"))
        mine_patch = await stream.until(lambda e: lane(e, "inbox") and "urgent" in e.data)
        peer_patch = await peer.until(lambda e: lane(e, "inbox") and "urgent" in e.data)
        assert f'li-inbox-{task_hash("p199")}" hx-swap-oob="delete"' in mine_patch.data
        assert f'li-inbox-{task_hash("p099")}" hx-swap-oob="delete"' in peer_patch.data
        assert "p099" not in mine_patch.data and "Show 51 more of 51" in mine_patch.data


async def test_a_stream_that_reconnects_keeps_the_lanes_its_page_paged(running_hub):
    await _inbox(running_hub, 130)
    tab = secrets.token_hex(16)
    async with open_stream(running_hub.client, f"/events?tab={tab}") as stream:
        before = (await stream.initial())["lane-inbox"].id
        answer = await running_hub.client.get(f"/lanes/inbox?tab={tab}&show=200")
        event_id = answer.json()["event"]
        await stream.until(lambda e: e.id == event_id)
    # the browser's own reconnect: the URL it first opened, and the last id it saw
    async with open_stream(running_hub.client, f"/events?tab={tab}", {"Last-Event-ID": event_id}) as again:
        write_task(running_hub.board, "inbox/new.yaml", task_yaml(id="new", title="fresh", priority="critical"))
        await again.until(lambda e: lane(e, "inbox") and "fresh" in e.data)
        for event in (e for e in again.seen if lane(e, "inbox")):  # at 200 cards: 131 fit, none goes
            if event.name == "lane-inbox":
                assert len(_ids_in(event.data)) in (130, 131) and "show-more" not in event.data
            else:
                assert 'hx-swap-oob="delete"' not in event.data
    # one that missed the paging event itself gets its lanes whole, at the paged length
    async with open_stream(running_hub.client, f"/events?tab={tab}", {"Last-Event-ID": before}) as missed:
        whole = await missed.until(lambda e: e.name == "lane-inbox")
        assert len(_ids_in(whole.data)) == 131


async def test_the_page_url_pages_each_lane_on_its_own(running_hub):
    await _inbox(running_hub, 130)
    for n in range(120):
        write_task(running_hub.board, f"done/ann/d{n:03}.yaml",
                   task_yaml(id=f"d{n:03}", title=f"done {n}", completed_at=f"2026-01-01T01:{n // 60:02}:{n % 60:02}Z"))
    async def paged_page() -> str | None:
        text = (await running_hub.client.get("/?inbox=200")).text
        return text if 'data-count="120"' in text else None

    text = await wait_until(paged_page, timeout=10)
    inbox = text[text.index('id="lane-inbox"'):text.index('id="lane-assigned"')]
    done = text[text.index('id="lane-done"'):text.index('id="lane-dead"')]
    assert inbox.count('class="card ') == 130 and "show-more" not in inbox
    assert done.count('class="card ') == 100 and "Show 20 more of 20" in done
    assert 'href="/tasks/p000"' in inbox  # cards link without the lanes' lengths
    for query in ("inbox=abc", "inbox=-5", "inbox=99999999999", "inbox=" + "9" * 5000, "inbox=%EF%BC%99"):
        answer = await running_hub.client.get("/?" + query)
        assert answer.status_code == 200, query


async def test_the_lane_route_answers_hostile_requests_with_4xx(running_hub):
    tab = secrets.token_hex(16)
    cases = {
        "/lanes/nope?tab=" + tab + "&show=200": 404,
        "/lanes/..%2Fevents?tab=" + tab + "&show=200": 404,
        "/lanes/inbox?show=200": 400,
        "/lanes/inbox?tab=../../etc&show=200": 400,
        "/lanes/inbox?tab=" + "A" * 32 + "&show=200": 400,
        "/lanes/inbox?tab=" + "a" * 5000 + "&show=200": 400,
        f"/lanes/inbox?tab={tab}": 400,
        f"/lanes/inbox?tab={tab}&show=abc": 400,
        f"/lanes/inbox?tab={tab}&show=-1": 400,
        f"/lanes/inbox?tab={tab}&show=99": 400,
        f"/lanes/inbox?tab={tab}&show=10001": 400,
        f"/lanes/inbox?tab={tab}&show=1e3": 400,
        f"/lanes/inbox?tab={tab}&show=%D9%A3%D9%A0%D9%A0": 400,  # Arabic-Indic 300
        f"/lanes/inbox?tab={tab}&show=" + "9" * 5000: 400,
        f"/lanes/inbox?tab={tab}&show=200": 409,  # no stream has this page
    }
    for url, status in cases.items():
        answer = await running_hub.client.get(url)
        assert answer.status_code == status, (url[:80], answer.status_code, answer.text[:200])
        assert answer.json()["error"], url[:80]
    assert (await running_hub.client.post(f"/lanes/inbox?tab={tab}&show=200")).status_code == 405
