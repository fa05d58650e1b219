"""The demo model endpoint and the demo's extras: Ollama's streaming format, tokens and "saved vs
Claude" through the reference agent's real Ollama executor; a scratch repository; demo agents that
never run a real coding agent."""

from __future__ import annotations

from pathlib import Path

import httpx
import trio

from agentdeck.actors.reference_agent.executors import run_ollama
from agentdeck.web.commands.demo import DEMO_REPO, demo_agents, prepare_demo
from agentdeck.web.demo_model import DEMO_MODEL, DemoModel


class Events(list):
    async def __call__(self, event):
        self.append(event)


async def test_the_demo_model_streams_a_labelled_reply_priced_as_local(nursery):
    model, stop = DemoModel(token_seconds=0), trio.Event()
    url = await nursery.start(model.serve, stop)
    async with httpx.AsyncClient() as client:
        tags = (await client.get(url + "/api/tags")).json()
        assert tags["models"][0]["name"] == DEMO_MODEL
        assert (await client.post(url + "/api/generate", content=b"{not json")).status_code == 400
        assert (await client.get(url + "/nope")).status_code == 404
    events = Events()
    result = await run_ollama(url, DEMO_MODEL, "Draft the release notes\n\nMore text", emit=events, timeout=10)
    assert result["status"] == "success" and result["model_used"] == DEMO_MODEL
    text = "".join(e["text"] for e in events if e["event_type"] == "token")
    assert text.startswith("[demo model: canned text, not a real AI]") and "Draft the release notes" in text
    assert result["tokens_out"] > 20
    assert result["tokens_in"] > 0 and result["estimated_cost_usd"] == 0.0
    assert result["equivalent_claude_cost_usd"] > 0, "saved vs Claude"
    stop.set()


def test_prepare_demo_copies_the_board_and_makes_a_scratch_repository():
    work = prepare_demo()
    repo = work / DEMO_REPO
    assert (work / "collaboration" / "inbox").is_dir() and (repo / ".git").exists()
    assert (repo / "CHANGELOG.md").read_text().startswith("# Changelog")
    agents = demo_agents("http://127.0.0.1:1", work, "http://127.0.0.1:2")
    assert [a.agent_id for a in agents] == ["demo-agent-1", "demo-agent-2"]
    assert all(a.claude is None and a.codex is None and a.ollama_url == "http://127.0.0.1:2" for a in agents)
    assert all(Path(a.worktree_root).is_relative_to(work) for a in agents)
