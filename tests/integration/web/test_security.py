"""Security: tokens (wrong, missing, revoked, someone else's), secrets that never reach a log line or
a response, cross-site requests refused on every state-changing route and socket, paths that never
leave the board, and hostile text that always renders as text.
"""

from __future__ import annotations

import contextlib
import logging
import stat

import markupsafe
import pytest
import trio
from agent_client import AgentClient, accept_next, ws_url
from conftest import task_yaml, wait_until, write_task
from trio_websocket import HandshakeError, open_websocket_url

from agentdeck.actors.protocol.auth import TokenStore
from agentdeck.web.app import create_app

EVIL_ORIGIN = "http://evil.example"


@pytest.fixture
def tokens(work_dir) -> dict[str, str]:
    store = TokenStore.in_state_dir(work_dir / ".agentdeck")
    return {"alice": store.add("alice"), "bob": store.add("bob"), "carol": store.add("carol")}


async def _identify(base_url: str, agent_id: str, token: str | None) -> tuple[list[dict], int | None]:
    async with AgentClient.connect(base_url, identify=False) as client:
        await client.send("identify", agent_id=agent_id, token=token)
        first = await client.receive()
        if first["type"] == "identified":
            await client.send("ping")
            await client.expect("pong")
            return [first], None
        return [first], await client.expect_close()


async def test_tokens_wrong_missing_revoked_or_another_agents_are_refused(start_hub, work_dir, tokens):
    hub = await start_hub()
    TokenStore.in_state_dir(work_dir / ".agentdeck").revoke("carol")  # while the hub runs
    cases = [("alice", tokens["alice"], "identified"), ("alice", None, "invalid_token"),
             ("alice", "", "invalid_token"), ("alice", tokens["alice"] + "x", "invalid_token"),
             ("alice", tokens["bob"], "token_agent_mismatch"), ("carol", tokens["carol"], "invalid_token"),
             ("mallory", tokens["alice"], "token_agent_mismatch"), ("mallory", "guess", "invalid_token")]
    for agent_id, token, expected in cases:
        frames, code = await _identify(hub.base_url, agent_id, token)
        got = frames[0]["type"] if frames[0]["type"] == "identified" else frames[0]["error"]
        assert got == expected, (agent_id, expected)
        assert code == (None if expected == "identified" else 1008)
    agents = (await hub.client.get("/api/agents")).json()
    listed = agents if isinstance(agents, list) else agents.get("agents", [])
    assert {a["agent_id"] for a in listed} <= {"alice"}  # nobody refused was ever registered


def test_tokens_are_stored_only_as_hashes(work_dir, tokens):
    path = work_dir / ".agentdeck" / "tokens.json"
    text = path.read_text()
    assert all(token not in text for token in tokens.values())
    assert text.count("sha256:") == len(tokens)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _concrete(rule: str, task_id: str) -> str:
    return (rule.replace("<path:task_id>", task_id).replace("<part>", "info")
            .replace("<path:filename>", "htmx.min.js"))


