"""The gate in front of every route (issue 12 items 1, 2, 11, 23, 24): DNS rebinding refused by Host,
compressed WebSocket frames bounded, the dashboard session off loopback, security headers, and
redirects that never echo the Host header."""

from __future__ import annotations

import json
import tracemalloc

import httpx
import pytest
import trio
from conftest import task_yaml, write_task
from raw_ws import RawSocket, deflate_bomb

from agentdeck.web.guard import HostPolicy, relative_location, split_host

EVIL = "evil.test"


def _port(hub) -> int:
    return int(hub.base_url.rsplit(":", 1)[1])


HTTP_ROUTES = [("GET", "/"), ("GET", "/graph"), ("GET", "/api/tasks"), ("GET", "/api/agents"),
               ("GET", "/api/dashboard/state"), ("GET", "/tasks/t1"), ("GET", "/export/tasks.csv"),
               ("GET", "/metrics"), ("GET", "/health"), ("GET", "/static/app.js"),
               ("POST", "/tasks/t1/retry"), ("GET", "/events")]


async def test_a_rebound_host_name_can_neither_read_nor_act(running_hub, board_dir):
    write_task(board_dir, "dead/t1.yaml", task_yaml(id="t1", title="secret", description="hunter2"))
    port = _port(running_hub)
    evil = {"Host": f"{EVIL}:{port}", "Origin": f"http://{EVIL}:{port}"}
    async with httpx.AsyncClient(base_url=running_hub.base_url, timeout=5) as client:
        for method, path in HTTP_ROUTES:
            response = await client.request(method, path, headers=evil)
            assert response.status_code == 421, (method, path, response.status_code)
            assert "hunter2" not in response.text and "secret" not in response.text
    for path in ("/ws", "/ws/dashboard"):
        sock = await RawSocket.connect(port, path, host=f"{EVIL}:{port}", origin=f"http://{EVIL}:{port}")
        assert sock.status == 421, path
        await sock.aclose()
    # the hub's own names still work, on every route kind
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST.:{port}"):
        ok = await running_hub.client.get("/api/tasks", headers={"Host": host})
        assert ok.status_code == 200, host
    sock = await RawSocket.connect(port, "/ws", host=f"localhost:{port}")
    assert sock.status == 101
    await sock.aclose()


async def test_allowed_hosts_are_served_and_other_ports_are_not(start_hub):
    hub = await start_hub(allowed_hosts=("deck.example.lan",))
    port = _port(hub)
    assert (await hub.client.get("/health", headers={"Host": f"deck.example.lan:{port}"})).status_code == 200
    assert (await hub.client.get("/health", headers={"Host": f"127.0.0.1:{port + 1}"})).status_code == 421
    assert (await hub.client.get("/health", headers={"Host": "127.0.0.1:x"})).status_code == 421


@pytest.mark.parametrize(("header", "allowed"), [
    ("localhost", True), ("127.0.0.1:8080", True), ("[::1]:8080", True), ("127.9.9.9", True),
    ("evil.test", False), ("evil.test:8080", False), ("localhost:8081", False), ("", False),
    ("localhost.evil.test", False), ("[::1", False), ("10.0.0.5:8080", False), ("0.0.0.0", False)])
def test_host_policy_for_a_loopback_bind(header, allowed):
    assert HostPolicy.for_bind("127.0.0.1").allows(header, 8080) is allowed


def test_host_policy_off_loopback():
    policy = HostPolicy.for_bind("0.0.0.0", ["deck.lan"])
    assert policy.allows("10.0.0.5:8080", 8080) and policy.allows("deck.lan", 8080)
    assert not policy.allows("evil.test:8080", 8080)
    assert split_host("[::1]:80") == ("::1", 80) and split_host("a:99999999") is None


async def test_responses_carry_the_security_headers(running_hub):
    for path in ("/", "/api/tasks", "/static/app.js", "/nope"):
        response = await running_hub.client.get(path)
        headers = response.headers
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    page = (await running_hub.client.get("/")).text
    assert "<script>" not in page  # no inline script: the policy allows none


async def test_redirects_never_reflect_the_host_header(running_hub):
    response = await running_hub.client.get("/api//tasks", headers={"Host": f"localhost:{_port(running_hub)}"})
    assert response.status_code == 308 and response.headers["location"] == "/api/tasks"
    assert relative_location(b"http://evil.test:1/static/") == b"/static/"
    assert relative_location(b"https://a//evil.test/x") == b"/evil.test/x"
    assert relative_location(b"/ok") == b"/ok"


async def test_a_hub_with_a_dashboard_token_asks_browsers_to_log_in(start_hub):
    hub = await start_hub(dashboard_token="s3cret-token")
    client = hub.client
    for path in ("/", "/api/tasks", "/events", "/export/tasks.csv", "/metrics"):
        assert (await client.get(path)).status_code == 401, path
    sock = await RawSocket.connect(_port(hub), "/ws/dashboard")
    assert sock.status == 401
    await sock.aclose()
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/?token=wrong")).status_code == 401
    login = await client.get("/?token=s3cret-token&agent=a1")
    assert login.status_code == 303 and login.headers["location"] == "/?agent=a1"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = cookie.split(";")[0]
    assert "s3cret-token" not in session
    assert (await client.get("/api/tasks", headers={"Cookie": session})).status_code == 200
    assert (await client.get("/api/tasks", headers={"Authorization": "Bearer s3cret-token"})).status_code == 200
    # agents still connect on /ws (they have their own tokens)
    agent = await RawSocket.connect(_port(hub), "/ws")
    assert agent.status == 101
    await agent.aclose()


async def test_a_compressed_frame_never_inflates_past_the_message_limit(running_hub):
    """One frame of 128 KiB that inflates to 128 MiB, before identify: the connection ends (Hypercorn
    drops it on the extension's 1009 without a close frame) and the hub never holds more than a few
    MiB for it (the old path inflated it whole first)."""
    bomb = deflate_bomb(128 * 1024 * 1024)
    assert len(bomb) < 256 * 1024
    sock = await RawSocket.connect(_port(running_hub), "/ws", deflate=True)
    assert sock.status == 101 and "permessage-deflate" in sock.headers.get("sec-websocket-extensions", "")
    tracemalloc.start()
    try:
        await sock.send_frame(bomb, compressed=True)
        code = await sock.close_code()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    await sock.aclose()
    assert code in (None, 1009)
    assert peak < 24 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB traced while inflating"
    assert (await running_hub.client.get("/health")).status_code == 200


async def test_compressed_frames_within_the_limit_still_work(running_hub):
    import zlib

    sock = await RawSocket.connect(_port(running_hub), "/ws", deflate=True)
    text = json.dumps({"type": "identify", "agent_id": "zip", "token": None, "name": "z" * 200})
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
    await sock.send_frame(payload[:-4], compressed=True)
    with trio.fail_after(5):
        _, data = await sock.receive_frame()
    reply = zlib.decompressobj(-15).decompress(data + b"\x00\x00\xff\xff") if data[:1] != b"{" else data
    assert json.loads(reply)["type"] == "identified"
    await sock.aclose()
