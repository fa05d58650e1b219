"""The dashboard's regions: which data each one needs, which partial renders it, what makes it stale.

A region is one swappable piece of the page (a kanban lane, the agents list, the cost panel...).
The full page and the live SSE updates both go through ``Renderer.render`` so there is exactly one
copy of every region's markup: the page just places the rendered regions in their wrappers.
Missing data sources (an actor not built or not answering) render as honest empty states.
"""

from __future__ import annotations

import collections
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import attrs
from jinja2 import Environment
from markupsafe import Markup

from agentdeck.actors.mailbox import ActorUnavailable
from agentdeck.actors.messages import (
    LANES,
    PRIORITIES,
    BoardView,
    ExecutionEvent,
    GetDashboardSnapshot,
    GetOutput,
    GetRunHistory,
    GetStats,
    ListTasks,
    Task,
    WhyWaiting,
)
from agentdeck.actors.replies import StatsReply
from agentdeck.web.live import element_ids as ids
from agentdeck.web.live.patches import LaneParts
from agentdeck.web.view import charts
from agentdeck.web.view.dead_letter import dead_groups
from agentdeck.web.view.present import (
    CardBase,
    agent_row,
    card_at,
    card_base,
    path_segment,
    present_task,
    running_by_task,
    stuck_at,
    task_hash,
)

log = logging.getLogger("agentdeck.fragments")

LANE_REGIONS = tuple(f"lane-{lane}" for lane in LANES)
BOARD_REGIONS = (*LANE_REGIONS, "invalid")
SNAPSHOT_REGIONS = ("health", "ticker", "agents", "throughput")
MAIN_REGIONS = (*SNAPSHOT_REGIONS, *BOARD_REGIONS, "costs", "activity")
GRAPH_REGIONS = ("health", "ticker", "graph")
FILTERED_REGIONS = frozenset((*LANE_REGIONS, "graph"))
PATCHED_REGIONS = (*LANE_REGIONS, "agents", "activity")  # lists sent as patches of their items
MAX_FEED_ITEMS = 200  # drawn feed lines kept (the feed shows 50)
MAX_ITEMS_PER_CARD = 8  # renders of one card kept (per lane and filter)
MAX_HEADS = 256  # lane headings and footers kept
LANE_PAGE = 100  # cards drawn per lane; the count is always the full one
MAX_LANE_LIMIT = 10_000
MAX_SEARCH_WORDS = 12