async def test_no_token_in_any_log_line_or_response(start_hub, work_dir, board_dir, tokens, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    hub = await start_hub()
    for agent_id, token in [("alice", tokens["alice"]), ("alice", tokens["bob"]),
                            ("bob", tokens["alice"] + "zz")]:
        await _identify(hub.base_url, agent_id, token)
    async with AgentClient.connect(hub.base_url, "bob", token=tokens["bob"]) as agent:
        write_task(board_dir, "inbox/job.yaml", task_yaml(title="job", shell_command="true"))
        await accept_next(agent)
        bodies: list[str] = []
        for rule in create_app(hub.hub).url_map.iter_rules():
            if "GET" not in rule.methods or getattr(rule, "websocket", False) or rule.rule == "/events":
                continue
            response = await hub.client.get(_concrete(rule.rule, "job"))
            assert response.status_code < 500, rule.rule
            bodies.append(response.text)
        async with hub.client.stream("GET", "/events") as response:
            async with contextlib.aclosing(response.aiter_text()) as chunks:
                bodies.append(await chunks.__anext__())
    seen = "\n".join(bodies) + "\n".join(r.getMessage() for r in caplog.records)
    seen += "".join(capfd.readouterr())
    assert len(bodies) > 10 and "job" in seen
    for token in tokens.values():
        assert token not in seen and token[:16] not in seen


async def _dead_task(hub, board_dir) -> None:
    write_task(board_dir, "dead/gone.yaml", task_yaml(title="gone", status="dead"))

    async def listed():
        return (await hub.client.get("/api/tasks")).json()["dead"]

    await wait_until(listed)


async def test_every_state_changing_route_refuses_cross_site_requests(running_hub, board_dir):
    hub = running_hub
    await _dead_task(hub, board_dir)
    page = await hub.client.get("/")
    token = page.cookies.get("agentdeck_csrf")
    assert token and token in page.text
    changing = [r.rule for r in create_app(hub.hub).url_map.iter_rules()
                if set(r.methods) & {"POST", "PUT", "PATCH", "DELETE"}]
    assert changing, "no state-changing route found"
    own = {"X-CSRF-Token": token, "Origin": hub.base_url}
    hostile = [{"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": token},
               {"Origin": EVIL_ORIGIN, "X-CSRF-Token": token},
               {"Sec-Fetch-Site": "same-site", "X-CSRF-Token": token},
               {"Origin": hub.base_url},  # no token
               {"Origin": hub.base_url, "X-CSRF-Token": "forged"}]
    for rule in changing:
        url = _concrete(rule, "gone")
        before = (await hub.client.get("/api/tasks")).json()["dead"]
        for headers in hostile:
            response = await hub.client.post(url, headers=headers)
            assert response.status_code == 403, (rule, headers)
        assert (await hub.client.get("/api/tasks")).json()["dead"] == before, "a refused request changed state"
        response = await hub.client.post(url, headers=own)
        assert response.status_code != 403, rule
        if rule.endswith("/retry"):
            assert response.status_code == 200  # the genuine retry worked


@pytest.mark.parametrize("path", ["/ws", "/ws/dashboard"])
async def test_sockets_refuse_other_origins(running_hub, path):
    url = ws_url(running_hub.base_url).replace("/ws", path)
    with pytest.raises(HandshakeError):
        async with open_websocket_url(url, extra_headers=[("Origin", EVIL_ORIGIN)]):
            pass
    async with open_websocket_url(url, extra_headers=[("Origin", running_hub.base_url)]):
        pass  # the page's own origin (and agents, which send none) are welcome


@pytest.mark.parametrize("path", ["/static/../pyproject.toml", "/static/..%2F..%2Fpyproject.toml",
                                  "/static/%2e%2e/%2e%2e/pyproject.toml", "/api/tasks/..%2F..%2Fetc%2Fpasswd",
                                  "/tasks/../../etc/passwd", "/static//etc/passwd",
                                  "/export/..%2Fpyproject.toml"])
async def test_http_paths_never_leave_the_app(running_hub, path):
    response = await running_hub.client.get(path, follow_redirects=True)
    assert response.status_code in (400, 404), response.status_code
    assert str(response.url).startswith(running_hub.base_url)
    assert "[project]" not in response.text and "root:" not in response.text


PAYLOADS = ['<script>alert("t")</script>', '<img src=x onerror=alert(1)>', '"><svg onload=alert(2)>',
            "javascript:alert(3)", "</textarea><script>alert(4)</script>", "{{7*7}}<b>x</b>"]


async def test_hostile_text_renders_as_text(start_hub, board_dir):
    """Payloads in a title, a description, any YAML value, an agent name and live output."""
    fields = {"title": PAYLOADS[0], "description": PAYLOADS[1], "repo": PAYLOADS[3],
              "notes": PAYLOADS[2], "tags": [PAYLOADS[4]], "shell_command": "true",
              "extra": {"nested": PAYLOADS[5]}}
    write_task(board_dir, "inbox/xss.yaml", task_yaml(id="xss", **fields))
    hub = await start_hub()
    async with AgentClient.connect(hub.base_url, "agent-x", name=PAYLOADS[2]) as agent:
        assign = await accept_next(agent)
        await agent.send("task_progress", task_id=assign["task_id"],
                         execution_event={"event_type": "stdout", "text": PAYLOADS[4]})
        await trio.sleep(0.3)
        pages = [(await hub.client.get(path)).text for path in
                 ("/", "/graph", "/tasks/xss", "/tasks/xss/part/info", "/tasks/xss/part/cost")]
        async with hub.client.stream("GET", "/events") as response:
            async with contextlib.aclosing(response.aiter_text()) as chunks:
                pages.append(await chunks.__anext__())
    text = "\n".join(pages)
    for payload in PAYLOADS:
        if any(c in payload for c in "<>\""):
            assert payload not in text, f"unescaped: {payload}"
    assert str(markupsafe.escape(PAYLOADS[0])) in text  # shown, as text
    at = text.lower().find('href="javascript:')
    assert at < 0, f"a javascript: link: {text[max(0, at - 300):at + 60]}"
    assert "<script>alert" not in text and "<svg onload" not in text
