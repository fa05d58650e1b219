"""The agent socket's guard against a real hub: tokens, agent ids that could name paths, malformed
frames, the violation limit and the frame size limit, and the reports that must never count as
violations. What a refused agent must not get: an identity, a task, or a directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_client import AgentClient, accept_next
from conftest import collect_events, wait_for_event, write_task

from agentdeck.actors.messages import AgentReported, ListAgents, SecurityWarning
from agentdeck.actors.protocol import schema as protocol
from agentdeck.actors.protocol.auth import TokenStore


def tokens(work_dir: Path) -> TokenStore:
    return TokenStore.in_state_dir(work_dir / ".agentdeck")


async def known_agents(hub) -> set[str]:
    return {agent["agent_id"] for agent in await hub.ask_queue(ListAgents())}


def directories(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir())


async def refused(base_url: str, agent_id: str, token: str | None) -> tuple[list[dict], int]:
    """Identify and expect the hub to answer with errors and close; returns (errors, close code)."""
    async with AgentClient.connect(base_url, agent_id, identify=False) as client:
        await client.send("identify", agent_id=agent_id, token=token)
        code = await client.expect_close()
        return [f["error"] for f in client.pending], code


# ---------------------------------------------------------------------------------- tokens


async def test_without_tokens_a_loopback_hub_accepts_agents_and_warns_once(running_hub) -> None:
    with running_hub.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running_hub.base_url, "a1", token=None,
                                       protocol_version=1, client_type="sidecar"):
            async with AgentClient.connect(running_hub.base_url, "a2", token="anything"):
                events = await collect_events(sub, quiet=0.1)
    warnings = [e for e in events if isinstance(e, SecurityWarning)]
    assert len(warnings) == 1 and "without tokens" in warnings[0].message


async def test_with_tokens_only_the_agents_own_live_token_identifies(start_hub, work_dir) -> None:
    store = tokens(work_dir)
    token1, token2 = store.add("a1"), store.add("a2")
    running = await start_hub()
    url = running.base_url
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(url, "a1", token=token1):
            assert await known_agents(running.hub) == {"a1"}
        assert await refused(url, "a1", "wrong") == (["invalid_token"], 1008)
        assert await refused(url, "a1", token2) == (["token_agent_mismatch"], 1008)
        assert await refused(url, "a1", None) == (["invalid_token"], 1008)
        assert await refused(url, "a1", "") == (["invalid_token"], 1008)
        assert await refused(url, "a3", token1) == (["token_agent_mismatch"], 1008)
        assert not [e for e in await collect_events(sub, quiet=0.1) if isinstance(e, SecurityWarning)]
    assert await known_agents(running.hub) == {"a1"}


async def test_a_token_field_left_out_is_a_validation_error(start_hub, work_dir) -> None:
    tokens(work_dir).add("a1")
    running = await start_hub()
    async with AgentClient.connect(running.base_url, "a1", identify=False) as client:
        await client.send_raw(json.dumps({"type": "identify", "agent_id": "a1"}))
        error = await client.expect_error("validation_failed")
        assert error["errors"] == [{"field": "token", "error": "required", "detail": "field is required"}]
        await client.send("ping")
        await client.expect_error("not_identified")


async def test_tokens_added_or_revoked_while_running_take_effect(start_hub, work_dir) -> None:
    store = tokens(work_dir)
    token1 = store.add("a1")
    running = await start_hub()
    token3 = store.add("a3")
    async with AgentClient.connect(running.base_url, "a3", token=token3):
        pass
    assert store.revoke("a1") and store.revoke("a3")
    assert await refused(running.base_url, "a1", token1) == (["invalid_token"], 1008)
    # revoking every token must not open the hub to anyone
    assert await refused(running.base_url, "a3", None) == (["invalid_token"], 1008)
    assert await known_agents(running.hub) == {"a3"}


# ---------------------------------------------------------------------------------- agent ids


BAD_IDS = ["..", ".", "../x", "../../etc", "a/b", "/tmp", "a\\b", "a\x00b", "a" * 200, "a" * 129, "",
           "a b", "é", "agent\n"]


async def test_agent_ids_that_could_name_paths_are_refused_and_create_nothing(start_hub, board_dir,
                                                                              tmp_path) -> None:
    write_task(board_dir, "inbox/t.yaml", {"id": "t"})  # what a wrongly accepted agent would get
    running = await start_hub()
    before = directories(tmp_path)
    for agent_id in BAD_IDS:
        async with AgentClient.connect(running.base_url, agent_id, identify=False) as client:
            await client.send("identify", agent_id=agent_id, token=None)
            error = await client.expect_error("validation_failed")
            assert error["message_type"] == "identify"
            assert [e["field"] for e in error["errors"]] == ["agent_id"], agent_id
            assert error["errors"][0]["error"] in ("invalid_agent_id", "too_long")
            await client.send("task_accepted", task_id="t")
            await client.expect_error("not_identified")
            await client.expect_silence(0.05)
    assert directories(tmp_path) == before
    assert await known_agents(running.hub) == set()
    async with AgentClient.connect(running.base_url, "a-1_ok.2") as good:
        assert (await accept_next(good))["task_id"] == "t"
    assert (board_dir / "assigned" / "a-1_ok.2" / "t.yaml").exists()


# ---------------------------------------------------------------------------------- bad frames


async def test_each_kind_of_bad_frame_gets_its_error_and_the_connection_lives(running_hub) -> None:
    async with AgentClient.connect(running_hub.base_url, "a1", identify=False) as client:
        await client.send("ping")
        assert (await client.expect("error"))["error"] == "not_identified"
        await client.send("task_accepted", task_id="t")
        await client.expect_error("not_identified")
        await client.identify()

        await client.send_raw("{not json")
        assert (await client.expect("error"))["error"] == "invalid_json"
        await client.send_raw('{"type": "ping", "x": NaN}')
        await client.expect_error("invalid_json")

        await client.send("fly", to="moon")
        unknown = await client.expect_error("unknown_message_type")
        assert unknown["known_types"] == list(protocol.KNOWN_TYPES) and "identify" in unknown["known_types"]
        assert unknown["received_type"] == "fly"
        await client.send_raw("[1, 2]")
        assert (await client.expect_error("unknown_message_type"))["known_types"]

        await client.send("task_complete", generation="two")
        invalid = await client.expect_error("validation_failed")
        assert invalid["message_type"] == "task_complete"
        assert {(e["field"], e["error"]) for e in invalid["errors"]} == {
            ("task_id", "required"), ("generation", "wrong_type")}
        assert all(e["detail"] for e in invalid["errors"])
        await client.send("task_progress", task_id="t",
                          execution_event={"event_type": "shout", "text": "hi"})
        nested = await client.expect_error("validation_failed")
        assert [(e["field"], e["error"]) for e in nested["errors"]] == [
            ("execution_event.event_type", "invalid_value")]

        await client.send("identify", agent_id="a1", token=None)
        await client.expect_error("already_identified")

        await client.send("ping")  # nine violations so far: still connected
        await client.expect("pong")
        await client.expect_silence(0.05)


@pytest.mark.parametrize("identified", [False, True])
async def test_more_than_ten_violations_in_a_minute_close_1008(running_hub, identified) -> None:
    async with AgentClient.connect(running_hub.base_url, "a1" if identified else None) as client:
        for _ in range(10):
            await client.send_raw("{oops")
            await client.expect_error("invalid_json")
        await client.send_raw("[]" if identified else '{"type": "ping"}')  # the eleventh
        assert await client.expect_close() == 1008
    assert [f["type"] for f in client.pending] == ["error"]


async def test_a_frame_over_one_mib_closes_1008(running_hub) -> None:
    limit = protocol.MAX_FRAME_BYTES
    prefix = '{"type":"ping","pad":"'
    async with AgentClient.connect(running_hub.base_url, "a1") as client:
        exact = prefix + "a" * (limit - len(prefix) - 2) + '"}'
        assert len(exact.encode()) == limit
        await client.send_raw(exact)
        await client.expect("pong")
    for frame in (prefix + "a" * limit + '"}',
                  prefix + "é" * (limit // 2) + '"}'):  # fewer characters than the limit, more bytes
        async with AgentClient.connect(running_hub.base_url, "a1") as client:
            await client.send_raw(frame)
            assert await client.expect_close() == 1008
            assert client.pending[0]["error"] == "frame_too_large"


# ---------------------------------------------------------------------------------- reports


async def test_reports_need_no_reply_and_are_never_violations(start_hub, board_dir) -> None:
    running = await start_hub(ollama_model="qwen2.5:0.5b")
    reports = [
        ("resource_report", {"cpu_percent": 12.5, "ram_used_mb": 900, "vram_total_mb": 8192.0}),
        ("ollama_report", {"ollama_url": "http://127.0.0.1:11434"}),
        ("wake_result", {"task_id": "t0", "status": "ok", "detail": "woke up"}),
        ("agent_restarting", {"reason": "update", "protocol_version": 1}),
    ]
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as client:
            for _ in range(3):  # twelve reports: as violations they would close the socket
                for kind, fields in reports:
                    await client.send(kind, **fields)
            await client.expect_silence(0.2)
            await client.send("ping")
            await client.expect("pong")
            [agent] = await running.hub.ask_queue(ListAgents())
            assert agent["resources"] == {"cpu_percent": 12.5, "ram_used_mb": 900, "vram_total_mb": 8192.0}
            assert agent["ollama_url"] == "http://127.0.0.1:11434"

            write_task(board_dir, "inbox/std.yaml", {"id": "std", "description": "summarise a file"})
            assign = await client.expect("task_assign", task_id="std")
        seen = [e for e in await collect_events(sub, quiet=0.1) if isinstance(e, AgentReported)]
    assert [e.report_type for e in seen] == [kind for kind, _ in reports] * 3
    assert seen[2].data == {"task_id": "t0", "status": "ok", "detail": "woke up"}
    routing = assign["routing_decision"]
    assert (routing["target_type"], routing["selected_endpoint"], routing["selected_model"]) == (
        "ollama", "127.0.0.1:11434", "qwen2.5:0.5b")  # host:port, as the Elixir sidecars expect


async def test_an_agent_without_ollama_falls_back_to_claude_for_a_standard_task(start_hub, board_dir) -> None:
    write_task(board_dir, "inbox/std.yaml", {"id": "std", "description": "summarise a file"})
    running = await start_hub()
    with running.subscribe("test", buffer=0) as sub:
        async with AgentClient.connect(running.base_url, "a1") as client:
            assign = await client.expect("task_assign")
            assigned = await wait_for_event(sub, "task.assigned")
    routing = assign["routing_decision"]
    assert routing["target_type"] == "claude" and routing["fallback_used"] is True
    assert "ollama_url" in routing["fallback_reason"]
    assert assigned.routing_decision == routing