@attrs.frozen
class BoardFilter:
    """The board filters a browser asked for, and how many cards it shows in each lane.

    ``key`` names the whole filter (the page's URL); ``key_for(region)`` names what one region's
    render depends on (the filter, plus that lane's own length for a lane, plus the focus for the
    graph), so browsers that paged different lanes still share the renders of the lanes they did not.
    """

    agent: str | None = None
    priority: str | None = None
    text: str = ""
    limits: tuple[int, ...] = (LANE_PAGE,) * len(LANES)  # cards shown per lane, in ``LANES`` order
    focus: str = ""  # the graph: one task with its ancestors and dependants

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> BoardFilter:
        priority = (args.get("priority") or "").strip().lower() or None
        every = lane_length(args.get("limit"), LANE_PAGE)  # one length for every lane (older URLs)
        return cls(agent=(args.get("agent") or "").strip() or None,
                   priority=priority if priority in PRIORITIES else None,
                   text=(args.get("q") or "").strip()[:200],
                   limits=tuple(lane_length(args.get(lane), every) for lane in LANES),
                   focus=(args.get("focus") or "").strip()[:300])

    @classmethod
    def from_key(cls, key: str) -> BoardFilter:
        return cls.from_args(dict(parse_qsl(key)))

    def base_params(self) -> dict[str, str]:
        """What narrows the board (not how much of it a lane shows, nor the graph's focus)."""
        out = {"agent": self.agent or "", "priority": self.priority or "", "q": self.text}
        return {k: v for k, v in out.items() if v}

    def lane_params(self, lane: str) -> dict[str, str]:
        limit = self.limit_of(lane)
        return {lane: str(limit)} if limit != LANE_PAGE else {}

    def params(self) -> dict[str, str]:
        out = self.base_params()
        for lane in LANES:
            out.update(self.lane_params(lane))
        if self.focus:
            out["focus"] = self.focus
        return out

    @property
    def key(self) -> str:
        return urlencode(sorted(self.params().items()))

    @property
    def base_key(self) -> str:
        return urlencode(sorted(self.base_params().items()))

    def key_for(self, region: str) -> str | None:
        """The key of this filter's render of ``region``; None for a region every browser shares."""
        if region == "graph":
            return urlencode(sorted({**self.base_params(), **({"focus": self.focus} if self.focus else {})}.items()))
        if region in LANE_REGIONS:
            lane = region.removeprefix("lane-")
            return urlencode(sorted({**self.base_params(), **self.lane_params(lane)}.items()))
        return None

    def limit_of(self, lane: str) -> int:
        return self.limits[LANES.index(lane)]

    def with_lane(self, lane: str, limit: int) -> BoardFilter:
        index = LANES.index(lane)
        return attrs.evolve(self, limits=(*self.limits[:index], limit, *self.limits[index + 1:]))

    @property
    def active(self) -> bool:
        return bool(self.agent or self.priority or self.text)

    @property
    def words(self) -> tuple[str, ...]:
        """The search as words, each of which must appear somewhere in a task (any order, any case)."""
        return search_words(self.text)

    def keep(self, task: Task) -> bool:
        words = self.words
        if not words:
            return True
        haystack = " ".join((task.title or "", task.id, task.description or "", " ".join(task.tags),
                             task.agent or "", task.lane_agent or "")).casefold()
        return all(word in haystack for word in words)


def lane_length(raw: str | None, default: int) -> int:
    """A lane's length from a URL: a whole number of cards within bounds, else ``default``."""
    try:
        value = int(raw) if raw else default
    except ValueError:
        return default
    return max(LANE_PAGE, min(value, MAX_LANE_LIMIT))


def next_length(shown: int) -> int:
    """How many cards a lane shows after one more "show more": the page doubles with each click,
    so the 7,000th card of a lane is 7 clicks away, not 70 (and the first page stays small)."""
    return min(MAX_LANE_LIMIT, shown + max(LANE_PAGE, shown))


@attrs.define
class _Presented:
    task: Task
    shown: tuple  # what the card showed beside the task: completion, wait reason, run
    base: CardBase
    card: dict[str, Any] | None = None  # the card last made (ages change it)
    # its <li> by (lane, filter), as markup for the whole lane and as text for the lane's patch
    items: dict[tuple[str, str], tuple[Markup, str]] = attrs.field(factory=dict)


async def _wall_clock() -> float:
    return time.time()


def search_words(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(word for word in text.casefold().split() if word))[:MAX_SEARCH_WORDS]


