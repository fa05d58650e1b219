"""The client side of the live dashboard: where each browser is in what was sent, and what it missed.

Browsers that get the same events (the same regions under the same filter keys: an ``Audience``)
share one append-only log of flushes. A flush is formatted once and encoded once for all of them
(and deflated once, when a gzip browser first asks; ``web/compression.py``), and each browser's
stream reads the log from its own cursor at its own pace: one wake-up per flush, no queue per
browser. A browser that keeps up gets every flush once, in order; a slow one takes what piled up in
one write; one that falls off the log's start (a stalled reader) gets a fresh resync when it reads
again. It never holds the others up nor grows memory: a log keeps at most ``LOG_CHUNKS`` flushes and
``LOG_BYTES`` of text, and drops what its slowest reader has taken.

Every event has an id ``<epoch>-<seq>``; the last events are kept (``Replay``) so a browser that
reconnects with ``Last-Event-ID`` (or the page's ``since``) gets exactly what it missed.
"""

from __future__ import annotations

import itertools
import sys
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator

import attrs
import trio

from agentdeck.web.compression import Encoded
from agentdeck.web.live.regions import FILTERED_REGIONS, BoardFilter

# Rendered output can be megabytes per event (1 MB of "&" escapes to 5 MB), so the replay buffer and
# each audience's log are bounded in bytes as well as in items. Past the replay bound the oldest
# events go (a browser that needs them gets a resync); past its log's bound a browser that has not
# taken what it was sent falls behind (it gets a resync when it reads again).
REPLAY_BYTES = 16 * 1024 * 1024
LOG_CHUNKS = 512
LOG_BYTES = 8 * 1024 * 1024  # of event text; a deflated copy adds at most about as much again
MAX_SEQ_DIGITS = 18
MAX_PAGED_TABS = 4096  # pages whose paged lanes are remembered for their reconnecting streams
KEEPALIVE_S = 15.0
ALWAYS_SENT = ("task-changed", "live")  # besides ``out-*``: events every browser gets


@attrs.frozen
class Emitted:
    seq: int
    key: str | None  # the filter key of a filtered region, None for what every browser gets
    name: str
    data: str
    text: str  # the whole SSE event, formatted once for every browser
    size: int = 0  # bytes held for data and text together

    @classmethod
    def of(cls, seq: int, key: str | None, name: str, data: str, text: str) -> Emitted:
        return cls(seq, key, name, data, text, sys.getsizeof(data) + sys.getsizeof(text))


KEEPALIVE = Emitted(0, None, "", "", ": keepalive\n\n")  # a comment: no id, not replayed

AudienceKey = tuple[frozenset[str], tuple[tuple[str, "str | None"], ...]]


def audience_key(regions: frozenset[str], flt: BoardFilter) -> AudienceKey:
    """What decides the events a browser gets: its regions, and the filter key of each filtered one."""
    return regions, tuple((region, flt.key_for(region)) for region in sorted(regions & FILTERED_REGIONS))


class Audience:
    """The browsers that get the same events, and the log of flushes they read from."""

    def __init__(self, key: AudienceKey) -> None:
        self.key = key
        self.regions = key[0]
        self._keys = dict(key[1])
        self.clients: set[Client] = set()
        self._chunks: deque[Encoded] = deque()
        self.start = 0  # the index of the oldest flush still held
        self._bytes = 0
        self.wake = trio.Event()

    @property
    def head(self) -> int:
        """The index the next flush will get."""
        return self.start + len(self._chunks)

    def key_for(self, region: str) -> str | None:
        return self._keys.get(region)

    def wants(self, item: Emitted) -> bool:
        name = item.name.removeprefix("patch-")
        if item.key is not None and item.key != self._keys.get(name):
            return False
        return name in self.regions or name.startswith("out-") or name in ALWAYS_SENT

    def since(self, cursor: int) -> list[Encoded]:
        return list(itertools.islice(self._chunks, max(0, cursor - self.start), None))

    def append(self, chunk: Encoded) -> None:
        """Add a flush, drop what every reader took and what is past the bounds, wake the readers."""
        self._chunks.append(chunk)
        self._bytes += len(chunk.plain)
        taken = min((client.cursor for client in self.clients), default=self.head)
        while self._chunks and (self.start < taken or len(self._chunks) > LOG_CHUNKS
                                or (self._bytes > LOG_BYTES and len(self._chunks) > 1)):
            self._bytes -= len(self._chunks.popleft().plain)
            self.start += 1
        self.notify()

    def notify(self) -> None:
        self.wake.set()
        self.wake = trio.Event()


