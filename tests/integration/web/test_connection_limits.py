"""Live connections under attack (issue 12 items 3, 6, 10, 14, 17, 18, 20): memory bounded in bytes,
malformed stream ids, revoked tokens, caps and deadlines, takeovers, and the dashboard socket."""

from __future__ import annotations

import json
import sys
from urllib.parse import quote

import httpx
import trio
from agent_client import AgentClient, accept_next
from conftest import task_yaml, wait_until, write_task
from raw_ws import RawSocket
from trio_websocket import open_websocket_url

from agentdeck.actors.protocol.auth import TokenStore
from agentdeck.web.live.broadcaster import Broadcaster
from agentdeck.web.live.clients import LOG_BYTES, REPLAY_BYTES, Client
from agentdeck.web.live.regions import MAIN_REGIONS, BoardFilter


def _held(items) -> int:
    return sum(sys.getsizeof(item.text) + sys.getsizeof(item.data) for item in items)


def test_the_replay_buffer_and_a_silent_browsers_log_are_bounded_in_bytes():
    """80 outputs of ~1 MB of '&' (5 MB escaped each): the old buffer kept them all (~800 MB)."""
    broadcaster = Broadcaster(hub=None, renderer=None)
    silent = Client(BoardFilter(), frozenset(MAIN_REGIONS))
    broadcaster.fanout.add(silent)
    chunk = "&amp;" * 200_000
    for index in range(80):
        broadcaster._emit(None, f"out-{index:012x}", chunk)
    assert _held(broadcaster.replay.items) <= REPLAY_BYTES + 2 * sys.getsizeof(chunk) + 4096
    assert silent.audience is not None
    assert sum(len(c.plain) for c in silent.audience.since(0)) <= LOG_BYTES + 2 * len(chunk)
    assert silent.lagging
    assert len(broadcaster.replay.items) >= 2  # still a replay of the latest events


async def test_malformed_last_event_ids_never_leak_a_stream(running_hub):
    page = await running_hub.client.get("/")
    since = page.text.split("since=", 1)[1].split('"', 1)[0].split("&", 1)[0]
    epoch = since.split("-", 1)[0]
    for bad in (f"{epoch}-²", f"{epoch}-" + "9" * 4400, f"{epoch}-١٢", f"{epoch}--1", "x" * 5000):
        for headers, url in (({"Last-Event-ID": bad.encode()}, "/events"), ({}, "/events?since=" + quote(bad))):
            async with running_hub.client.stream("GET", url, headers=headers,
                                                 timeout=httpx.Timeout(5.0, read=5.0)) as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        break  # a resync arrived: the stream works

    async def streams_closed() -> bool:
        metrics = (await running_hub.client.get("/metrics")).text
        return 'agentdeck_stream_clients{transport="sse"} 0.0' in metrics

    await wait_until(streams_closed, timeout=5)
    assert running_hub.hub.stream_clients.count("sse") == 0


async def test_a_revoked_token_ends_the_live_session(start_hub, work_dir, board_dir):
    store = TokenStore.in_state_dir(work_dir / ".agentdeck")
    token = store.add("alice")
    hub = await start_hub()
    async with AgentClient.connect(hub.base_url, "alice", token=token) as agent:
        store.revoke("alice")
        assert await agent.expect_close(timeout=5) == 1008
    write_task(board_dir, "inbox/t.yaml", task_yaml(id="t1", title="after revoke"))
    await trio.sleep(0.3)
    task = (await hub.client.get("/api/tasks/t1")).json()
    assert task["lane"] == "inbox"  # nobody got it


async def test_sockets_that_never_identify_are_closed_and_capped(start_hub):
    hub = await start_hub(identify_timeout=0.3, max_agent_connections=3)
    port = int(hub.base_url.rsplit(":", 1)[1])
    idle = [await RawSocket.connect(port, "/ws") for _ in range(3)]
    assert all(s.status == 101 for s in idle)
    refused = await RawSocket.connect(port, "/ws")
    assert refused.status == 503
    await refused.aclose()
    for sock in idle:
        assert await sock.close_code(timeout=3) == 1008  # identify timeout
        await sock.aclose()
    await wait_until(lambda: hub.hub.sessions.open_count == 0, timeout=3)
    async with AgentClient.connect(hub.base_url, "late-but-fine") as agent:
        await trio.sleep(0.5)  # past the identify deadline: identified, so it stays
        await agent.send("ping")
        await agent.expect("pong")


async def test_live_connections_are_capped(start_hub):
    hub = await start_hub(max_stream_clients=1)
    async with hub.client.stream("GET", "/events", timeout=httpx.Timeout(5.0, read=5.0)) as first:
        assert first.status_code == 200
        second = await hub.client.get("/events")
        assert second.status_code == 503
        sock = await RawSocket.connect(int(hub.base_url.rsplit(":", 1)[1]), "/ws/dashboard")
        assert sock.status == 503
        await sock.aclose()


async def test_report_keys_beyond_the_schema_are_not_kept(running_hub):
    async with AgentClient.connect(running_hub.base_url, "r1") as agent:
        junk = {f"junk_{i}": "x" * 1000 for i in range(200)}
        rams = {f"ram_{i}": i for i in range(100)}
        await agent.send("resource_report", cpu_percent=5.0, **junk, **rams)
        await agent.send("ping")
        await agent.expect("pong")
        agents = (await running_hub.client.get("/api/agents")).json()["agents"]
    resources = next(a for a in agents if a["agent_id"] == "r1")["resources"]
    assert "cpu_percent" in resources and not any(k.startswith("junk") for k in resources)
    assert len(resources) <= 17


async def test_without_tokens_a_live_agent_cannot_be_taken_over(running_hub, board_dir):
    async with AgentClient.connect(running_hub.base_url, "real") as real:
        async with AgentClient.connect(running_hub.base_url, identify=False) as impostor:
            await impostor.send("identify", agent_id="real", token=None)
            error = await impostor.receive()
            assert error["error"] == "agent_id_in_use"
            assert await impostor.expect_close() == 1008
        write_task(board_dir, "inbox/t.yaml", task_yaml(id="t1", title="for the real one"))
        assign = await accept_next(real)
        assert assign["task_id"] == "t1"
    # once the real agent is gone, its id is free again
    async with AgentClient.connect(running_hub.base_url, "real") as back:
        await back.send("ping")
        await back.expect("pong")


async def test_the_dashboard_socket_survives_nesting_and_limits_its_rate(running_hub):
    url = running_hub.base_url.replace("http://", "ws://") + "/ws/dashboard"
    async with open_websocket_url(url, max_message_size=64 * 1024 * 1024) as ws:
        assert json.loads(await ws.get_message())["type"] == "snapshot"
        await ws.send_message("[" * 100_000 + "]" * 100_000)
        await ws.send_message(json.dumps({"type": "retry_task", "task_id": "nope"}))
        with trio.fail_after(5):
            while json.loads(await ws.get_message())["type"] != "retry_result":
                pass
    sock = await RawSocket.connect(int(running_hub.base_url.rsplit(":", 1)[1]), "/ws/dashboard")
    await sock.receive_frame()  # the first snapshot
    for _ in range(100):
        await sock.send_text('{"type": "request_snapshot"}')
    snapshots = 0
    with trio.fail_after(20):
        while True:
            opcode, payload = await sock.receive_frame()
            if opcode == 8:
                assert int.from_bytes(payload[:2], "big") == 1008
                break
            snapshots += json.loads(payload)["type"] == "snapshot"
    await sock.aclose()
    assert snapshots <= 40
    assert (await running_hub.client.get("/health")).json()["status"] == "ok"
