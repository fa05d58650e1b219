"""GET /events against the real server: ids, first-connect resync, coalescing, replay, shutdown."""

from __future__ import annotations

import contextlib
import json
import re

import trio
from agent_client import AgentClient, accept_next
from conftest import task_yaml, wait_until, write_task
from sse_client import SSE, lane, open_stream

from agentdeck.actors.messages import Resync
from agentdeck.web.live.regions import MAIN_REGIONS

ID = re.compile(r"^[0-9a-f]{6}-\d+$")


async def test_first_connect_gets_every_region_and_every_event_has_an_id(running_hub):
    async with open_stream(running_hub.client) as stream:
        regions = await stream.initial()
    assert set(MAIN_REGIONS) <= set(regions)
    assert all(ID.match(event.id or "") for event in stream.seen)
    assert "No events yet" in regions["activity"].data
    assert 'data-count="0"' in regions["lane-inbox"].data


async def test_a_new_task_file_is_pushed_as_escaped_html(running_hub):
    async with open_stream(running_hub.client) as stream:
        await stream.initial()
        write_task(running_hub.board, "inbox/x.yaml", task_yaml(id="x1", title="<img src=x onerror=alert(1)>"))
        event = await stream.until(lambda e: lane(e, "inbox") and "x1" in e.data)
        assert "&lt;img src=x onerror=alert(1)&gt;" in event.data
        assert "<img" not in event.data
        feed = await stream.until(lambda e: e.name in ("activity", "patch-activity") and "x1" in e.data, seen=True)
        assert "task.created" in feed.data


async def test_a_burst_of_500_changes_is_a_few_swaps(running_hub):
    async with open_stream(running_hub.client) as stream:
        await stream.initial()
        for index in range(500):
            write_task(running_hub.board, f"inbox/b{index:03}.yaml",
                       task_yaml(id=f"b{index:03}", title=f"burst {index}"))
        final = await stream.until(lambda e: lane(e, "inbox") and 'data-count="500"' in e.data, timeout=10)
        swaps = [e for e in stream.seen if lane(e, "inbox")]
        assert final is swaps[-1]
        print(f"{len(swaps) - 1} lane swaps for 500 changes")
        assert 1 <= len(swaps) - 1 <= 25, f"{len(swaps) - 1} swaps for 500 changes"
        later = await stream.quiet(0.4)
        extra = [e for e in later if lane(e, "inbox")]
        assert not extra, f"no more swaps once the board is still: {[(e.name, e.data[:1500]) for e in extra]}"


async def test_last_event_id_replays_only_what_was_missed(running_hub):
    async with open_stream(running_hub.client) as observer:
        await observer.initial()
        async with open_stream(running_hub.client) as first:
            await first.initial()
            last_id = first.seen[-1].id
        write_task(running_hub.board, "inbox/r.yaml", task_yaml(id="r1", title="made while away"))
        await observer.until(lambda e: lane(e, "inbox") and "r1" in e.data)
        async with open_stream(running_hub.client, headers={"Last-Event-ID": last_id}) as again:
            replayed = await again.until(lambda e: lane(e, "inbox"))
            assert "made while away" in replayed.data
            names = {e.name for e in again.seen}
            assert "agents" not in names and "lane-dead" not in names, f"replay resent {names}"


async def test_unknown_or_stale_ids_get_a_full_resync(running_hub):
    for stale in ("000000-3", "garbage", "abc123-999999"):
        async with open_stream(running_hub.client, headers={"Last-Event-ID": stale}) as stream:
            await stream.initial()


