"""The broadcaster behind ``GET /events``: one bus subscriber rendering fragments for every browser.

It does all the rendering, in one task, so 200 browsers cost one render per change, and fragments
reach every browser in the order their data was read. A change that finds the broadcaster idle, or
keeping up, goes out at once. Only when changes arrive faster than it can afford does it
coalesce: its flushes (the CPU time of the render, plus an estimate of one write per browser) may
take ``BUSY_SHARE`` of the event loop over time (``pacing.py``), and changes arriving while the
budget is spent go out together in the next flush. So a lone change or a steady trickle is never
held back, even to 500 browsers, and a burst of 500 becomes a few flushes.
A flush renders everything stale first and then hands it to every browser at once, so
each browser gets one write per flush (a write costs about the same whatever its size). Unchanged
renders are not sent; the lanes, the agents list and the activity feed go out as patches of their
items when they can, from the same one rendering of their data.

Each flush goes to the browsers through ``clients.Fanout``: one shared log per audience (browsers
with the same regions and filters), read by every stream at its own pace. Every event has an id
``<epoch>-<seq>``; the last ``replay`` events are kept so a browser that reconnects with
``Last-Event-ID`` (or the page's ``since``) gets exactly what it missed. A browser from another
server run, too far behind, or too slow to keep up gets a full resync of its regions from the cache
of last-sent fragments instead.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from agentdeck.actors.dashboard.live_runs import LiveRuns
from agentdeck.actors.messages import LANES, Event, ExecutionEvent, Resync, TaskAssigned
from agentdeck.web.compression import Encoded
from agentdeck.web.live.clients import (
    KEEPALIVE,
    KEEPALIVE_S,
    Client,
    Emitted,
    Fanout,
    Replay,
    TabPaging,
    format_event,
    is_seq,
    seq_of,
)
from agentdeck.web.live.inputs import region_inputs
from agentdeck.web.live.output import LiveOutput
from agentdeck.web.live.pacing import FlushPacer, flush_cost
from agentdeck.web.live.patches import LaneParts, lane_patch, lane_patch_ops, patch_slices
from agentdeck.web.live.regions import (
    FILTERED_REGIONS,
    LANE_REGIONS,
    MAIN_REGIONS,
    PATCHED_REGIONS,
    BoardFilter,
    Renderer,
    next_length,
)
from agentdeck.web.live.staleness import stale_regions
from agentdeck.web.view.present import activity_entry, live_texts, task_hash

log = logging.getLogger("agentdeck.sse")

BUS_BUFFER = 20_000  # events the broadcaster may be behind before the bus tells it to resync
ALL_REGIONS = frozenset((*MAIN_REGIONS, "graph"))
WARM_CHUNK = 20  # cards drawn ahead between two checkpoints
WARM_MAX_CARDS = 1600  # the most cards of one lane drawn ahead (the card cache holds 5,000)


class Broadcaster:
    def __init__(self, hub: Any, renderer: Renderer, *, replay: int = 2000) -> None:
        self.hub = hub
        self.renderer = renderer
        self.epoch = secrets.token_hex(3)
        self.seq = 0
        self.replay = Replay(replay)
        self.fanout = Fanout()
        self._keepalive = Encoded(KEEPALIVE.text.encode())
        self.activity: deque[dict] = deque(maxlen=50)
        self.runs = 0  # incarnations under the supervisor: more than one means it crashed
        self.emitted_total = 0
        # what each region last sent, whole; a list sent as a patch renders its whole markup only
        # when a page or a resync asks for it (from the same data, so it matches the patch)
        self._current: dict[tuple[str | None, str], str | Callable[[], str]] = {}
        self._parts: dict[tuple[str | None, str], LaneParts] = {}
        # the inputs a region was last drawn from, with what was drawn (``inputs.py``)
        self._drawn: dict[tuple[str | None, str], tuple[tuple, object]] = {}
        self._dirty: set[tuple[str | None, str]] = set()
        self._marks = 0  # changes noted so far (a page read while none came needs no second look)
        self.pacer = FlushPacer()
        self.output = LiveOutput()
        self.live = LiveRuns(getattr(getattr(hub, "config", None), "claude_model", "claude-sonnet-4-5"))
        self._live_tasks: set[str] = set()  # tasks whose live texts changed since the last flush
        self._changed_tasks: set[str] = set()
        self._entries = 0
        self._wake = trio.Event()
        self.tabs = TabPaging()
        self._to_warm: set[str] = set()  # region keys of lanes whose next page is drawn ahead
        self._warm_wake = trio.Event()

    @property
    def last_id(self) -> str:
        return f"{self.epoch}-{self.seq}"

    @property
    def client_count(self) -> int:
        return self.fanout.count

    @property
    def closed(self) -> bool:
        return self.fanout.closed

    # ------------------------------------------------------------------ running

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """One run under the hub's supervisor. A run after a crash trusts nothing the crash may have
        left half done: every region is rendered afresh and each browser gets what changed."""
        with self.hub.bus.subscribe("sse", BUS_BUFFER) as subscription:
            if self.runs:
                self.absorb(Resync())
            self.runs += 1
            self._wake = trio.Event()
            self._wake.set()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read_bus, subscription)
                nursery.start_soon(self._flush_loop)
                nursery.start_soon(self._warm_loop)
                nursery.start_soon(self._keepalive_loop)
                task_status.started()
                await self.hub.shutdown.wait()
                self.close()
                nursery.cancel_scope.cancel()

    def close(self) -> None:
        """Every stream ends (each writes its end and returns)."""
        self.fanout.close()

    async def _read_bus(self, subscription: Any) -> None:
        async for event in subscription:
            self.absorb(event)
            while True:  # everything already published goes into the same flush
                try:
                    self.absorb(subscription.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            self._wake.set()

    def absorb(self, event: Event) -> None:
        """Note which regions an event makes stale (cheap; rendering happens in the flush loop)."""
        if isinstance(event, Resync):
            self._current.clear()
            self._parts.clear()
            self._drawn.clear()
            self._mark(ALL_REGIONS)
            self._changed_tasks.add("*")
            self._mark_name("task-changed")
            return
        if isinstance(event, ExecutionEvent):
            self._mark_output(self.output.add(event, self.fanout.count > 0))
            self.live.output(event)
            self._live_tasks.add(event.task_id)
            self._mark_name("live")
            return
        entry = activity_entry(event)
        if entry is not None:
            self._entries += 1
            entry["eid"] = self._entries
            self.activity.appendleft(entry)
        self._mark(stale_regions(event, entry is not None))
        task = getattr(event, "task", None)
        if task is not None:
            if task.lane != "assigned":
                self.live.forget(task.id)
            self._changed_tasks.add(task_hash(task.id))
            self._mark_name("task-changed")
            if isinstance(event, TaskAssigned):
                generation = event.generation or task.generation
                self._mark_output(self.output.new_attempt(task.id, generation, self.fanout.count > 0))

    def _mark_output(self, h: str | None) -> None:
        if h is not None:
            self._mark_name(f"out-{h}")

    def _mark(self, regions: Any) -> None:
        self._marks += 1
        for region in regions:
            if region in FILTERED_REGIONS:
                for key in self.fanout.keys_of(region):
                    self._dirty.add((key, region))
                for sent_key, name in list(self._current):
                    if name == region:
                        self._dirty.add((sent_key, name))
            else:
                self._dirty.add((None, region))

    def _mark_name(self, name: str) -> None:
        self._dirty.add((None, name))

    # ------------------------------------------------------------------ flushing

    async def _flush_loop(self) -> None:
        while True:
            if not self._dirty:
                await self._wake.wait()
                self._wake = trio.Event()
                continue
            if trio.current_time() < self.pacer.ready_at:
                await trio.sleep_until(self.pacer.ready_at)
                continue
            await trio.lowlevel.checkpoint()  # the bus reader takes in the rest of what this change published
            ready, self._dirty = self._dirty, set()
            cpu = await self._flush(ready)
            self.pacer.spent(trio.current_time(), flush_cost(cpu, self.fanout.count))

    async def _flush(self, items: set[tuple[str | None, str]]) -> float:
        """Read the data first (awaiting actors), then render and emit everything without a
        checkpoint: every browser gets the whole flush in one write, and a browser or page that
        connects meanwhile sees the caches and the event ids agree. Returns the CPU seconds the
        rendering took (reading waits on other actors, whose time is not the broadcaster's)."""
        by_key: dict[str | None, list[str]] = {}
        for key, name in items:
            if name.startswith("out-") or name in ("live", "task-changed"):
                continue
            if self._wanted(key, name):
                by_key.setdefault(key, []).append(name)
            else:
                self._forget(key, name)
        gathered = []
        shared: dict[tuple, Any] = {}  # what one filter's gather read, the next one reuses
        for key, names in by_key.items():
            flt = self._filter_for(key)
            names.sort(key=lambda name: (name not in LANE_REGIONS, name))
            try:
                gathered.append((key, names, flt, await self.renderer.gather(names, flt, shared)))
            except Exception:
                log.exception("reading data for %s failed; trying again", names)
                self._dirty.update((key, name) for name in names)
        started = time.thread_time()
        out: list[tuple[str | None, str, str]] = []
        for _, name in items:
            if name.startswith("out-"):
                out.append((None, name, self.output.render(name[4:], self.renderer)))
            elif name == "live":
                out.append((None, name, self._live_texts()))
            elif name == "task-changed" and self._changed_tasks:
                out.append((None, name, " ".join(sorted(self._changed_tasks))))
                self._changed_tasks.clear()
        for key, names, flt, data in gathered:
            for name in names:
                if not self._wanted(key, name):
                    self._forget(key, name)
                    continue
                try:
                    update = self._render(key, name, data, flt)
                except Exception:
                    log.exception("rendering %s failed", name)
                    continue
                if update is not None:
                    out.append((key, *update))
        self._emit_all(out)
        return time.thread_time() - started

    def _render(self, key: str | None, name: str, data: dict, flt: BoardFilter) -> tuple[str, str] | None:
        """What to send for a region: None when it reads as last sent (or only card ages changed,
        which the page ticks itself), a patch of its items when it is a list and a patch can say
        it, else the whole region. Its data is read and rendered once."""
        inputs = region_inputs(name, data)
        if inputs is not None:
            drawn = self._drawn.get((key, name))
            if drawn is not None and drawn[0] == inputs and self._current.get((key, name)) is drawn[1]:
                return None
        update = self._draw(key, name, data, flt)
        if inputs is not None:
            self._drawn[(key, name)] = (inputs, self._current.get((key, name)))
        return update

    def _draw(self, key: str | None, name: str, data: dict, flt: BoardFilter) -> tuple[str, str] | None:
        activity = list(self.activity)
        ctx = self.renderer.context(name, data, flt, data["now"], activity)
        if name in PATCHED_REGIONS and (key, name) in self._current:
            parts = self.renderer.parts(name, data, flt, activity, ctx)
            previous = self._parts.get((key, name))
            if parts == previous:
                return None
            self._parts[(key, name)] = parts
            patch = lane_patch(previous, parts) if previous is not None else None
            if patch is not None:
                self._current[(key, name)] = functools.partial(self._whole, name, ctx, data, flt)
                return (f"patch-{name}", patch) if patch else None
            html = self._whole(name, ctx, data, flt)
            self._current[(key, name)] = html
            return name, html
        html = self._whole(name, ctx, data, flt)
        if self._current.get((key, name)) == html:
            return None
        self._current[(key, name)] = html
        if name in PATCHED_REGIONS:
            self._parts[(key, name)] = self.renderer.parts(name, data, flt, activity, ctx)
        return name, html

    def _whole(self, name: str, ctx: dict, data: dict, flt: BoardFilter) -> str:
        return str(self.renderer.render_context(name, ctx, data, flt))

    def _html(self, key: str | None, name: str) -> str | None:
        """A region's whole markup as last sent (rendered now if it went out as a patch)."""
        html = self._current.get((key, name))
        if callable(html):
            html = self._current[(key, name)] = html()
        return html

    def _live_texts(self) -> str:
        """Running tasks' live texts by task hash: the page writes them into ``[data-live]`` spans."""
        runs = self.live.json()
        changed = {}
        for task_id in self._live_tasks:
            run = runs.get(task_id)
            if run is not None:
                changed[task_hash(task_id)] = live_texts(run)
        self._live_tasks.clear()
        return json.dumps(changed, separators=(",", ":"))

    def _forget(self, key: str | None, name: str) -> None:
        self._current.pop((key, name), None)
        self._parts.pop((key, name), None)
        self._drawn.pop((key, name), None)

    def page_lanes(self, flt: BoardFilter) -> tuple[str, dict[str, str]]:
        """For a page: the last id and the patched regions exactly as last sent, so patches apply."""
        keys = {name: flt.key_for(name) for name in PATCHED_REGIONS}
        return self.last_id, {name: html for name, key in keys.items()
                              if (html := self._html(key, name)) is not None}

    def _wanted(self, key: str | None, name: str) -> bool:
        return self.fanout.shows(key, name)

    @staticmethod
    def _filter_for(key: str | None) -> BoardFilter:
        """The filter a region key stands for (a key names all its render depends on)."""
        return BoardFilter.from_key(key) if key else BoardFilter()

    def _emit(self, key: str | None, name: str, data: str) -> None:
        self._emit_all([(key, name, data)])

    def _emit_all(self, updates: list[tuple[str | None, str, str]]) -> None:
        """Number the events of a flush, keep them for replay, and append them to every audience's
        log as one write."""
        items = []
        for key, name, data in updates:
            self.seq += 1
            self.emitted_total += 1
            item = self._item(key, name, data)
            self.replay.keep(item)
            items.append(item)
        self.fanout.publish(items)

    def _item(self, key: str | None, name: str, data: str) -> Emitted:
        return Emitted.of(self.seq, key, name, data, format_event(f"{self.epoch}-{self.seq}", name, data))

    # ------------------------------------------------------------------ clients

    async def _keepalive_loop(self) -> None:
        """A comment to every browser every ``KEEPALIVE_S``, so an idle stream stays open through
        proxies: one timer for all of them, not a deadline per browser on every write."""
        while True:
            await trio.sleep(KEEPALIVE_S)
            self.fanout.keepalive(self._keepalive)

    def connect(self, client: Client, since: str | None) -> list[Emitted] | None:
        """Register a browser; returns what it must be sent first (replay, or a full resync), and
        from then on it reads its audience's log. None when the hub is shutting down."""
        if self.closed:
            return None
        paged = self.tabs.get(client.tab)
        if paged is not None:  # the page paged its lanes since it opened this stream's URL
            client.flt = paged.flt
        self.fanout.add(client)
        self._warm_next(client.flt)
        replay = self._replay(client, since) if paged is None or paged.seq <= seq_of(since) else None
        return replay if replay is not None else self.resync(client)

    def _replay(self, client: Client, since: str | None) -> list[Emitted] | None:
        if not since or "-" not in since:
            return None
        epoch, _, raw_seq = since.partition("-")
        if epoch != self.epoch or not is_seq(raw_seq) or int(raw_seq) > self.seq:
            return None
        audience = client.audience
        missed = self.replay.after(int(raw_seq), self.seq, audience.wants if audience is not None else bool)
        if missed is not None:
            self._ensure_cached(client)
        return missed

    def catch_up(self, client: Client) -> list[Emitted]:
        """A browser that fell behind: what it missed is dropped and replaced by a resync."""
        client.restart()
        return self.resync(client)

    def resync(self, client: Client) -> list[Emitted]:
        """Every region the browser shows, from the last-sent cache; uncached ones render soon."""
        items = []
        for name in sorted(client.regions):
            key = client.key_for(name)
            html = self._html(key, name)
            if html is not None:
                items.append(self._item(key, name, html))
        self._ensure_cached(client)
        return items

    def _ensure_cached(self, client: Client) -> None:
        for name in client.regions:
            key = client.key_for(name)
            if (key, name) not in self._current:
                self._dirty.add((key, name))
                self.pacer.waive()
        self._wake.set()

    def disconnect(self, client: Client) -> None:
        self.fanout.remove(client)
        self._forget_unused(client.flt)

    def _forget_unused(self, flt: BoardFilter) -> None:
        """Drop the renders of ``flt``'s keys that no browser uses any more (the unfiltered ones stay)."""
        for name in FILTERED_REGIONS:
            key = flt.key_for(name)
            if key and key not in self.fanout.keys_of(name):
                self._forget(key, name)

    # ------------------------------------------------------------------ paging a lane

    async def show_lane(self, tab: str, lane: str, limit: int) -> str | None:
        """One browser's lane grows to ``limit`` cards: the cards it did not have yet go to that
        browser alone, in its own stream, as a patch of the lane as it has it (so the page keeps
        its scroll, its focus and its other lanes; and the patch lands in order with every other
        event). From then on its stream carries that lane's patches at the new length. A page of
        more than ``RUN_SLICE`` cards goes as several events in a row, so the browser paints the
        first slice without parsing the rest. Returns the id of the (last) event that carries the
        new cards, or None when no stream has this page."""
        region = f"lane-{lane}"
        clients = self.fanout.of_tab(tab, region)
        if not tab or not clients:
            return None
        flt = clients[0].flt.with_lane(lane, limit)
        key = flt.key_for(region)
        data = None
        marks = self._marks
        if (key, region) not in self._current:
            data = await self.renderer.gather([region], self._filter_for(key))
        clients = self.fanout.of_tab(tab, region)  # after the wait
        if not clients:
            return None
        if (key, region) not in self._current:
            if data is None:  # rendered when asked, forgotten since: the page loads the URL instead
                return None
            # this length is new: its render becomes the version patches start from; a change
            # read meanwhile marked only the lengths browsers had, so look once more (only then:
            # drawing the whole lane again at once would hold back the event that brings the page)
            activity = list(self.activity)
            region_flt = self._filter_for(key)
            ctx = self.renderer.context(region, data, region_flt, data["now"], activity)
            self._parts[(key, region)] = self.renderer.parts(region, data, region_flt, activity, ctx)
            self._current[(key, region)] = functools.partial(self._whole, region, ctx, data, region_flt)
            if self._marks != marks:
                self._dirty.add((key, region))
                self._wake.set()
        new = self._parts.get((key, region))
        events: list[tuple[Client, list[tuple[str, str]]]] = []
        for client in clients:
            old = self._parts.get((client.key_for(region), region))
            ops = lane_patch_ops(old, new) if old is not None and new is not None else None
            if ops is not None:  # a big page goes as a few events, the first painted at once
                events.append((client, [(f"patch-{region}", part) for part in patch_slices(ops)]))
            else:
                events.append((client, [(region, self._html(key, region) or "")]))
        count = max(len(parts) for _, parts in events)
        self.seq += count
        self.emitted_total += count
        event_id = f"{self.epoch}-{self.seq}"
        for client, parts in events:  # each stream's last event has the id the page waits for
            first = self.seq - len(parts) + 1
            own = Encoded("".join(format_event(f"{self.epoch}-{first + n}", name, fragment)
                                  for n, (name, fragment) in enumerate(parts)).encode())
            was = client.flt
            self.fanout.move(client, was.with_lane(lane, limit), own)
            self.tabs.remember(tab, client.flt, self.seq)
            self._forget_unused(was)
        self._warm_next(flt)
        return event_id

    def _warm_next(self, flt: BoardFilter) -> None:
        for lane in LANES:
            key = flt.key_for(f"lane-{lane}")
            if key is not None:
                self._to_warm.add(key + "#" + lane)
        self._warm_wake.set()

    async def _warm_loop(self) -> None:
        """Draw each shown lane's next page ahead, a few cards at a time between other work, so
        "show more" finds its cards drawn (a person reads a page before asking for the next)."""
        while True:
            await self._warm_wake.wait()
            self._warm_wake = trio.Event()
            while self._to_warm:
                key, _, lane = self._to_warm.pop().rpartition("#")
                flt = self._filter_for(key)
                start = flt.limit_of(lane)
                stop = min(next_length(start), start + WARM_MAX_CARDS)
                try:
                    data = await self.renderer.gather([f"lane-{lane}"], flt.with_lane(lane, stop))
                except Exception:
                    log.exception("reading the next page of %s failed", lane)
                    continue
                for first in range(start, stop, WARM_CHUNK):
                    if not self.renderer.warm(f"lane-{lane}", data, flt, first, min(first + WARM_CHUNK, stop)):
                        break
                    await trio.lowlevel.checkpoint()