class Sources:
    """Asks the actors for data; an actor that is not there (yet) or silent gives ``None``. What
    the hub can read without a round trip (``Hub.read_queue``, ``Hub.read_snapshot``) is read so:
    the live dashboard reads the board and the snapshot on every change."""

    def __init__(self, hub: Any, timeout: float = 2.0) -> None:
        self.hub = hub
        self.timeout = timeout

    async def _ask(self, method: str, body: Any) -> Any:
        ask = getattr(self.hub, method, None)
        if ask is None:
            return None
        try:
            return await ask(body, timeout=self.timeout)
        except (ActorUnavailable, TypeError, KeyError) as error:
            log.debug("%s(%s) gave no data: %s", method, type(body).__name__, error)
            return None

    def _read(self, reader: str, *body: Any) -> Any:
        read = getattr(self.hub, reader, None)
        return read(*body) if read is not None else None

    async def board(self, flt: BoardFilter) -> BoardView:
        query = ListTasks(agent=flt.agent, priority=flt.priority)
        view = self._read("read_queue", query)
        if view is None:
            view = await self.hub.ask_queue(query)
        if not flt.text:
            return view
        def kept(lane: tuple[Task, ...]) -> tuple[Task, ...]:
            return tuple(t for t in lane if flt.keep(t))

        return BoardView(view.version, kept(view.inbox), kept(view.assigned), kept(view.done), kept(view.dead),
                         view.invalid)

    async def snapshot(self) -> dict | None:
        snapshot = self._read("read_snapshot")
        return snapshot if snapshot is not None else await self._ask("ask_dashboard", GetDashboardSnapshot())

    async def stats(self) -> StatsReply | None:
        stats: StatsReply | None = await self._ask("ask_telemetry", GetStats())
        return stats

    async def output(self, task_id: str) -> list | None:
        return await self._ask("ask_output", GetOutput(task_id))

    async def waiting(self, task_ids: Iterable[str]) -> dict[str, Any]:
        """Why each inbox task waits (``WaitReason`` by id), as the scheduler sees it; {} if unknown."""
        ids = tuple(task_ids)
        if not ids:
            return {}
        reasons = self._read("read_queue", WhyWaiting(ids))
        if reasons is None:
            reasons = await self._ask("ask_queue", WhyWaiting(ids))
        return reasons if isinstance(reasons, dict) else {}

    async def run_history(self, task_id: str) -> Any:
        """The task's ``RunRecord`` from disk, or None when the execution log cannot say."""
        try:
            return await self._ask("ask_output", GetRunHistory(task_id))
        except OSError as error:
            log.warning("run history of %s unreadable: %s", task_id, error)
            return None


def output_line(item: Any) -> dict[str, str]:
    """One execution event (message or dict) as {kind, text} for the output block."""
    if isinstance(item, ExecutionEvent):
        kind, text = item.event_type, item.text
    elif isinstance(item, Mapping):
        kind, text = str(item.get("event_type") or item.get("type") or "stdout"), str(item.get("text") or "")
    else:
        kind, text = str(getattr(item, "event_type", "stdout")), str(getattr(item, "text", ""))
    if kind not in ("token", "stdout", "stderr", "status", "error", "tool_call"):
        kind = "status"
    if kind != "token":
        text = text.rstrip("\n")
    return {"kind": kind, "text": text}


def add_page_globals(env: Environment) -> None:
    """What every template may use, in both environments (the app's and the fragments')."""
    env.filters["segment"] = path_segment
    env.filters["highlight"] = highlight
    env.globals["ids"] = ids
    env.globals["lanes"] = LANES
    env.globals["patched_events"] = ",".join(f"patch-{region}" for region in PATCHED_REGIONS)


def highlight(text: Any, query: str) -> Markup:
    """``text`` escaped, with every occurrence of the search's words marked (``<mark>``)."""
    value = str(text or "")
    words = search_words(query or "")
    if not words:
        return Markup.escape(value)
    pattern = re.compile("|".join(re.escape(word) for word in sorted(words, key=len, reverse=True)),
                         re.IGNORECASE)
    out, last = [], 0
    for match in pattern.finditer(value):
        out.append(Markup.escape(value[last:match.start()]))
        out.append(Markup("<mark>") + Markup.escape(match.group(0)) + Markup("</mark>"))
        last = match.end()
    out.append(Markup.escape(value[last:]))
    return Markup("").join(out)


def fragment_env(app: Any) -> Environment:
    """One synchronous, autoescaping Jinja environment per app over the app's templates.

    Quart's own environment is in async mode, where every synchronous ``render`` spins up an
    asyncio loop; regions are rendered many times a second, so they get a plain one.
    """
    env = app.extensions.get("agentdeck.fragment_env")
    if env is None:
        env = Environment(loader=app.jinja_loader, autoescape=True, auto_reload=False)
        add_page_globals(env)
        app.extensions["agentdeck.fragment_env"] = env
    return env