async def test_the_page_since_id_replays_changes_made_before_the_stream_opened(running_hub):
    page = await running_hub.client.get("/")
    events_url = re.search(r'sse-connect="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert "since=" in events_url
    write_task(running_hub.board, "inbox/p.yaml", task_yaml(id="p1", title="between page and stream"))
    await trio.sleep(0.3)
    async with open_stream(running_hub.client, events_url) as stream:
        event = await stream.until(lambda e: lane(e, "inbox"))
        assert "between page and stream" in event.data


async def test_a_bus_resync_resends_every_region(running_hub):
    async with open_stream(running_hub.client) as stream:
        await stream.initial()
        await stream.quiet(0.2)
        running_hub.bus.publish(Resync(missed=3))
        again: dict[str, SSE] = {}
        with trio.fail_after(3):
            while not set(MAIN_REGIONS) <= set(again):
                event = await stream.next()
                again[event.name] = event


async def test_filters_in_the_stream_url_filter_the_lanes(running_hub):
    write_task(running_hub.board, "inbox/h.yaml", task_yaml(id="h1", title="hot", priority="high"))
    write_task(running_hub.board, "inbox/l.yaml", task_yaml(id="l1", title="cold", priority="low"))
    async with open_stream(running_hub.client, "/events?priority=high") as stream:
        seen_lane = (await stream.initial())["lane-inbox"]
        if "h1" not in seen_lane.data:
            seen_lane = await stream.until(lambda e: lane(e, "inbox") and "h1" in e.data)
        assert "l1" not in seen_lane.data
        write_task(running_hub.board, "inbox/l2.yaml", task_yaml(id="l2", title="colder", priority="low"))
        write_task(running_hub.board, "inbox/h2.yaml", task_yaml(id="h2", title="hotter", priority="high"))
        seen_lane = await stream.until(lambda e: lane(e, "inbox") and "h2" in e.data)
        assert "l2" not in seen_lane.data and "l1" not in seen_lane.data


async def test_streams_end_promptly_at_shutdown(start_hub):
    running = await start_hub()
    async with open_stream(running.client) as stream:
        await stream.initial()
        started = trio.current_time()
        running.hub.stop()
        with trio.fail_after(2):
            with contextlib.suppress(EOFError):
                while True:
                    await stream.next(2)
        assert trio.current_time() - started < 0.5, "graceful_timeout (1 s) must not be what ends it"


async def test_sse_clients_are_counted_for_metrics(running_hub):
    counter = running_hub.hub.stream_clients
    async with open_stream(running_hub.client) as stream:
        await stream.initial()
        assert counter.count("sse") == 1
    with trio.fail_after(2):
        while counter.count("sse") != 0:  # noqa: ASYNC110 - the hub's counter, no event to wait on
            await trio.sleep(0.02)


async def test_execution_output_is_coalesced_escaped_and_reset_per_attempt(running_hub):
    from agentdeck.actors.messages import ExecutionEvent
    from agentdeck.web.view.present import task_hash

    out = f"out-{task_hash('job-1')}"

    def said(generation: int, event_type: str, text: str) -> ExecutionEvent:
        return ExecutionEvent(task_id="job-1", agent_id="a1", generation=generation, event_type=event_type,
                              text=text)

    async with open_stream(running_hub.client) as stream:
        await stream.initial()
        running_hub.bus.publish(said(1, "status", "starting"))
        first = await stream.until(lambda e: e.name == out)
        assert 'class="out out-status">starting</span>' in first.data and "hx-swap-oob" in first.data
        for index in range(200):
            running_hub.bus.publish(said(1, "token", f"<t{index}>"))
        running_hub.bus.publish(said(1, "stderr", "careful\n"))
        merged = await stream.until(lambda e: e.name == out and "careful" in e.data)
        chunks = [e for e in stream.seen if e.name == out]
        assert len(chunks) <= 3, f"{len(chunks)} output events for 201 pieces"
        everything = "".join(e.data for e in chunks)
        assert everything.count('class="out out-token"') == 200 and "&lt;t199&gt;" in everything
        assert '<span class="out out-stderr">careful</span>' in merged.data
        running_hub.bus.publish(said(2, "stdout", "second attempt"))
        reset = await stream.until(lambda e: e.name == out)
        assert 'hx-swap-oob="innerHTML"' in reset.data and "attempt 2 started" in reset.data
        assert "second attempt" in reset.data
        running_hub.bus.publish(said(1, "stdout", "late words from attempt 1"))
        running_hub.bus.publish(said(2, "error", "failed"))
        last = await stream.until(lambda e: e.name == out)
        assert "late words" not in last.data and 'class="out out-error">failed<' in last.data


async def test_a_change_in_a_long_lane_goes_out_as_a_small_patch(running_hub):
    for index in range(30):
        write_task(running_hub.board, f"inbox/k{index:02}.yaml", task_yaml(
            id=f"k{index:02}", title=f"kept {index}", created=f"2026-01-01T00:00:{index:02}Z"))
    async with open_stream(running_hub.client) as stream:
        await stream.initial()
        await stream.until(lambda e: lane(e, "inbox") and 'data-count="30"' in e.data, seen=True)
        await stream.quiet(0.3)
        write_task(running_hub.board, "inbox/k05.yaml", task_yaml(id="k05", title="renamed <b>five</b>",
                                                                created="2026-01-01T00:00:05Z"))
        write_task(running_hub.board, "inbox/zz.yaml", task_yaml(id="zz", title="newcomer",
                                                               created="2026-01-01T00:00:59Z"))
        (running_hub.board / "inbox/k10.yaml").unlink()
        seen_text = ""
        with trio.fail_after(3):
            while not all(word in seen_text for word in ("renamed", "newcomer", "delete")):
                event = await stream.until(lambda e: lane(e, "inbox"))
                assert event.name == "patch-lane-inbox", "a few changes must not resend the lane"
                assert "kept 20" not in event.data and len(event.data) < 4000
                seen_text += event.data
        assert "renamed &lt;b&gt;five&lt;/b&gt;" in seen_text
        assert 'hx-swap-oob="outerHTML"' in seen_text and 'hx-swap-oob="afterend:#li-' in seen_text
        assert 'hx-swap-oob="delete"' in seen_text and 'data-count' not in seen_text  # still 30 cards


async def test_a_browser_that_cannot_keep_up_gets_a_resync_not_a_backlog(running_hub):
    from agentdeck.web.app import create_app
    from agentdeck.web.live.broadcaster import Broadcaster
    from agentdeck.web.live.clients import LOG_CHUNKS, Client
    from agentdeck.web.live.regions import BoardFilter, Renderer, fragment_env

    broadcaster = Broadcaster(running_hub.hub, Renderer(fragment_env(create_app(running_hub.hub)), running_hub.hub))
    slow, keeping_up = Client(BoardFilter(), frozenset(MAIN_REGIONS)), Client(BoardFilter(), frozenset(MAIN_REGIONS))
    assert broadcaster.connect(slow, None) == []  # nothing rendered yet: regions are queued for rendering
    assert broadcaster.connect(keeping_up, None) == []
    broadcaster._current[(None, "agents")] = "<p>agents as last sent</p>"
    taken = []
    for index in range(LOG_CHUNKS + 50):
        broadcaster._emit(None, "activity", f"<p>{index}</p>")
        taken.extend(chunk.plain for chunk in keeping_up.take())
    assert slow.lagging and not keeping_up.lagging
    assert all(f"data: <p>{index}</p>\n".encode() in chunk for index, chunk in enumerate(taken))
    assert len(taken) == LOG_CHUNKS + 50  # the one that keeps up got every flush, once, in order
    caught_up = broadcaster.catch_up(slow)
    assert not slow.lagging
    assert [item.name for item in caught_up] == ["agents"] and caught_up[0].data == "<p>agents as last sent</p>"
    assert slow.take() == []  # the backlog was dropped
    broadcaster._emit(None, "activity", "<p>fresh</p>")
    assert [b"data: <p>fresh</p>" in chunk.plain for chunk in slow.take()] == [True]


async def test_assigned_cards_and_agents_go_out_as_patches(running_hub):
    """A card moving within or between agents' groups, a group appearing, and an agent changing
    state are small patches; the lane becoming empty is a whole-lane swap."""
    from agentdeck.actors.messages import AgentJoined, AgentStateChanged

    board = running_hub.board
    for index in range(12):
        write_task(board, f"assigned/{'ann' if index % 2 else 'bob'}/g{index:02}.yaml", task_yaml(
            id=f"g{index:02}", title=f"grouped {index}", created=f"2026-01-01T00:00:{index:02}Z"))
    for name in ("ann", "bob", "cy"):
        running_hub.bus.publish(AgentJoined(agent_id=name, name=f"agent {name}"))
    async with open_stream(running_hub.client) as stream:
        await stream.initial()
        await stream.until(lambda e: lane(e, "assigned") and 'data-count="12"' in e.data, seen=True)
        await stream.until(lambda e: e.name in ("agents", "patch-agents") and "agent cy" in e.data, seen=True)
        await stream.quiet(0.3)
        (board / "assigned/ann/g03.yaml").rename(board / "assigned/bob/g03.yaml")
        write_task(board, "assigned/bob/g04.yaml", task_yaml(id="g04", title="renamed <i>four</i>",
                                                            created="2026-01-01T00:00:04Z"))
        running_hub.bus.publish(AgentStateChanged(agent_id="cy", state="working", task_id="g07"))
        seen_text = ""
        with trio.fail_after(5):
            while not all(word in seen_text for word in ("renamed", "g03", "working")):
                event = await stream.until(lambda e: lane(e, "assigned") or e.name.endswith("agents"))
                assert event.name.startswith("patch-"), f"{event.name} sent whole for a small change"
                assert "grouped 10" not in event.data and "agent ann" not in event.data
                seen_text += event.data
        assert ('hx-swap-oob="afterbegin:#ul-assigned-' in seen_text
                or 'hx-swap-oob="afterend:#li-assigned-' in seen_text)
        assert 'id="gh-assigned-' in seen_text  # both groups' counts changed
        assert "renamed &lt;i&gt;four&lt;/i&gt;" in seen_text
        write_task(board, "assigned/dee/g20.yaml", task_yaml(id="g20", title="new group"))
        grown = await stream.until(lambda e: lane(e, "assigned") and "g20" in e.data)
        assert grown.name == "patch-lane-assigned" and "grouped 10" not in grown.data
        assert 'hx-swap-oob="afterend:#grp-assigned-' in grown.data and "@dee" in grown.data
        for path in (board / "assigned").rglob("*.yaml"):
            path.unlink()
        emptied = await stream.until(lambda e: lane(e, "assigned") and 'data-count="0"' in e.data)
        assert emptied.name == "lane-assigned" and "Nothing in progress" in emptied.data


async def test_output_updates_live_texts_without_replacing_the_running_card(start_hub, board_dir):
    write_task(board_dir, "inbox/t.yaml", task_yaml(id="t", title="streams"))
    running = await start_hub()
    async with AgentClient.connect(running.base_url, "a1") as agent:
        await accept_next(agent, task_id="t")
        async with open_stream(running.client) as stream:
            await stream.initial()
            await stream.quiet(0.5)
            for n in range(5):
                await agent.send("task_progress", task_id="t", execution_event={
                    "event_type": "stdout", "text": f"line {n}\n", "tokens_so_far": 100 * (n + 1),
                    "model": "claude-sonnet-4-5"})
            live = await stream.until(lambda e: e.name == "live" and "line 4" in e.data)
            texts = json.loads(live.data)
            (entry,) = texts.values()
            assert entry["line"] == "line 4" and entry["tokens"] == "500" and entry["spend"].startswith("≈$")
            later = await stream.quiet(1.5)
        assert not [e for e in (*stream.seen, *later) if e.name == "patch-lane-assigned"
                    and "line " in e.data], "a running card was replaced for its output"


async def test_one_flush_reads_each_source_once_for_all_its_filters(running_hub):
    from agentdeck.web.app import create_app
    from agentdeck.web.live.regions import BoardFilter, Renderer, fragment_env

    write_task(running_hub.board, "inbox/a.yaml", task_yaml(id="a", title="A", priority="high"))
    write_task(running_hub.board, "inbox/b.yaml", task_yaml(id="b", title="B", priority="low"))
    renderer = Renderer(fragment_env(create_app(running_hub.hub)), running_hub.hub)

    async def both_read():
        return len((await renderer.gather(["lane-inbox"], BoardFilter()))["board"].inbox) == 2

    await wait_until(both_read)
    shared: dict = {}
    plain = await renderer.gather(["lane-inbox", "health"], BoardFilter(), shared)
    longer = await renderer.gather(["lane-inbox", "agents"], BoardFilter(limits=(200, 100, 100, 100)), shared)
    high = await renderer.gather(["lane-inbox"], BoardFilter(priority="high"), shared)
    assert plain["snapshot"] is longer["snapshot"] and plain["now"] == longer["now"] == high["now"]
    assert plain["board"] is longer["board"] and plain["waiting"] is longer["waiting"]  # the same page
    assert [t.id for t in high["board"].inbox] == ["a"] and [t.id for t in plain["board"].inbox] == ["a", "b"]
    alone = await renderer.gather(["lane-inbox", "health"], BoardFilter())  # another flush reads again
    assert alone["snapshot"] is not plain["snapshot"] and alone["snapshot"]["queue"] == plain["snapshot"]["queue"]


async def test_what_start_up_made_is_left_out_of_later_collections(running_hub):
    import gc

    assert gc.get_freeze_count() > 0  # a change's collection walks what changed, not the board
