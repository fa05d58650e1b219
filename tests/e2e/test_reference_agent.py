"""The reference agent against the real hub: real sockets, real task files, real shell and HTTP."""

from __future__ import annotations

import functools
import os
import subprocess
import sys

import pytest
import trio
import yaml
from agent_client import ws_url
from conftest import task_yaml, wait_for_event, wait_until, write_task
from fake_ollama import FakeOllama

from agentdeck.actors.protocol.auth import TokenStore
from agentdeck.actors.reference_agent.agent import AgentRefused, AgentSettings, ReferenceAgent
from agentdeck.actors.reference_agent.dispatch import ollama_url_for


def settings(hub, agent_id="ref-1", **overrides) -> AgentSettings:
    values = {"hub_url": ws_url(hub.base_url), "agent_id": agent_id, "backoff_min": 0.05,
              "backoff_max": 0.2, "identify_timeout": 2.0}
    values.update(overrides)
    return AgentSettings(**values)


class RecordingAgent(ReferenceAgent):
    """The real agent, also keeping every message the hub sent it, for assertions."""

    def __init__(self, settings_: AgentSettings) -> None:
        super().__init__(settings_)
        self.seen: list[dict] = []

    async def _dispatch(self, message: dict) -> None:
        self.seen.append(message)
        await super()._dispatch(message)


def done_file(board, agent_id, name):
    path = board / "done" / agent_id / name
    return yaml.safe_load(path.read_text()) if path.exists() else None


async def test_shell_task_runs_end_to_end(running_hub, nursery):
    sub = running_hub.subscribe("ref")
    write_task(running_hub.board, "inbox/hello.yaml", task_yaml(
        id="hello", title="say hello", shell_command="echo hello; echo warn >&2"))
    agent = ReferenceAgent(settings(running_hub))
    await nursery.start(agent.run)
    event = await wait_for_event(sub, lambda e: e.kind == "execution_event" and "hello" in e.text)
    assert event.event_type == "stdout" and event.agent_id == "ref-1"
    fields = await wait_until(lambda: done_file(running_hub.board, "ref-1", "hello.yaml"))
    assert fields["status"] == "done" and fields["generation"] == 1
    assert fields["routing_decision"]["target_type"] == "sidecar"
    result = fields["result"]
    assert result["status"] == "success" and result["exit_code"] == 0
    assert "hello\n" in result["output"] and "warn\n" in result["output"]
    assert result["model_used"] == "none" and result["tokens_in"] == 0
    await wait_until(lambda: not agent.unacked and agent.running is None)


async def test_failing_shell_task_is_reported_failed_with_output(running_hub, nursery):
    write_task(running_hub.board, "inbox/bad.yaml", task_yaml(
        id="bad", title="fails", shell_command="echo trying; exit 4", max_retries=0))
    agent = ReferenceAgent(settings(running_hub))
    await nursery.start(agent.run)
    dead = running_hub.board / "dead" / "bad.yaml"
    await wait_until(dead.exists)
    fields = yaml.safe_load(dead.read_text())
    assert fields["last_error"] == "exit code 4"
    assert "trying" in fields["last_output"]


async def test_ollama_task_streams_tokens_and_costs(running_hub, nursery):
    fake = FakeOllama(tokens=["def", " add", "(a, b)"])
    stop = trio.Event()
    await nursery.start(fake.serve, stop)
    sub = running_hub.subscribe("ref")
    write_task(running_hub.board, "inbox/gen.yaml", task_yaml(
        id="gen", title="write add", description="Write an add function"))
    agent = ReferenceAgent(settings(running_hub, ollama_url=fake.url))
    await nursery.start(agent.run)
    event = await wait_for_event(sub, lambda e: e.kind == "execution_event"
                                 and e.event_type == "token")
    assert event.model == "llama3.2:latest"
    fields = await wait_until(lambda: done_file(running_hub.board, "ref-1", "gen.yaml"))
    assert fields["routing_decision"]["target_type"] == "ollama"
    assert fields["routing_decision"]["selected_endpoint"] == fake.url.removeprefix("http://")
    assert fake.requests[0]["model"] == "llama3.2:latest"
    assert fake.requests[0]["prompt"].startswith("Write an add function")
    result = fields["result"]
    assert result["output"] == "def add(a, b)"
    assert (result["tokens_in"], result["tokens_out"]) == (12, 3)
    assert result["estimated_cost_usd"] == 0.0 and result["equivalent_claude_cost_usd"] > 0
    stop.set()