class Client:
    """One browser's stream: its filter, where it is in its audience's log, and what only it gets."""

    def __init__(self, flt: BoardFilter, regions: frozenset[str], tab: str = "") -> None:
        self._keys: dict[str, str | None] = {}
        self._flt = flt
        self.regions = regions
        self.tab = tab  # the page's own id: "show more" in that page pages this stream's lane
        self.audience: Audience | None = None
        self.cursor = 0  # the next flush of its audience's log to write
        self.own: list[Encoded] = []  # written before the log: what only this browser gets
        self._own_bytes = 0
        self._dropped = False  # its own events overflowed: it gets a resync

    @property
    def flt(self) -> BoardFilter:
        return self._flt

    @flt.setter
    def flt(self, flt: BoardFilter) -> None:
        self._flt = flt
        self._keys = {}

    def key_for(self, region: str) -> str | None:
        """The filter key of this browser's render of ``region``, worked out once per filter."""
        try:
            return self._keys[region]
        except KeyError:
            key = self._keys[region] = self._flt.key_for(region)
            return key

    @property
    def lagging(self) -> bool:
        """It fell off its log (or its own events overflowed): what it missed is gone, it needs a resync."""
        return self._dropped or (self.audience is not None and self.cursor < self.audience.start)

    def take(self) -> list[Encoded]:
        """What to write next (empty when it is up to date); check ``lagging`` first."""
        audience = self.audience
        if audience is None:
            return []
        chunks = audience.since(self.cursor) if self.cursor < audience.head else []
        self.cursor = audience.head
        if self.own:
            chunks = self.own + chunks
            self.own, self._own_bytes = [], 0
        return chunks

    def give(self, chunks: Iterable[Encoded]) -> None:
        """Queue events for this browser alone (bounded like a log: past it, a resync)."""
        for chunk in chunks:
            self.own.append(chunk)
            self._own_bytes += len(chunk.plain)
        if len(self.own) > LOG_CHUNKS or self._own_bytes > LOG_BYTES:
            self.fall_behind()

    def fall_behind(self) -> None:
        self.own, self._own_bytes, self._dropped = [], 0, True

    def restart(self) -> None:
        """Forget what it missed: it is given a resync and reads on from its log's head."""
        self.own, self._own_bytes, self._dropped = [], 0, False
        if self.audience is not None:
            self.cursor = self.audience.head


