"""Shared test fixtures: a real hub on real temp directories, and helpers to drive its board.

Fixtures
- ``work_dir`` / ``board_dir``: an empty work directory and its ``collaboration/`` board (created).
  Write files there BEFORE starting a hub to test the start-up scan.
- ``start_hub``: ``await start_hub(**config_overrides)`` starts a real hub (actors + Hypercorn on
  127.0.0.1, a free port) on ``work_dir`` and returns a ``RunningHub``; every hub it started is
  stopped at teardown.
- ``running_hub``: one ``RunningHub`` already started on an empty board.

Helpers (plain functions; ``from conftest import write_task, wait_for_event, ...``)
- ``task_yaml(**fields)`` -> YAML text; ``write_task(board, relpath, content)`` writes in place;
  ``atomic_write_task(board, relpath, content)`` writes a temp file and renames it over the target,
  as editors and agents do; ``move_task(board, src, dst)`` renames within the board.
- ``await wait_for_event(subscription, predicate_or_kind, timeout=...)`` -> the first matching
  bus event (fails with the list of events seen otherwise).
- ``await wait_until(condition, timeout=...)`` polls a sync or async condition until truthy.
"""

from __future__ import annotations

import inspect
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
import yaml

from agentdeck.actors.board.taskfile import parse_task
from agentdeck.actors.bus import Subscription
from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.actors.messages import Event, Task
from agentdeck.web.server import run_hub

DEFAULT_TIMEOUT = 5.0
REPO = Path(__file__).resolve().parent.parent  # the checkout: the demo board, `python -m` from here
pytest_plugins = ("services",)  # pg_cluster, pg_url, redis_server: real servers for the fleet tests


@attrs.define
class RunningHub:
    """A hub serving on a free port, with an HTTP client already pointed at it."""

    hub: Hub
    base_url: str
    board: Path
    client: httpx.AsyncClient

    @property
    def bus(self):
        return self.hub.bus

    def subscribe(self, name: str = "test", buffer: int | None = None) -> Subscription:
        return self.hub.bus.subscribe(name, buffer)


# ---------------------------------------------------------------------------------- fixtures


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def board_dir(work_dir: Path) -> Path:
    path = work_dir / "collaboration"
    for lane in ("inbox", "assigned", "done", "dead"):
        (path / lane).mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def start_hub(work_dir: Path, board_dir: Path) -> AsyncIterator[Callable[..., Awaitable[RunningHub]]]:
    started: list[RunningHub] = []
    async with trio.open_nursery() as nursery:

        async def start(**overrides: Any) -> RunningHub:
            # retries at once unless a test asks for a backoff (test_waiting.py does)
            settings: dict[str, Any] = {"work_dir": work_dir, "port": 0, "fsync": False,
                                        "retry_backoff": 0.0}
            settings.update(overrides)
            hub = Hub(HubConfig(**settings))
            addresses = await nursery.start(run_hub, hub)
            base_url = next(a for a in addresses if a.startswith("http://"))
            client = httpx.AsyncClient(base_url=base_url, timeout=DEFAULT_TIMEOUT)
            running = RunningHub(hub=hub, base_url=base_url, board=hub.config.board_dir, client=client)
            started.append(running)
            return running

        try:
            yield start
        finally:
            for running in started:
                await running.client.aclose()
                running.hub.stop()
            nursery.cancel_scope.deadline = trio.current_time() + DEFAULT_TIMEOUT


@pytest.fixture
async def running_hub(start_hub: Callable[..., Awaitable[RunningHub]]) -> RunningHub:
    return await start_hub()


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for subprocesses that need a number)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------- board files


def task_yaml(**fields: Any) -> str:
    return yaml.safe_dump(fields, sort_keys=False, allow_unicode=True)


def _content(content: str | bytes | dict[str, Any]) -> bytes:
    if isinstance(content, dict):
        content = task_yaml(**content)
    return content.encode("utf-8") if isinstance(content, str) else content


def write_task(board: Path, relpath: str, content: str | bytes | dict[str, Any]) -> Path:
    """Write (create or overwrite in place) one file under the board; parents are created."""
    path = board / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_content(content))
    return path


def atomic_write_task(board: Path, relpath: str, content: str | bytes | dict[str, Any]) -> Path:
    """Write a hidden temp file beside the target, then rename it over the target (atomic save)."""
    path = board / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    tmp.write_bytes(_content(content))
    os.replace(tmp, path)
    return path


def move_task(board: Path, src: str, dst: str) -> Path:
    target = board / dst
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(board / src, target)
    return target


# ---------------------------------------------------------------------------------- waiting


def _matcher(match: str | type | Callable[[Event], bool]) -> Callable[[Event], bool]:
    if isinstance(match, str):
        return lambda event: event.kind == match
    if isinstance(match, type):
        return lambda event: isinstance(event, match)
    return match


async def wait_for_event(sub: Subscription, match: str | type | Callable[[Event], bool],
                         timeout: float = DEFAULT_TIMEOUT) -> Event:
    """The first event on ``sub`` matching a kind (``"task.created"``), a class, or a predicate."""
    accept = _matcher(match)
    seen: list[str] = []
    with trio.move_on_after(timeout):
        async for event in sub:
            if accept(event):
                return event
            seen.append(event.kind)
    pytest.fail(f"no matching event within {timeout} s; saw {seen}")


async def collect_events(sub: Subscription, quiet: float = 0.3, timeout: float = DEFAULT_TIMEOUT) -> list[Event]:
    """Every event on ``sub`` until none arrived for ``quiet`` seconds (or ``timeout`` overall)."""
    events: list[Event] = []
    with trio.move_on_after(timeout):
        while True:
            with trio.move_on_after(quiet) as idle:
                events.append(await sub.receive())
            if idle.cancelled_caught:
                break
    return events


async def wait_until(condition: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT,
                     interval: float = 0.01, message: str = "") -> Any:
    """Poll ``condition`` (sync or async) until it returns something truthy; returns that."""
    with trio.move_on_after(timeout):
        while True:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            await trio.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s {message}".strip())


LANE_DIRS = {"inbox": "inbox", "dead": "dead", "assigned": "assigned/a1", "done": "done/a1"}


def make_task(task_id: str, lane: str = "inbox", **fields: Any) -> Task:
    """A parsed task as the board would hold it (in ``lane``; assigned and done ones to agent a1)."""
    body = {"id": task_id, "title": f"Task {task_id}", **fields}
    return parse_task(f"{LANE_DIRS[lane]}/{task_id}.yaml", yaml.safe_dump(body).encode(), time.time())


def board_files(board: Path) -> dict[str, dict[str, Any]]:
    """Every task file on the board: relative path -> its YAML fields."""
    return {p.relative_to(board).as_posix(): yaml.safe_load(p.read_text())
            for p in sorted(board.rglob("*.y*ml"))}