async def test_a_complex_task_waits_for_an_agent_that_can_run_a_coding_agent(running_hub, nursery):
    """An agent without Claude or Codex is not given complex work (it used to fail it at once)."""
    write_task(running_hub.board, "inbox/big.yaml", task_yaml(
        id="big", title="big", complexity="complex", max_retries=0))
    write_task(running_hub.board, "inbox/small.yaml", task_yaml(
        id="small", title="small", shell_command="echo ok"))
    await nursery.start(ReferenceAgent(settings(running_hub)).run)
    await wait_until(lambda: done_file(running_hub.board, "ref-1", "small.yaml"))
    await trio.sleep(0.3)
    assert (running_hub.board / "inbox" / "big.yaml").exists()
    assert not (running_hub.board / "dead" / "big.yaml").exists()
    agents = (await running_hub.client.get("/api/agents")).json()["agents"]
    assert agents[0]["capabilities"] == ["shell"]


async def test_reconnect_reports_state_and_keeps_the_task(running_hub, nursery):
    write_task(running_hub.board, "inbox/slow.yaml", task_yaml(
        id="slow", title="slow", shell_command="echo start; sleep 0.8; echo end"))
    agent = RecordingAgent(settings(running_hub))
    await nursery.start(agent.run)
    await wait_until(lambda: agent.running is not None and agent.running.status == "working")
    await agent._ws.aclose()  # the network drops mid-task
    await wait_until(lambda: agent.identified_count == 2)
    fields = await wait_until(lambda: done_file(running_hub.board, "ref-1", "slow.yaml"))
    assert {"type": "state_report_ack", "task_id": "slow", "action": "continue"} in agent.seen
    assert fields["generation"] == 1, "the task must not have been reassigned"
    assert "end\n" in fields["result"]["output"]


async def test_task_reclaimed_during_a_long_disconnect_restarts_under_a_new_generation(start_hub, nursery, tmp_path):
    hub = await start_hub(reconnect_grace=0.05)  # the hub checks deadlines once a second
    marker, go = tmp_path / "runs", tmp_path / "go"
    write_task(hub.board, "inbox/long.yaml", task_yaml(
        id="long", title="l",
        shell_command=f"echo run >> {marker}; until [ -e {go} ]; do sleep 0.02; done; echo end"))
    agent = RecordingAgent(settings(hub, backoff_min=1.3, backoff_max=1.3))
    await nursery.start(agent.run)
    await wait_until(marker.exists)
    await agent._ws.aclose()
    await wait_until(lambda: agent.identified_count == 2)
    await wait_until(lambda: marker.read_text() == "run\nrun\n")
    go.touch()
    fields = await wait_until(lambda: done_file(hub.board, "ref-1", "long.yaml"))
    abort = {"type": "state_report_ack", "task_id": "long", "action": "abort"}
    assert abort in agent.seen
    assert fields["generation"] == 3, "reclaimed (generation 2) then assigned again (3)"
    assert marker.read_text() == "run\nrun\n"


async def test_result_finished_while_the_hub_was_down_is_delivered(start_hub, nursery, free_port,
                                                                   tmp_path):
    go = tmp_path / "go"
    first = await start_hub(port=free_port)
    write_task(first.board, "inbox/quick.yaml", task_yaml(
        id="quick", title="q", shell_command=f"until [ -e {go} ]; do sleep 0.02; done; echo finished"))
    agent = ReferenceAgent(settings(first))
    await nursery.start(agent.run)
    await wait_until(lambda: agent.running is not None)
    first.hub.stop()
    await wait_until(lambda: agent._ws is None)
    go.touch()
    await wait_until(lambda: "quick" in agent.unacked)  # finished with nobody to tell
    assert (first.board / "assigned" / "ref-1" / "quick.yaml").exists()
    second = await start_hub(port=free_port)
    fields = await wait_until(lambda: done_file(second.board, "ref-1", "quick.yaml"))
    assert "finished" in fields["result"]["output"]
    await wait_until(lambda: not agent.unacked)


