"""Hostile input: random and mutated protocol frames, random YAML, path tricks, huge frames and files,
floods. The hub answers each per the protocol (or refuses it with a clear error), never crashes,
never hangs, keeps serving everyone else, and never touches a path outside work/.

The frame fuzzing runs against the real hub in a child process (one per test, thousands of frames),
so a crash or a leak shows as a dead process or a grown RSS, not as a broken test runner.
"""

from __future__ import annotations

import json
import os
import string
import time
from pathlib import Path
from typing import Any

import pytest
import trio
import yaml
from agent_client import AgentClient, accept_next, complete
from conftest import task_yaml, wait_until, write_task
from hub_process import HubProcess
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed, open_websocket_url

from agentdeck.actors.board.taskfile import (
    MAX_TASK_FILE_BYTES,
    MAX_TASK_ID,
    SAFE_NAME,
    Incomplete,
    parse_task,
)
from agentdeck.actors.protocol import schema as protocol
from agentdeck.actors.protocol.schema import FrameRate
from agentdeck.actors.protocol.session import RateLimit

FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=False,
                max_examples=400)


@pytest.fixture(scope="module")
def hub_proc(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("hostile") / "work"
    work.mkdir()
    hub = HubProcess(work)
    hub.start()
    yield hub
    hub.stop()


# low enough that even a hub starved of CPU (a few hundred frames a second) sees a flood over it
SLOW_FRAME_RATE = FrameRate(per_second=50, burst=100)


@pytest.fixture
def slow_hub_proc(tmp_path: Path):
    """A hub whose operator set a low agent frame rate (``--agent-frame-rate/-burst``)."""
    work = tmp_path / "work"
    work.mkdir()
    hub = HubProcess(work, args=("--agent-frame-rate", str(SLOW_FRAME_RATE.per_second),
                                 "--agent-frame-burst", str(SLOW_FRAME_RATE.burst)))
    hub.start()
    yield hub
    hub.stop()


def assert_still_serving(hub: HubProcess, rss_limit_kib: int = 400 * 1024) -> None:
    assert hub.alive(), hub.log_text()[-3000:]
    assert hub.get("/health").json()["status"] in ("ok", "degraded", "warning", "critical")
    assert hub.rss_kib() < rss_limit_kib

    async def ping() -> None:
        with trio.fail_after(10):
            async with AgentClient.connect(hub.base_url, "after-the-storm") as agent:
                await agent.send("ping")
                await agent.expect("pong")

    trio.run(ping)


# ---------------------------------------------------------------------------------- the oracle

# what an identified agent gets back for each valid message (None: nothing, by the protocol)
REPLY_TO = {"ping": "pong", "task_accepted": "task_ack", "task_complete": "task_ack",
            "task_failed": "task_ack", "task_recovering": "task_reassign",
            "state_report": "state_report_ack", "identify": "error"}


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def expected_reply(frame: str | bytes, identified: bool) -> tuple[str | None, str | None, bool]:
    """(reply type, error code, is a violation) for one frame, from the protocol's rules."""
    try:
        message = json.loads(frame, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return "error", "invalid_json", True
    if not isinstance(message, dict) or message.get("type") not in protocol.SCHEMAS:
        return "error", "unknown_message_type", True
    kind = message["type"]
    if protocol.validate_fields(message, protocol.SCHEMAS[kind]):
        return "error", "validation_failed", True
    if not identified:
        if kind != "identify":
            return "error", "not_identified", True
        return "identified", None, False
    if kind == "identify":
        return "error", "already_identified", True
    return REPLY_TO.get(kind), None, False


# ---------------------------------------------------------------------------------- strategies

json_scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


def _value_for(spec: protocol.Field) -> st.SearchStrategy:
    choices = []
    for kind in spec.kinds:
        if kind == "string":
            if spec.enum:
                choices.append(st.sampled_from(spec.enum))
            elif spec.agent_id:
                choices.append(st.from_regex(SAFE_NAME, fullmatch=True))
            else:
                choices.append(st.text(max_size=min(spec.max_length or 40, 40)))
        elif kind in ("integer", "number"):
            choices.append(st.integers(spec.minimum or 0, 10**6))
        elif kind == "boolean":
            choices.append(st.booleans())
        elif kind == "array":
            choices.append(st.lists(st.text(max_size=10), max_size=3))
        elif kind == "object":
            choices.append(_object_for(spec.fields or ()))
    return st.one_of(choices)


def _object_for(fields: tuple[protocol.Field, ...]) -> st.SearchStrategy:
    parts = {}
    for spec in fields:
        name = spec.name.rstrip("*") + ("total_gb" if spec.name.endswith("*") else "")
        value = _value_for(spec)
        parts[name] = value if spec.required else st.one_of(st.just(None), value, st.just(...))
    return st.fixed_dictionaries(parts).map(lambda d: {k: v for k, v in d.items() if v is not ...})


@st.composite
def messages(draw) -> dict[str, Any]:
    """A valid message of a random type, then maybe mutated: a field dropped, retyped or added."""
    kind = draw(st.sampled_from(protocol.KNOWN_TYPES))
    message = {"type": kind, **draw(_object_for(protocol.SCHEMAS[kind]))}
    mutation = draw(st.sampled_from(["none", "none", "drop", "retype", "extra", "type"]))
    keys = [k for k in message if k != "type"]
    if mutation == "drop" and keys:
        message.pop(draw(st.sampled_from(keys)))
    elif mutation == "retype" and keys:
        message[draw(st.sampled_from(keys))] = draw(json_values)
    elif mutation == "extra":
        message[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    elif mutation == "type":
        message["type"] = draw(st.text(max_size=20) | json_scalars)
    return message


frames = st.one_of(
    messages().map(json.dumps),
    messages().map(json.dumps),
    messages().map(json.dumps),
    messages().map(lambda m: json.dumps(m).encode()),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.sampled_from(["", "{", "[]", "null", "NaN", '{"type": "ping", "x": NaN}', "[" * 5000,
                     '{"type": "ping"}' * 2, "\ufeff{}", '{"type": "\\u0000"}']),
)


# ---------------------------------------------------------------------------------- /ws fuzzing


async def _exchange(url: str, script: list[str | bytes]) -> int:
    """Send each frame, check the reply the protocol promises (if any), in order; a final ping
    proves nothing unexpected was sent in between. After the 11th violation: error, then 1008."""
    identified, violations, sent = False, 0, 0
    with trio.fail_after(15):
        async with open_websocket_url(url, max_message_size=4 * 1024 * 1024) as ws:
            for frame in [*script, '{"type": "ping"}']:
                kind, error, violation = expected_reply(frame, identified)
                await ws.send_message(frame)
                sent += 1
                violations += violation
                if kind is None:
                    continue
                reply = json.loads(await ws.get_message())
                assert reply["type"] == kind, (frame, reply)
                if error is not None:
                    assert reply["error"] == error, (frame, reply)
                identified = identified or kind == "identified"
                if violations > 10:
                    with pytest.raises(ConnectionClosed) as closed:
                        await ws.get_message()
                    assert closed.value.reason.code == 1008
                    return sent
    return sent


def test_random_and_mutated_frames_are_each_answered_per_the_protocol(hub_proc: HubProcess) -> None:
    url = hub_proc.ws_url
    sent = 0

    @FUZZ
    @given(identify_first=st.booleans(), script=st.lists(frames, min_size=5, max_size=40),
           agent=st.from_regex(r"[a-z]{1,8}", fullmatch=True))
    def run(identify_first: bool, script: list, agent: str) -> None:
        nonlocal sent
        prefix = [json.dumps({"type": "identify", "agent_id": f"fuzz-{agent}", "token": None})]
        full = [*prefix, *script] if identify_first else script
        sent += trio.run(_exchange, url, full)

    run()
    assert sent > 3000, sent
    assert_still_serving(hub_proc)


def test_agent_ids_that_could_name_paths_are_refused(hub_proc: HubProcess) -> None:
    bad = ["..", ".", "../x", "a/b", "/etc", "a\\b", "a\x00b", "x" * 129, "", "é", "a b",
           "\u202etxt.exe", "..\u2215..", "ｆｕｌｌ", "a\nb", "~root", "$HOME", "%2e%2e"]

    async def go() -> None:
        for agent_id in bad:
            async with AgentClient.connect(hub_proc.base_url, identify=False) as client:
                await client.send("identify", agent_id=agent_id, token=None)
                error = await client.expect("error")
                assert error["error"] == "validation_failed", agent_id
                assert error["errors"][0]["field"] == "agent_id"
                await client.send("ping")  # still not identified: nothing was registered
                assert (await client.expect("error"))["error"] == "not_identified"

    trio.run(go)
    board = hub_proc.work / "collaboration"
    made = {p.name for lane in ("assigned", "done") for p in (board / lane).iterdir()}
    assert not made & set(bad)
    assert sorted(p.name for p in hub_proc.work.parent.iterdir()) == ["hub-logs", "work"]


def test_oversized_frames_get_a_clear_error_then_1008(hub_proc: HubProcess) -> None:
    limit = protocol.MAX_FRAME_BYTES

    async def send(frame: str, identify: bool) -> tuple[list[dict], int]:
        async with AgentClient.connect(hub_proc.base_url, "big-sender" if identify else None) as c:
            await c.send_raw(frame)
            code = await c.expect_close()
            return c.pending, code

    for frame, identify in [("x" * (limit + 1), False), ("€" * (limit // 3 + 1), True),
                            ('{"type":"ping","pad":"' + "a" * limit + '"}', True)]:
        received, code = trio.run(send, frame, identify)
        assert code == 1008
        assert [m["error"] for m in received] == ["frame_too_large"]

    async def huge() -> None:
        """8 MiB, over the server's backstop: refused before it is buffered; while the sender is
        stuck on its full socket, everyone else is served as usual."""
        async with AgentClient.connect(hub_proc.base_url) as giant, \
                AgentClient.connect(hub_proc.base_url, "bystander-2") as other:
            with trio.move_on_after(3):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(giant.send_raw, "y" * (8 * limit))
                    for _ in range(20):
                        with trio.fail_after(1):
                            await other.send("ping")
                            await other.expect("pong")
                        await trio.sleep(0.05)
                    nursery.cancel_scope.cancel()
            await giant.abort()

    trio.run(huge)
    assert_still_serving(hub_proc)


def test_a_flooding_agent_is_rate_limited_and_others_are_not_delayed(slow_hub_proc: HubProcess) -> None:
    """Ten bursts' worth of pings as fast as they go: over the hub's rate unless the hub reads fewer
    than ``rate * 10/9`` frames a second, which no hub does (a starved one still reads hundreds)."""
    hub_proc, limit = slow_hub_proc, SLOW_FRAME_RATE
    flood = int(limit.burst * 10)
    assert hub_proc.get("/api/schemas").json()["limits"]["max_frames_per_second"] == limit.per_second

    async def go() -> list[float]:
        latencies: list[float] = []
        async with AgentClient.connect(hub_proc.base_url, "flooder") as flooder, \
                AgentClient.connect(hub_proc.base_url, "bystander") as bystander:

            async def pound() -> None:
                try:
                    for _ in range(flood):
                        await flooder.send_raw('{"type":"ping"}')
                except ConnectionClosed:
                    pass

            async def watch() -> None:
                while flooder.close_code is None:
                    start = time.perf_counter()
                    await bystander.send("ping")
                    await bystander.expect("pong")
                    latencies.append(time.perf_counter() - start)
                    await trio.sleep(2 / limit.per_second)  # at most half the rate: never over it

            with trio.fail_after(30):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(pound)
                    nursery.start_soon(watch)
                    code = await flooder.expect_close(timeout=20)
                    nursery.cancel_scope.cancel()  # a sender stuck on a full socket
            # the hub closes with 1008 after the error; a client still blasting may instead see
            # the reset of a socket closed with its unread frames in it (1006)
            assert code in (1008, 1006)
            errors = [m["error"] for m in flooder.pending if m["type"] == "error"]
            assert errors == ["rate_limited"] if code == 1008 else errors in ([], ["rate_limited"])
            assert "(flooder) flooded the hub: closed" in hub_proc.log_text()
            pongs = sum(m["type"] == "pong" for m in flooder.pending)
            assert limit.burst - 1 <= pongs < flood  # its identify was the first frame of the burst
            await flooder.abort()
        return latencies

    latencies = trio.run(go)
    assert latencies and max(latencies) < 1.0, latencies
    assert_still_serving(hub_proc)


def test_the_rate_limit_is_a_burst_then_a_steady_rate() -> None:
    limit = RateLimit(rate=500, burst=1000)
    assert all(limit.allow(0.0) for _ in range(1000))
    assert not limit.allow(0.0)
    assert sum(limit.allow(1.0) for _ in range(600)) == 500  # one second refills 500
    assert all(limit.allow(1.0 + i / 400) for i in range(1, 4000))  # 400/s forever is fine
    served = protocol.schemas_json()["limits"]
    assert (served["max_frames_per_second"], served["frame_burst"]) == (500, 1000)


def test_steady_traffic_under_the_limit_is_never_cut(hub_proc: HubProcess) -> None:
    async def go() -> int:
        async with AgentClient.connect(hub_proc.base_url, "steady") as agent:
            for _ in range(1100):  # at most ~400 frames/s: under the limit, past the burst
                await agent.send("task_progress", task_id="nothing-held", progress=1)
                await trio.sleep(0.0025)
            await agent.send("ping")
            await agent.expect("pong")
            return len(agent.pending)

    assert trio.run(go) == 0


# ---------------------------------------------------------------------------------- YAML


yaml_text = st.text(alphabet=string.ascii_letters + string.digits + ":-[]{}&*!|>'\"#%@`,? \n\t.~<=\\",
                    max_size=400)
yaml_structures = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.dates()
    | st.datetimes(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=25)


@st.composite
def mutated_yaml(draw) -> bytes:
    fields = draw(st.dictionaries(st.sampled_from(["id", "title", "priority", "created", "tags",
                                                   "dependencies", "estimated_hours", "agent",
                                                   "description", "status", "x"]),
                                  yaml_structures, max_size=8))
    data = bytearray(yaml.safe_dump(fields, allow_unicode=True).encode())
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        if draw(st.booleans()) and at < len(data):
            del data[at]
        else:
            data[at:at] = draw(st.sampled_from([b"&a ", b"*a", b"!!python/object:os.system ", b"{",
                                                b"[", b"\n  ", b": ", b"- ", b"\x00", b"\xff", b"<<: *a\n",
                                                b"!!binary ", b"? ", b"---\n", b"%YAML 1.1\n"]))
    return bytes(data)


@settings(deadline=None, max_examples=700, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.binary(max_size=500), yaml_text.map(str.encode), mutated_yaml()))
def test_parse_task_only_ever_says_task_incomplete_or_valueerror(data: bytes) -> None:
    start = time.perf_counter()
    try:
        task = parse_task("inbox/fuzz.yaml", data, 0.0)
    except (Incomplete, ValueError):
        pass
    else:
        json.dumps(dict(task.fields), allow_nan=False)  # the API can always serve it
        assert isinstance(task.id, str) and task.id and task.lane == "inbox"
    assert time.perf_counter() - start < 2.0


def test_a_yaml_bomb_is_refused_quickly() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    start = time.perf_counter()
    with pytest.raises(ValueError, match="aliases"):
        parse_task("inbox/bomb.yaml", "\n".join(levels).encode())
    assert time.perf_counter() - start < 0.5


def test_yaml_tags_never_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for doc in [f"x: !!python/object/apply:os.system ['touch {marker}']",
                f"!!python/object/apply:subprocess.check_call [[touch, {marker}]]",
                "x: !!python/name:os.system", "x: &a [*a]"]:
        with pytest.raises(ValueError):
            parse_task("inbox/evil.yaml", doc.encode())
    assert not marker.exists()


# ---------------------------------------------------------------------------------- files on a live hub


def _outside_board(work: Path) -> list[str]:
    return sorted(p.relative_to(work.parent).as_posix() for p in work.parent.rglob("*")
                  if not p.is_relative_to(work))


NASTY_IDS = ["../../x", "../../../etc/passwd", "/tmp/abs", "a/b/c", "nul\x00byte", "x" * MAX_TASK_ID,
             "\u202egpj.exe", "..\u2215..\u2215y", "ＣＯＮ", "e\u0301", "   ", "..", ".", "con:",
             "line\nbreak", "💥" * 50]


async def test_tasks_whose_ids_look_like_paths_are_moved_by_their_file_name(start_hub, board_dir):
    names = [f"nasty-{i}.yaml" for i in range(len(NASTY_IDS))]
    for name, task_id in zip(names, NASTY_IDS, strict=True):
        write_task(board_dir, f"inbox/{name}", task_yaml(id=task_id, title=task_id, shell_command="true"))
    write_task(board_dir, "inbox/too-long.yaml", task_yaml(id="y" * (MAX_TASK_ID + 1), title="long"))
    hub = await start_hub()
    work = board_dir.parent
    before = _outside_board(work)
    listed = (await hub.client.get("/api/tasks")).json()
    assert listed["invalid"] == [{"path": "inbox/too-long.yaml",
                                  "error": f"id is {MAX_TASK_ID + 1} characters, over the "
                                           f"{MAX_TASK_ID} character limit"}]
    async with AgentClient.connect(hub.base_url, "worker") as agent:
        for _ in names:
            assign = await accept_next(agent)
            ack = await complete(agent, assign)
            assert ack["status"] == "complete", assign["task_id"]
    done = sorted(p.name for p in (board_dir / "done" / "worker").iterdir())
    assert done == sorted(names)
    rest = [p.relative_to(board_dir).as_posix() for p in board_dir.rglob("*")
            if p.is_file() and "done/worker" not in p.as_posix()]
    assert rest == ["inbox/too-long.yaml"]  # refused, and left exactly where it was
    assert _outside_board(work) == before
    listed = (await hub.client.get("/api/tasks")).json()
    assert sorted(t["path"] for t in listed["done"]["worker"]) == [f"done/worker/{n}" for n in sorted(names)]


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _write_huge(path: Path, size: int) -> None:
    chunk = ("description: " + "a" * (1024 * 1024 - 14) + "\n").encode()
    with open(path, "wb") as handle:
        handle.write(b"title: huge\n")
        for _ in range(size // len(chunk)):
            handle.write(chunk)


async def test_a_50_mb_task_file_is_a_clear_error_and_costs_no_memory(start_hub, board_dir):
    size = 50 * 1024 * 1024
    _write_huge(board_dir / "inbox" / "at-start.yaml", size)  # seen by the start-up scan
    hub = await start_hub()
    rss = _rss_kib()
    await trio.to_thread.run_sync(_write_huge, board_dir / "inbox" / "while-running.yaml", size)
    write_task(board_dir, "inbox/normal.yaml", task_yaml(title="still works"))

    async def settled():
        body = (await hub.client.get("/api/tasks")).json()
        return body if len(body["invalid"]) == 2 and body["inbox"] else None

    body = await wait_until(settled, timeout=10)
    assert [t["title"] for t in body["inbox"]] == ["still works"]
    for invalid in body["invalid"]:
        assert f"over the {MAX_TASK_FILE_BYTES} byte limit" in invalid["error"]
    assert _rss_kib() - rss < 40 * 1024  # the 50 MB were never read into memory
    assert (board_dir / "inbox" / "at-start.yaml").stat().st_size > size - 2 * 1024 * 1024
    os.remove(board_dir / "inbox" / "while-running.yaml")