class Fanout:
    """Every connected browser, grouped into audiences; a flush is appended once per audience."""

    def __init__(self) -> None:
        self.audiences: dict[AudienceKey, Audience] = {}
        self.count = 0
        self.closed = False
        self.encoded = 0  # distinct flushes encoded so far (shared by every audience that got them)

    def __iter__(self) -> Iterator[Client]:
        for audience in tuple(self.audiences.values()):
            yield from tuple(audience.clients)

    def add(self, client: Client) -> None:
        """Join the audience of its regions and filter, at the log's head."""
        key = audience_key(client.regions, client.flt)
        audience = self.audiences.get(key)
        if audience is None:
            audience = self.audiences[key] = Audience(key)
        audience.clients.add(client)
        client.audience = audience
        client.cursor = audience.head
        self.count += 1

    def remove(self, client: Client) -> None:
        audience = client.audience
        if audience is None or client not in audience.clients:
            return
        audience.clients.discard(client)
        client.audience = None
        self.count -= 1
        if not audience.clients:
            del self.audiences[audience.key]
        audience.notify()  # a stream waiting on it (it moved) looks again

    def move(self, client: Client, flt: BoardFilter, own: Encoded) -> None:
        """A browser's filter changed: what it had not taken of its old log, then ``own``, then its
        new audience's log from now on (a stream waiting on the old log is woken by ``remove``)."""
        lagging = client.lagging
        old = client.audience
        pending = [] if lagging or old is None else old.since(client.cursor)
        self.remove(client)
        client.flt = flt
        self.add(client)
        if lagging:
            client.fall_behind()
        else:
            client.give((*pending, own))

    def publish(self, items: list[Emitted]) -> None:
        """One flush: each audience's share of it appended to its log (encoded once per distinct share)."""
        if not items:
            return
        shared: dict[tuple[Emitted, ...], Encoded] = {}
        for audience in tuple(self.audiences.values()):
            wanted = tuple(item for item in items if audience.wants(item))
            if not wanted:
                continue
            chunk = shared.get(wanted)
            if chunk is None:
                chunk = shared[wanted] = Encoded("".join(item.text for item in wanted).encode())
                self.encoded += 1
            audience.append(chunk)

    def keepalive(self, chunk: Encoded) -> None:
        for audience in tuple(self.audiences.values()):
            audience.append(chunk)

    def keys_of(self, region: str) -> set[str | None]:
        """The filter keys ``region`` is shown under by some browser now."""
        return {audience.key_for(region) for audience in self.audiences.values()}

    def shows(self, key: str | None, region: str) -> bool:
        """Some browser shows ``region`` (under filter key ``key``, unless that is None)."""
        return any(region in a.regions and (key is None or a.key_for(region) == key)
                   for a in self.audiences.values())

    def of_tab(self, tab: str, region: str) -> list[Client]:
        return [c for c in self if c.tab == tab and region in c.regions]

    def close(self) -> None:
        self.closed = True
        for audience in tuple(self.audiences.values()):
            audience.notify()


class Replay:
    """The last events (bounded in items and bytes), for browsers that reconnect with an id."""

    def __init__(self, size: int) -> None:
        self.items: deque[Emitted] = deque(maxlen=size)
        self.bytes = 0

    def keep(self, item: Emitted) -> None:
        if len(self.items) == self.items.maxlen:
            self.bytes -= self.items[0].size
        self.items.append(item)
        self.bytes += item.size
        while self.bytes > REPLAY_BYTES and len(self.items) > 1:
            self.bytes -= self.items.popleft().size

    def after(self, seq: int, last: int, wants: Callable[[Emitted], bool]) -> list[Emitted] | None:
        """The events after ``seq`` a browser wants; None when some of them are gone."""
        if seq < last and (not self.items or self.items[0].seq > seq + 1):
            return None
        return [item for item in self.items if item.seq > seq and wants(item)]


@attrs.frozen
class Paged:
    flt: BoardFilter  # the page's filter and lane lengths now
    seq: int  # the event that last changed them


class TabPaging:
    """What each page paged, by its id, so a stream that reconnects (the browser reuses the URL it
    first opened) gets the lanes the page shows; bounded, the oldest pages forgotten first."""

    def __init__(self, size: int = MAX_PAGED_TABS) -> None:
        self._paged: OrderedDict[str, Paged] = OrderedDict()
        self._size = size

    def get(self, tab: str) -> Paged | None:
        return self._paged.get(tab) if tab else None

    def remember(self, tab: str, flt: BoardFilter, seq: int) -> None:
        self._paged[tab] = Paged(flt, seq)
        self._paged.move_to_end(tab)
        while len(self._paged) > self._size:
            self._paged.popitem(last=False)


def seq_of(since: str | None) -> int:
    """The sequence number of a ``Last-Event-ID`` (-1 when it names none)."""
    raw = (since or "").rpartition("-")[2]
    return int(raw) if is_seq(raw) else -1


def is_seq(text: str) -> bool:
    """ASCII digits only, and few enough for ``int`` (``"²".isdigit()`` is True; 4,300 digits raise)."""
    return 0 < len(text) <= MAX_SEQ_DIGITS and text.isascii() and text.isdigit()


def format_event(event_id: str, name: str, data: str) -> str:
    lines = [f"id: {event_id}", f"event: {name}"]
    lines.extend(f"data: {line}" for line in data.replace("\r", "").split("\n"))
    return "\n".join(lines) + "\n\n"