class Renderer:
    """Renders regions from the hub's current data, using one Jinja environment (autoescaping)."""

    def __init__(self, env: Environment, hub: Any, card_cache: int = 0) -> None:
        self.env = env
        self.sources = Sources(hub)
        self._cards: collections.OrderedDict[tuple, str] = collections.OrderedDict()
        self._card_cache = card_cache
        self._presented: collections.OrderedDict[str, _Presented] = collections.OrderedDict()
        self._feed: dict[int, str] = {}  # activity entry id -> its line
        self._heads: dict[tuple, tuple[str, str]] = {}  # a lane's heading and footer by what they say
        self._completions: tuple[Any, Mapping[str, Any]] = (None, {})  # (recent completions, by task id)
        self._runs: tuple[Any, Any, Mapping[str, Any]] = (None, None, {})  # (agents, running, by task id)

    def present(self, task: Task, now: float, completion: Mapping[str, Any] | None = None,
                waiting: Any = None, running: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A task's card, its clock-free part worked out again only when the task (the immutable
        object the board holds) or what the card shows beside it changed; the very same card
        (and so the same ``<li>``) while it reads the same but for its age texts, which the page
        ticks by itself: a lane redrawn for one change costs a lookup per card, not a card."""
        seen = self._presented.get(task.id)
        shown = (completion, waiting, running)
        if seen is None or seen.task is not task or seen.shown != shown:
            seen = _Presented(task, shown, card_base(task, completion, waiting, running))
            if self._card_cache:
                self._presented[task.id] = seen
                if len(self._presented) > self._card_cache:
                    self._presented.popitem(last=False)
        else:
            if self._card_cache:
                self._presented.move_to_end(task.id)
            last = seen.card
            if last is not None and last["stuck"] == stuck_at(seen.base, now):
                return last
        card = card_at(seen.base, now)
        seen.card, seen.items = card, {}
        return card

    def lane_item(self, card: dict[str, Any], lane: str, q: str) -> tuple[Markup, str]:
        """One card's ``<li>`` (the card.html macro), as markup and as text, remembered while the
        card reads the same."""
        seen = self._presented.get(card["id"])
        if seen is None or seen.card is not card:
            text = self._item(("card", lane, q, repr(card)), "card", "lane_item", card, lane, q)
            return Markup(text), text
        drawn = seen.items.get((lane, q))
        if drawn is None:
            text = str(self._macros("card").lane_item(card, lane, q))
            drawn = (Markup(text), text)
            if len(seen.items) >= MAX_ITEMS_PER_CARD:
                seen.items.clear()
            seen.items[(lane, q)] = drawn
        return drawn

    def _feed_item(self, entry: dict[str, Any]) -> str:
        """One line of the activity feed; an entry never changes once made, so it is drawn once."""
        html = self._feed.get(entry["eid"])
        if html is None:
            html = str(self._macros("activity_item").feed_item(entry))
            if self._card_cache:
                if len(self._feed) >= MAX_FEED_ITEMS:
                    del self._feed[next(iter(self._feed))]
                self._feed[entry["eid"]] = html
        return html

    def agent_item(self, agent: dict[str, Any]) -> str:
        return self._item(("agent", repr(agent)), "agent_item", "agent_item", agent)

    def _item(self, key: tuple, partial: str, macro: str, *args: Any) -> str:
        html = self._cards.get(key)
        if html is None:
            html = str(getattr(self.env.get_template(f"partials/{partial}.html").module, macro)(*args))
            if self._card_cache:
                self._cards[key] = html
                if len(self._cards) > self._card_cache:
                    self._cards.popitem(last=False)
        else:
            self._cards.move_to_end(key)
        return html

    def lane(self, region: str, data: dict[str, Any], flt: BoardFilter) -> dict[str, Any]:
        lane = region.removeprefix("lane-")
        q = flt.base_key  # a card links to its panel with the filters, not with the lanes' lengths
        li: dict[str, Markup] = {}
        texts: dict[str, str] = {}
        snapshot, now, waiting = data.get("snapshot") or {}, data["now"], data.get("waiting") or {}
        cards_of = None
        if not flt.text:
            completions, running = self._beside(lane, snapshot)
            cards_of = functools.partial(self._drawn_cards, lane, q, now, completions, waiting, running, li, texts)
        ctx = lane_context(lane, data["board"], flt, snapshot, now, waiting, self.present, cards_of)
        for card in ctx["cards"]:
            if card["hash"] not in li:
                li[card["hash"]], texts[card["hash"]] = self.lane_item(card, lane, q)
        ctx["li"], ctx["li_text"] = li, texts
        return ctx

    def _beside(self, lane: str, snapshot: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        """Completions and runs by task id, worked out again only when the snapshot's sections
        they come from are new (the dashboard shares a section until something in it changes)."""
        recent = snapshot.get("recent_completions")
        if self._completions[0] is not recent:
            self._completions = (recent, completions_by_task(recent))
        if lane != "assigned":
            return self._completions[1], {}
        agents, live = snapshot.get("agents"), snapshot.get("running")
        if self._runs[0] is not agents or self._runs[1] is not live:
            self._runs = (agents, live, running_by_task(snapshot))
        return self._completions[1], self._runs[2]

    def _drawn_cards(self, lane: str, q: str, now: float, completions: Mapping[str, Any],
                     waiting: Mapping[str, Any], running: Mapping[str, Any], li: dict[str, Markup],
                     texts: dict[str, str], tasks: tuple[Task, ...]) -> list[dict[str, Any]]:
        """The cards of a lane drawn without a search: a card that reads as it did comes with its
        ``<li>`` from one lookup (most of a lane, most of the time), else as ``present``. One
        tight loop: a lane of 100 cards is looked at on every change to it."""
        presented = self._presented
        where = (lane, q)
        assigned = lane == "assigned"  # only an assigned card turns stuck with time
        cards = []
        for task in tasks:
            task_id = task.id
            shown = (completions.get(task_id), waiting.get(task_id), running.get(task_id))
            seen = presented.get(task_id)
            if seen is not None and seen.task is task and seen.shown == shown:
                card = seen.card
                if card is not None and (not assigned or card["stuck"] == stuck_at(seen.base, now)):
                    drawn = seen.items.get(where)
                    if drawn is not None:
                        presented.move_to_end(task_id)
                        li[card["hash"]], texts[card["hash"]] = drawn
                        cards.append(card)
                        continue
            cards.append(self.present(task, now, *shown))
        return cards

    def warm(self, region: str, data: dict[str, Any], flt: BoardFilter, start: int, stop: int) -> int:
        """Draw (into the caches) the cards ``start:stop`` of a lane, as the lane would draw them:
        so the next "show more" finds its cards ready. Returns how many there were."""
        lane = region.removeprefix("lane-")
        tasks = getattr(data["board"], lane)[start:stop]
        for card in lane_cards(lane, tasks, flt, data.get("snapshot") or {}, data["now"],
                               data.get("waiting") or {}, self.present):
            self.lane_item(card, lane, flt.base_key)
        return len(tasks)

    def partial(self, name: str, **context: Any) -> str:
        return self.env.get_template(f"partials/{name}.html").render(**context)

    async def render(self, regions: Iterable[str], flt: BoardFilter,
                     activity: list[dict] | None = None) -> dict[str, Markup]:
        """Render each named region for a filter; each data source is asked at most once."""
        regions = list(regions)
        data = await self.gather(regions, flt)
        return {region: self.render_one(region, data, flt, activity or []) for region in regions}

    async def gather(self, regions: list[str], flt: BoardFilter,
                     shared: dict[tuple, Any] | None = None) -> dict[str, Any]:
        """The data ``regions`` need for a filter. Gathers that pass the same ``shared`` (one
        flush, for all its filters) read each source once: the snapshot, a board filter's view,
        the reasons the same inbox page waits."""
        shared = {} if shared is None else shared

        async def once(key: tuple, read: Callable[[], Awaitable[Any]]) -> Any:
            if key not in shared:
                shared[key] = await read()
            return shared[key]

        data: dict[str, Any] = {"now": await once(("now",), _wall_clock)}
        board_key = ("board", flt.agent, flt.priority, flt.text)
        if any(r in BOARD_REGIONS or r == "graph" for r in regions):
            data["board"] = await once(board_key, functools.partial(self.sources.board, flt))
        if "lane-inbox" in regions:
            shown = data["board"].inbox[:flt.limit_of("inbox")]
            data["waiting"] = await once(("waiting", *board_key, len(shown)),
                                         functools.partial(self.sources.waiting, [t.id for t in shown]))
        if any(r in SNAPSHOT_REGIONS or r in ("lane-assigned", "lane-done") for r in regions):  # runs, completions
            data["snapshot"] = await once(("snapshot",), self.sources.snapshot)
        if "costs" in regions:
            data["stats"] = await once(("stats",), self.sources.stats)
        return data

    def render_one(self, region: str, data: dict[str, Any], flt: BoardFilter,
                   activity: list[dict]) -> Markup:
        return self.render_context(region, self.context(region, data, flt, data["now"], activity), data, flt)

    def render_context(self, region: str, context: dict[str, Any], data: dict[str, Any],
                       flt: BoardFilter) -> Markup:
        """A region from a context made by ``context`` (which ``parts`` can take too: one reading
        of the data for both the whole region and its patch)."""
        template = "lane" if region in LANE_REGIONS else region
        return Markup(self.partial(template, ctx=context, now=data["now"], flt=flt))

    def _macros(self, partial: str) -> Any:
        """A partial's macros (Jinja builds the module's attributes at run time: ``Any`` is honest)."""
        return self.env.get_template(f"partials/{partial}.html").module

    def parts(self, region: str, data: dict[str, Any], flt: BoardFilter, activity: list[dict],
              ctx: dict[str, Any] | None = None) -> LaneParts:
        """A list region as its pieces (the same macros as its partial), for patching it in place."""
        if region == "activity":
            where = ids.items("activity")
            items = tuple((str(e["eid"]), self._feed_item(e), where) for e in activity)
            return LaneParts("activity", (not items,), items, ())
        if ctx is None:
            ctx = self.context(region, data, flt, data["now"], activity)
        if region == "agents":
            macros = self._macros("agent_item")
            items = tuple((a["key"], str(ctx["li"][a["key"]]), ids.items("agents")) for a in ctx["agents"])
            return LaneParts("agents", (ctx["available"], not items), items,
                             (str(macros.agents_head(ctx, "outerHTML")),))
        macros = self._macros("card")
        lane = ctx["lane"]
        if ctx["groups"]:
            texts = ctx["li_text"]
            items = tuple((c["hash"], texts[c["hash"]], ids.items(lane, g["key"]))
                          for g in ctx["groups"] for c in g["cards"])
            groups = tuple((g["key"], f"{macros.group_open(ctx, g)}</ul></div>",
                            str(macros.group_head(ctx, g, "outerHTML"))) for g in ctx["groups"])
        else:
            texts, where = ctx["li_text"], ids.items(lane)
            items = tuple((c["hash"], texts[c["hash"]], where) for c in ctx["cards"])
            groups = ()
        shape = (not ctx["cards"], flt.base_key, bool(groups))
        heads = self._lane_heads(ctx, macros)
        return LaneParts(lane, shape, items, heads, groups)

    def _lane_heads(self, ctx: dict[str, Any], macros: Any) -> tuple[str, str]:
        """A lane's heading and "show more" footer, drawn once for each set of what they say."""
        key = (ctx["lane"], ctx["count"], ctx["hidden"], ctx["shown"], ctx["next"], ctx["more_query"])
        heads = self._heads.get(key)
        if heads is None:
            if len(self._heads) >= MAX_HEADS:
                self._heads.clear()
            heads = self._heads[key] = (str(macros.lane_head(ctx, "outerHTML")),
                                        str(macros.more_link(ctx, "outerHTML")))
        return heads

    def context(self, region: str, data: dict[str, Any], flt: BoardFilter, now: float,
                activity: list[dict]) -> dict[str, Any]:
        snapshot = data.get("snapshot") or {}
        if region in LANE_REGIONS:
            return self.lane(region, data, flt)
        if region == "invalid":
            return {"invalid": data["board"].invalid}
        if region == "health":
            return {"health": snapshot.get("health"), "available": bool(snapshot)}
        if region == "ticker":
            return {"costs": snapshot.get("costs"), "available": bool(snapshot)}
        if region == "agents":
            listed: dict[str, Mapping] = {}
            for a in snapshot.get("agents") or []:
                if isinstance(a, Mapping):
                    listed.setdefault(str(a.get("agent_id")), a)
            live = snapshot.get("running") if isinstance(snapshot.get("running"), Mapping) else {}
            agents = [agent_row(agent_id, a, live or {}) for agent_id, a in listed.items()]
            return {"agents": agents, "available": bool(snapshot),
                    "li": {a["key"]: Markup(self.agent_item(a)) for a in agents}}
        if region == "throughput":
            return {"throughput": snapshot.get("throughput"),
                    "recent": (snapshot.get("recent_completions") or [])[:10],
                    "available": bool(snapshot)}
        if region == "costs":
            return charts.cost_panel(data.get("stats"))
        if region == "activity":
            return {"entries": activity}
        if region == "graph":
            return charts.dependency_graph(data["board"], focus=flt.focus)
        raise KeyError(region)


