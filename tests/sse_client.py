"""A reader of ``GET /events`` for tests: the stream parsed into events, read by a task of its own.

``async with open_stream(client) as stream``; ``await stream.initial()`` waits for every region's
first fragment, ``await stream.until(predicate)`` for the next matching event.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import attrs
import httpx
import trio

from agentdeck.web.live.regions import MAIN_REGIONS


def lane(event: SSE, name: str) -> bool:
    """A whole-lane swap or a patch of that lane's cards."""
    return event.name in (f"lane-{name}", f"patch-lane-{name}")


@attrs.define
class SSE:
    id: str | None
    name: str
    data: str


class Stream:
    """One /events response as parsed events; a reader task keeps parsing while the test waits."""

    def __init__(self, receive: trio.MemoryReceiveChannel) -> None:
        self._receive = receive
        self.seen: list[SSE] = []

    async def next(self, timeout: float = 5.0) -> SSE:
        with trio.fail_after(timeout):
            try:
                event = await self._receive.receive()
            except trio.EndOfChannel:
                raise EOFError("stream ended") from None
        self.seen.append(event)
        return event

    async def until(self, predicate, timeout: float = 5.0, *, seen: bool = False) -> SSE:
        """The next event matching ``predicate`` (or, with ``seen``, one already read)."""
        if seen:
            for event in self.seen:
                if predicate(event):
                    return event
        with trio.fail_after(timeout):
            while True:
                event = await self.next(timeout)
                if predicate(event):
                    return event

    async def initial(self, regions=MAIN_REGIONS, timeout: float = 5.0) -> dict[str, SSE]:
        got: dict[str, SSE] = {}
        with trio.fail_after(timeout):
            while not set(regions) <= set(got):
                event = await self.next(timeout)
                got[event.name] = event
        return got

    async def quiet(self, seconds: float) -> list[SSE]:
        events = []
        with trio.move_on_after(seconds):
            while True:
                events.append(await self.next(seconds + 1))
        return events


async def _parse(lines: AsyncIterator[str], send: trio.MemorySendChannel) -> None:
    fields: dict[str, list[str]] = {}
    async with send:
        async for line in lines:
            if line == "":
                if "event" in fields:
                    await send.send(SSE(fields.get("id", [None])[0], fields["event"][0],
                                        "\n".join(fields.get("data", []))))
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)


@contextlib.asynccontextmanager
async def open_stream(client: httpx.AsyncClient, url: str = "/events", headers=None) -> AsyncIterator[Stream]:
    async with client.stream("GET", url, headers=headers or {}, timeout=httpx.Timeout(5.0, read=10.0)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        send, receive = trio.open_memory_channel[SSE](10_000)
        async with trio.open_nursery() as nursery:
            async def read() -> None:
                with contextlib.suppress(httpx.ReadError, httpx.RemoteProtocolError):
                    async with contextlib.aclosing(response.aiter_lines()) as lines:
                        await _parse(lines, send)

            nursery.start_soon(read)
            yield Stream(receive)
            nursery.cancel_scope.cancel()