async def test_pings_keep_the_connection_alive(running_hub, nursery):
    agent = RecordingAgent(settings(running_hub, ping_interval=0.05))
    await nursery.start(agent.run)
    await wait_until(lambda: sum(m.get("type") == "pong" for m in agent.seen) >= 3)
    assert agent.identified_count == 1
    assert all(isinstance(m["timestamp"], int) for m in agent.seen if m["type"] == "pong")


async def test_wrong_token_is_refused_and_not_retried(running_hub, work_dir):
    store = TokenStore.in_state_dir(work_dir / ".agentdeck")
    token = store.add("ref-1")
    other = store.add("ref-2")
    with trio.fail_after(5):
        with pytest.raises(AgentRefused, match="invalid_token"):
            await ReferenceAgent(settings(running_hub, token="nope")).run()
        with pytest.raises(AgentRefused, match="token_agent_mismatch"):
            await ReferenceAgent(settings(running_hub, token=other)).run()
    agent = ReferenceAgent(settings(running_hub, token=token))
    async with trio.open_nursery() as nursery:
        await nursery.start(agent.run)
        await wait_until(lambda: agent.identified_count == 1)
        nursery.cancel_scope.cancel()


async def test_agent_command_line(start_hub, work_dir):
    hub = await start_hub()
    token = TokenStore.in_state_dir(work_dir / ".agentdeck").add("cli-agent")
    write_task(hub.board, "inbox/cli.yaml", task_yaml(id="cli", title="cli",
                                                      shell_command="echo via-cli"))
    command = [sys.executable, "-m", "agentdeck.web.cli", "agent", "--hub", ws_url(hub.base_url),
               "--id", "cli-agent", "--capabilities", "shell,python"]
    refused = await trio.run_process(command, env={**os.environ, "AGENTDECK_TOKEN": "wrong"},
                                     capture_stdout=True, capture_stderr=True, check=False)
    assert refused.returncode == 2
    assert b"invalid_token" in refused.stderr
    env = {**os.environ, "AGENTDECK_TOKEN": token}
    async with trio.open_nursery() as nursery:
        process = await nursery.start(functools.partial(
            trio.run_process, command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False))
        fields = await wait_until(lambda: done_file(hub.board, "cli-agent", "cli.yaml"), timeout=10)
        assert "via-cli" in fields["result"]["output"]
        process.terminate()
    assert process.returncode in (0, -15)


def test_ollama_endpoint_from_the_hub_maps_to_a_url():
    own = "https://box:8443/ollama"
    assert ollama_url_for(own, "box:8443") == "https://box:8443/ollama"
    assert ollama_url_for(own, "other:11434") == "http://other:11434"
    assert ollama_url_for(own, "http://third:1") == "http://third:1"
    assert ollama_url_for(own, None) == "https://box:8443/ollama"


@pytest.mark.parametrize("heartbeat, reclaimed", [(0.2, False), (60.0, True)])
async def test_a_silent_task_stays_alive_with_heartbeats(start_hub, nursery, heartbeat, reclaimed):
    hub = await start_hub(stuck_timeout=1.0, deadline_check=0.1)
    sub = hub.subscribe("heartbeat")
    write_task(hub.board, "inbox/quiet.yaml", task_yaml(id="quiet", title="quiet",
                                                        shell_command="echo start; sleep 2.5; echo end"))
    await nursery.start(ReferenceAgent(settings(hub, heartbeat_interval=heartbeat)).run)
    if reclaimed:
        event = await wait_for_event(sub, "task.reclaimed", timeout=10)
        assert "no progress" in event.reason
    else:
        fields = await wait_until(lambda: done_file(hub.board, "ref-1", "quiet.yaml"), timeout=15)
        assert fields["generation"] == 1 and "end" in fields["result"]["output"]