def lane_cards(lane: str, tasks: Iterable[Task], flt: BoardFilter, snapshot: Mapping[str, Any], now: float,
               waiting: Mapping[str, Any] | None, present: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """The cards of some of a lane's tasks, with what each shows beside its task."""
    completions = completions_by_task(snapshot.get("recent_completions"))
    waiting = waiting or {}
    running = running_by_task(snapshot) if lane == "assigned" else {}
    cards = [present(t, now, completions.get(t.id), waiting.get(t.id), running.get(t.id)) for t in tasks]
    if flt.text:
        cards = [{**card, "match": flt.text} for card in cards]
    return cards


def completions_by_task(recent: Any) -> dict[Any, Any]:
    return {c.get("task_id"): c for c in recent or [] if isinstance(c, Mapping)}


def lane_context(lane: str, view: BoardView, flt: BoardFilter, snapshot: Mapping[str, Any],
                 now: float, waiting: Mapping[str, Any] | None = None,
                 present: Callable[..., dict[str, Any]] = present_task,
                 cards_of: Callable[[tuple[Task, ...]], list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """A lane's template context; ``cards_of`` makes the shown tasks' cards (else ``lane_cards``)."""
    tasks: tuple[Task, ...] = getattr(view, lane)
    shown = tasks[:flt.limit_of(lane)]
    cards = cards_of(shown) if cards_of is not None else lane_cards(lane, shown, flt, snapshot, now, waiting,
                                                                     present)
    groups: list[dict[str, Any]] = []
    if lane == "assigned":
        by_agent: dict[str, list[dict]] = {}
        for card in cards:
            by_agent.setdefault(card["lane_agent"] or "unassigned", []).append(card)
        groups = [{"agent": agent, "key": task_hash(agent), "cards": group}
                  for agent, group in sorted(by_agent.items())]
    elif lane == "dead" and tasks:
        by_id = {card["id"]: card for card in cards}
        groups = [{"key": g["key"], "error": g["error"], "total": len(g["tasks"]),
                   "cost": g["cost"], "cards": [by_id[t.id] for t in g["tasks"] if t.id in by_id]}
                  for g in dead_groups(tasks)]
        cards = [card for g in groups for card in g["cards"]]  # in the order the page shows them
    return {"lane": lane, "count": len(tasks), "cards": cards, "groups": groups,
            "hidden": len(tasks) - len(shown), "shown": len(shown), "next": next_length(len(shown)),
            "more_query": urlencode(sorted(flt.with_lane(lane, next_length(len(shown))).params().items()))}
