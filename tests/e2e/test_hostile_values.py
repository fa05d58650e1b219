"""Property: whatever values a task file's fields hold, and whatever result an agent reports, every
page, fragment, export and API answers below 500 and no actor restarts (issue 12).

Each example writes task files whose every known field holds a random or mutated YAML value (huge
and non-finite numbers, far dates, wrong types, nesting, hostile text) into every lane, starts a
real hub on them, lets an agent take what it can and report random results and output, then reads
everything the hub serves. ``AGENTDECK_FUZZ_EXAMPLES`` sets how many examples run (default 12).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import trio
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_ws import RawSocket
from trio_websocket import open_websocket_url

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.web.server import run_hub

FIELDS = ("id", "title", "description", "status", "priority", "agent", "assign_to", "created",
          "created_at", "dependencies", "tags", "needed_capabilities", "estimated_hours",
          "estimated_effort_hours", "max_retries", "retry_count", "generation", "attempts", "last_error",
          "last_output", "result", "routing_decision", "assigned_at", "completed_at", "failed_at",
          "retry_after", "acceptance_criteria", "shell_command", "model", "complexity", "repo", "branch",
          "file_hints", "success_criteria", "verification_steps", "requeued_at", "reclaimed_reason",
          "metadata")
RESULT_FIELDS = ("status", "output", "model_used", "tokens_in", "tokens_out", "estimated_cost_usd",
                 "equivalent_claude_cost_usd", "execution_ms", "error", "priced")
LANES = ("inbox", "inbox", "dead", "done/fuzz-agent", "done/other", "assigned/gone-agent")

text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
hostile_text = st.sampled_from([
    "", " ", "../api/tasks", "..", ".", "<script>alert(1)</script>", "=1+1", "x;=1+1", "＝1+1",
    "line\nforged", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "2024-02-30", "NaN",
    "1" * 400, "-0", "null", "\u202e\u0000", "a" * 3000, "Z", "2024-01-01T00:00:00"])
numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20), st.just(int("9" * 400)), st.just(-int("9" * 400)),
    st.floats(allow_nan=True, allow_infinity=True), st.just(1e308), st.just(-0.0))
dates = st.one_of(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
                  st.dates())
scalars = st.one_of(st.none(), st.booleans(), numbers, text, hostile_text, dates)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.one_of(text, hostile_text), inner, max_size=6),
    st.lists(st.just("e"), min_size=140, max_size=160)), max_leaves=20)
task_fields = st.dictionaries(st.sampled_from(FIELDS), values, min_size=1, max_size=len(FIELDS))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
              st.just(int("9" * 400)), st.floats(allow_nan=False, allow_infinity=False), text,
              st.just("bad\ud800name"), hostile_text),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(text, inner, max_size=5)),
    max_leaves=15)
results = st.dictionaries(st.sampled_from(RESULT_FIELDS), json_values, max_size=len(RESULT_FIELDS))
examples = st.tuples(st.lists(st.tuples(st.sampled_from(LANES), task_fields), min_size=1, max_size=6),
                     st.lists(results, min_size=1, max_size=4), st.lists(json_values, max_size=3))


def _dump(fields: dict[str, Any]) -> bytes:
    return yaml.safe_dump(fields, allow_unicode=True, sort_keys=False).encode("utf-8")


async def _read_everything(base: str, port: int) -> list[tuple[str, int]]:
    answers: list[tuple[str, int]] = []
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        listed = await client.get("/api/tasks")
        answers.append(("/api/tasks", listed.status_code))
        board = listed.json()
        grouped = [*board["inbox"], *board["dead"], *(t for lane in ("assigned", "done")
                                                      for tasks in board[lane].values() for t in tasks)]
        ids = [t["id"] for t in grouped]
        paths = ["/", "/graph", "/?agent=fuzz-agent", "/?q=x", "/api/agents", "/api/dashboard/state",
                 "/api/stats", "/export/tasks.csv", "/export/tasks.json", "/export/metrics.csv",
                 "/export/metrics.json", "/metrics", "/health", "/api/schemas"]
        for task_id in ids:
            segment = quote(task_id, safe="")
            paths += [f"/tasks/{segment}", f"/api/tasks/{segment}", f"/tasks/{segment}/part/info",
                      f"/tasks/{segment}/part/cost", f"/tasks/{segment}/part/output"]
        for path in paths:
            answers.append((path, (await client.get(path)).status_code))
            if path.startswith("/tasks/") and "/part/" not in path:
                panel = await client.get(path, headers={"HX-Request": "true"})
                answers.append((path + " (panel)", panel.status_code))
        async with client.stream("GET", "/events", timeout=httpx.Timeout(10, read=10)) as stream:
            answers.append(("/events", stream.status_code))
            with trio.move_on_after(5):
                async for line in stream.aiter_lines():
                    if line.startswith("event:"):
                        break
    async with open_websocket_url(f"ws://127.0.0.1:{port}/ws/dashboard", max_message_size=64 * 2**20) as ws:
        first = json.loads(await ws.get_message())
        answers.append(("/ws/dashboard", 200 if first.get("type") == "snapshot" else 500))
    return answers


async def _work_as_agent(port: int, result_payloads: list[dict], extra: list[Any]) -> None:
    """Take whatever the hub hands out and report random results (protocol errors are fine)."""
    sock = await RawSocket.connect(port, "/ws")
    await sock.send_text(json.dumps({"type": "identify", "agent_id": "fuzz-agent", "token": None,
                                     "name": "fuzz\ud800agent", "capabilities": ["shell"]}))
    payloads = list(result_payloads)
    with trio.move_on_after(3):
        while payloads:
            opcode, data = await sock.receive_frame()
            if opcode == 8:
                break
            message = json.loads(data)
            if message.get("type") != "task_assign":
                continue
            task_id, generation = message["task_id"], message["generation"]
            result = payloads.pop()
            frames = [{"type": "task_accepted", "task_id": task_id},
                      {"type": "task_progress", "task_id": task_id, "progress": extra[0] if extra else 5,
                       "execution_event": {"event_type": "stdout", "text": "out \ud800 <b>&amp;</b>\n"}},
                      {"type": "resource_report", "cpu_percent": 1.0, **{f"x{i}": v for i, v in enumerate(extra)}},
                      {"type": "task_complete", "task_id": task_id, "generation": generation, "result": result,
                       "tokens_used": extra[-1] if extra else None}]
            for frame in frames:
                await sock.send_text(json.dumps(frame))
    await sock.aclose()


async def _one_example(work: Path, tasks: list[tuple[str, dict]], result_payloads: list[dict],
                       extra: list[Any]) -> None:
    board = work / "collaboration"
    for index, (lane, fields) in enumerate(tasks):
        path = board / lane / f"f{index}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_dump(fields))
    hub = Hub(HubConfig(work_dir=work, port=0, fsync=False, retry_backoff=0))
    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        base = next(a for a in await nursery.start(run_hub, hub) if a.startswith("http://"))
        port = int(base.rsplit(":", 1)[1])
        try:
            with trio.fail_after(60):
                await _work_as_agent(port, result_payloads, extra)
                (board / "inbox" / "zz.yaml").write_bytes(_dump({"id": "zz", "title": "fine", "agent": "late"}))
                await trio.sleep(0.3)
                answers = await _read_everything(base, port)
        finally:
            hub.stop()
    failures = [(path, status) for path, status in answers if status >= 500]
    assert not failures, failures
    restarted = [(r.name, r.last_error) for r in hub.supervisor.status() if r.restarts]
    assert not restarted, restarted
    assert trio.current_time() - started < 60


@settings(max_examples=int(os.environ.get("AGENTDECK_FUZZ_EXAMPLES", "12")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], derandomize=False)
@given(examples)
def test_random_field_values_and_results_never_make_a_5xx_or_restart_an_actor(example) -> None:
    tasks, result_payloads, extra = example
    with tempfile.TemporaryDirectory(prefix="agentdeck-fuzz-") as tmp:
        trio.run(_one_example, Path(tmp), tasks, result_payloads, extra)


def test_known_breakers_one_by_one() -> None:
    """The values the attack report named, each in its own file, in one hub."""
    breakers = [
        {"id": "caps", "needed_capabilities": 5},
        {"id": "far", "created": "9999-12-31T23:59:59-12:00"},
        {"id": "early", "created": "0001-01-01T00:00:00+14:00"},
        {"id": "err-map", "status": "dead", "last_error": {"a": [1, 2]}},
        {"id": "err-list", "last_error": ["e"] * 150},
        {"id": "route-str", "routing_decision": "local"},
        {"id": "route-list", "routing_decision": [1, 2]},
        {"id": "route-int", "routing_decision": 7},
        {"id": "huge", "result": {"tokens_in": int("9" * 400), "estimated_cost_usd": float("inf"),
                                  "execution_ms": float("nan"), "model_used": "m"}},
        {"id": "attempts-int", "attempts": 5, "generation": int("9" * 400)},
    ]
    lanes = ["inbox", "inbox", "inbox", "dead", "dead", "inbox", "inbox", "inbox", "done/a1", "dead"]
    with tempfile.TemporaryDirectory(prefix="agentdeck-fuzz-") as tmp:
        trio.run(_one_example, Path(tmp), list(zip(lanes, breakers, strict=True)),
                 [{"tokens_in": int("9" * 400)}, {"estimated_cost_usd": 1e300}], [int("9" * 400)])


