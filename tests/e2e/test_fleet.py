"""A fleet end to end: three real hubs on three boards, one real Redis, one real PostgreSQL, and the
``agentdeck fleet`` view over them (in-process, real Hypercorn). Agents are protocol-level clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio
from agent_client import AgentClient, accept_next, complete
from conftest import task_yaml, wait_until, write_task
from hub_process import HubProcess

from agentdeck.actors.fleet.service import Fleet
from agentdeck.actors.messages import BudgetThreshold
from agentdeck.web.fleet_app import create_fleet_app
from agentdeck.web.server import serve

HUBS = ("hub-a", "hub-b", "hub-c")


class RunningFleet:
    def __init__(self, fleet: Fleet, client: httpx.AsyncClient) -> None:
        self.fleet = fleet
        self.client = client

    async def snapshot(self) -> dict[str, Any]:
        return (await self.client.get("/api/fleet")).json()

    async def hubs(self) -> dict[str, dict[str, Any]]:
        return {h["hub"]: h for h in (await self.snapshot())["hubs"]}


@pytest.fixture
async def start_fleet() -> AsyncIterator[Any]:
    async with trio.open_nursery() as nursery:
        started: list[RunningFleet] = []

        async def start(broker: str, telemetry: str | None = None, **options: Any) -> RunningFleet:
            fleet = Fleet(broker, telemetry, stale_after=2.0, **options)
            await nursery.start(fleet.run)
            addresses = await nursery.start(serve, create_fleet_app(fleet), "127.0.0.1", 0, fleet.shutdown)
            running = RunningFleet(fleet, httpx.AsyncClient(base_url=addresses[0], timeout=5))
            started.append(running)
            return running

        yield start
        for running in started:
            running.fleet.stop()
            await running.client.aclose()
        nursery.cancel_scope.cancel()


async def start_three(start_hub, tmp_path: Path, redis_url: str, pg_url: str, **config: Any) -> list:
    hubs = []
    for name in HUBS:
        hubs.append(await start_hub(work_dir=tmp_path / name, hub_id=name, broker_url=redis_url,
                                    telemetry_url=pg_url, **config))
    return hubs


SONNET_INPUT_USD = 3e-6  # claude-sonnet-4-5 per input token up to 200k (the hub prices rows with genai-prices)


async def finish(hub, task_id: str | None, cost: float, agent: str = "worker") -> None:
    """Put a task on the hub's board (unless None: the next queued one) and have an agent finish it
    for ``cost`` USD worth of Claude Sonnet input tokens."""
    async with AgentClient.connect(hub.base_url, f"{agent}-{task_id}") as client:
        if task_id is not None:
            write_task(hub.board, f"inbox/{task_id}.yaml", task_yaml(id=task_id, title=f"task {task_id}"))
        assign = await accept_next(client)
        await complete(client, assign, model_used="claude-sonnet-4-5", tokens_in=round(cost / SONNET_INPUT_USD),
                       tokens_out=0, estimated_cost_usd=cost, execution_ms=900)


def invocation_count(pg_url: str) -> dict[str, int]:
    with psycopg.connect(pg_url) as conn:
        return dict(conn.execute("SELECT hub, count(*) FROM invocations GROUP BY hub").fetchall())


async def test_the_fleet_shows_three_hubs_with_live_counts_and_costs(
        start_hub, start_fleet, tmp_path, redis_server, pg_url) -> None:
    hubs = await start_three(start_hub, tmp_path, redis_server.url, pg_url)
    fleet = await start_fleet(redis_server.url, pg_url)
    for index, hub in enumerate(hubs):
        for n in range(index + 1):
            write_task(hub.board, f"inbox/q{n}.yaml", task_yaml(id=f"q{n}", title=f"queued {n}"))

    async def counts_shown() -> bool:
        shown = await fleet.hubs()
        return ({name: (h["status"], h["lanes"]["inbox"]) for name, h in shown.items()}
                == {"hub-a": ("up", 1), "hub-b": ("up", 2), "hub-c": ("up", 3)})

    await wait_until(counts_shown, timeout=10)
    assert (await fleet.snapshot())["lanes"]["inbox"] == 6
    await finish(hubs[1], None, 0.3)

    async def cost_shown() -> bool:
        snapshot = await fleet.snapshot()
        by_hub = {h["hub"]: h for h in snapshot["hubs"]}
        return (by_hub["hub-b"]["lanes"]["done"] == 1 and by_hub["hub-b"]["costs"]["today"] == pytest.approx(0.3)
                and snapshot["costs"]["today"] == pytest.approx(0.3) and snapshot["costs"]["source"] == "database")

    await wait_until(cost_shown, timeout=10)
    page = (await fleet.client.get("/")).text
    for name in HUBS:
        assert f'data-hub="{name}"' in page
        assert hubs[HUBS.index(name)].base_url + "/" in page  # a link into each hub's own dashboard
    feed = (await fleet.snapshot())["feed"]
    assert any(item["kind"] == "task.completed" and item["hub"] == "hub-b" for item in feed)


async def test_a_killed_hub_turns_unreachable_within_seconds_and_comes_back(
        start_hub, start_fleet, tmp_path, redis_server) -> None:
    await start_hub(work_dir=tmp_path / "hub-a", hub_id="hub-a", broker_url=redis_server.url)
    process = HubProcess(tmp_path / "hub-b", args=("--broker", redis_server.url, "--hub-id", "hub-b"))
    await trio.to_thread.run_sync(process.start)
    try:
        fleet = await start_fleet(redis_server.url)

        async def status() -> dict[str, str]:
            return {name: h["status"] for name, h in (await fleet.hubs()).items()}

        await wait_until(lambda: _is(status, {"hub-a": "up", "hub-b": "up"}), timeout=10)
        process.kill()  # no goodbye: the state key just stops changing
        killed_at = trio.current_time()
        await wait_until(lambda: _is(status, {"hub-a": "up", "hub-b": "unreachable"}), timeout=10)
        assert trio.current_time() - killed_at < 6  # stale after 2 s, plus a round or two
        await trio.to_thread.run_sync(process.start)
        await wait_until(lambda: _is(status, {"hub-a": "up", "hub-b": "up"}), timeout=15)
        process.stop()  # a clean stop says so
        await wait_until(lambda: _is(status, {"hub-a": "up", "hub-b": "stopped"}), timeout=10)
    finally:
        process.kill()


async def _is(status, expected: dict[str, str]) -> bool:
    return await status() == expected


async def _all_up(fleet: RunningFleet) -> bool:
    shown = await fleet.hubs()
    return len(shown) == 3 and all(h["status"] == "up" for h in shown.values())


async def test_a_fleet_budget_fires_once_when_the_hubs_together_cross_80_percent(
        start_hub, start_fleet, tmp_path, redis_server, pg_url) -> None:
    hubs = await start_three(start_hub, tmp_path, redis_server.url, pg_url)
    fleet = await start_fleet(redis_server.url, pg_url, budgets={"daily": 1.0})
    subscriptions = [hub.subscribe("budget-test", 0) for hub in hubs]
    await wait_until(lambda: _all_up(fleet), timeout=10)
    await finish(hubs[0], "t1", 0.3)
    await finish(hubs[1], "t2", 0.3)  # $0.60 of $1: no hub alone, nor all together, is at 80 %
    await trio.sleep(1.0)
    await finish(hubs[2], "t3", 0.24)  # $0.84 together: 84 %

    async def fleet_budget_shown() -> bool:
        budget = (await fleet.snapshot())["costs"]["budget"].get("daily") or {}
        return budget.get("level") == "warning" and budget.get("percent") == 84.0

    await wait_until(fleet_budget_shown, timeout=10)
    await trio.sleep(1.5)  # every hub has had several rounds to (not) raise it again
    raised = []
    for hub, subscription in zip(hubs, subscriptions, strict=True):
        while True:
            try:
                event = subscription.receive_nowait()
            except trio.WouldBlock:
                break
            if isinstance(event, BudgetThreshold):
                raised.append((hub.hub.config.hub_id, event.scope, event.period, event.level))
    assert [alert[1:] for alert in raised] == [("fleet", "daily", 80)], raised
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT scope, level FROM budget_alerts").fetchall() == [("fleet", 80)]
    feed = (await fleet.snapshot())["feed"]
    assert [item["text"] for item in feed if item["kind"] == "budget.threshold"] == [
        "fleet daily budget at 80 % ($0.84 of $1.00)"]


async def test_killing_redis_for_a_while_loses_no_row_and_the_view_recovers(
        start_hub, start_fleet, tmp_path, redis_server, pg_url) -> None:
    hubs = await start_three(start_hub, tmp_path, redis_server.url, pg_url)
    fleet = await start_fleet(redis_server.url, pg_url)
    await wait_until(lambda: _all_up(fleet), timeout=10)
    await finish(hubs[0], "before", 0.5)
    redis_server.kill()

    async def broker_down() -> bool:
        return not (await fleet.snapshot())["broker"]["connected"]

    await wait_until(broker_down, timeout=5)
    for hub in hubs:  # work goes on while the broker is away
        await finish(hub, "during", 0.25)

    async def hub_buffers() -> bool:  # the hub notices when its next publish fails, not before
        broker = (await hubs[0].client.get("/health")).json()["broker"]
        return broker["connected"] is False and broker["buffering"] is True and broker["pending_events"] > 0

    await wait_until(hub_buffers, timeout=5)
    await trio.sleep(10.0)  # the scenario of the issue: Redis away for 10 s
    redis_server.start()
    await wait_until(lambda: _all_up(fleet), timeout=15)
    assert invocation_count(pg_url) == {"hub-a": 2, "hub-b": 1, "hub-c": 1}

    async def caught_up() -> bool:
        snapshot = await fleet.snapshot()
        done = {h["hub"]: h["lanes"]["done"] for h in snapshot["hubs"]}
        during = [item for item in snapshot["feed"]
                  if item["kind"] == "task.completed" and item["task_id"] == "during"]
        return done == {"hub-a": 2, "hub-b": 1, "hub-c": 1} and len(during) == 3

    await wait_until(caught_up, timeout=10)  # the events buffered while Redis was down arrived
    health = (await hubs[0].client.get("/health")).json()
    assert health["broker"]["connected"] is True and health["broker"]["pending_events"] == 0


async def test_the_fleet_page_streams_changed_regions_and_escapes_what_hubs_send(
        start_hub, start_fleet, tmp_path, redis_server) -> None:
    hub = await start_hub(work_dir=tmp_path / "hub-a", hub_id="hub-a", broker_url=redis_server.url)
    fleet = await start_fleet(redis_server.url)
    seen: list[str] = []
    async with fleet.client.stream("GET", "/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        with trio.fail_after(15):
            async for line in lines:
                seen.append(line)
                if 'data-hub="hub-a"' in line and 'data-status="up"' in line:
                    break
            seen.clear()
            write_task(hub.board, "inbox/x.yaml", task_yaml(id="x", title="<script>alert(1)</script>"))
            async for line in lines:
                seen.append(line)
                if "&lt;script&gt;alert(1)&lt;/script&gt;" in line:
                    break
        await lines.aclose()
    assert "<script>alert(1)" not in "\n".join(seen)
    assert any(line == "event: feed" for line in seen)
    page = await fleet.client.get("/", headers={"Host": "evil.example"})
    assert page.status_code == 421
    assert (await fleet.client.post("/")).status_code == 405


def test_agentdeck_fleet_from_the_command_line(tmp_path, redis_server, pg_url, free_port) -> None:
    import subprocess
    import sys
    import time

    from hub_process import REPO, _child_env

    command = [sys.executable, "-m", "agentdeck.web.cli", "fleet", "--broker", redis_server.url,
               "--telemetry-db", pg_url, "--budget-daily", "5", "--port", str(free_port)]
    log = tmp_path / "fleet.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=_child_env(None))
    try:
        deadline = time.monotonic() + 20
        while "fleet view at" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.05)
        base = f"http://127.0.0.1:{free_port}"
        deadline = time.monotonic() + 10
        while True:
            snapshot = httpx.get(base + "/api/fleet").json()
            ready = snapshot["costs"]["source"] == "database" and snapshot["broker"]["connected"]
            if ready or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert snapshot["broker"]["connected"] is True
        assert snapshot["costs"]["source"] == "database"
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT period, budget_usd FROM fleet_budgets").fetchall() == [("daily", 5.0)]
        assert httpx.get(base + "/health").json()["status"] == "ok"
    finally:
        process.terminate()
        assert process.wait(10) == 0, log.read_text()
    for bad in (["--budget-daily", "5"], ["--telemetry-db", "/tmp/x.db"], ["--broker", "http://x"]):
        args = ["--broker", redis_server.url, *bad] if bad[0] != "--broker" else bad
        result = subprocess.run([sys.executable, "-m", "agentdeck.web.cli", "fleet", *args], cwd=REPO,
                                env=_child_env(None), capture_output=True, timeout=30)
        assert result.returncode == 2, (bad, result.stderr)


async def test_live_output_is_published_only_when_asked_and_bounded(start_hub, tmp_path, redis_server) -> None:
    import json

    import redis

    from agentdeck.actors.fleet import wire
    from agentdeck.actors.messages import ExecutionEvent

    quiet = await start_hub(work_dir=tmp_path / "quiet", hub_id="quiet", broker_url=redis_server.url)
    chatty = await start_hub(work_dir=tmp_path / "chatty", hub_id="chatty", broker_url=redis_server.url,
                             publish_output=True)
    for hub in (quiet, chatty):
        for n in range(100):
            hub.bus.publish(ExecutionEvent(task_id="t", agent_id="a", generation=1, event_type="stdout",
                                           text=f"line {n} " + "x" * 1000))
    client = redis.Redis.from_url(redis_server.url)

    def output_lines(hub: str) -> list[dict]:
        entries = [json.loads(fields[b"e"]) for _, fields in client.xrange(wire.events_key(hub))]
        return [entry for entry in entries if entry["kind"] == "execution_event"]

    await wait_until(lambda: len(output_lines("chatty")) == 20, timeout=10)
    await trio.sleep(0.5)
    lines = output_lines("chatty")
    assert len(lines) == 20 and all(len(line["text"]) <= wire.MAX_TEXT for line in lines)
    assert output_lines("quiet") == []
    health = (await chatty.client.get("/health")).json()
    assert health["broker"]["output_skipped"] == 80
