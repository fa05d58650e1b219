"""``/ws/dashboard`` against a real hub with trio-websocket: snapshot, batching, commands, slow clients."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from agent_client import AgentClient, accept_next
from conftest import make_task, task_yaml, wait_until, write_task
from trio_websocket import ConnectionRejected, open_websocket_url

from agentdeck.actors.messages import ExecutionEvent, TaskCreated
from agentdeck.web.routes import dashboard as dashboard_api


def ws_url(running) -> str:
    return running.base_url.replace("http://", "ws://") + "/ws/dashboard"


async def receive(ws, timeout: float = 5.0) -> dict[str, Any]:
    with trio.fail_after(timeout):
        return json.loads(await ws.get_message())


async def receive_type(ws, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next message of ``kind``, skipping event batches the board's own changes caused."""
    with trio.fail_after(timeout):
        while True:
            message = await receive(ws, timeout)
            if message["type"] == kind:
                return message


async def test_snapshot_on_connect_and_on_request(running_hub):
    async with open_websocket_url(ws_url(running_hub)) as ws:
        first = await receive(ws)
        assert first["type"] == "snapshot"
        assert first["data"]["health"]["status"] == "ok" and "queue" in first["data"]
        await ws.send_message(json.dumps({"type": "request_snapshot"}))
        again = await receive(ws)
        assert again["type"] == "snapshot" and again["data"]["timestamp"] >= first["data"]["timestamp"]


async def test_a_lone_event_goes_out_at_once(running_hub, monkeypatch):
    monkeypatch.setattr(dashboard_api, "BATCH_WINDOW", 3.0)  # merging could only delay it by 3 s
    async with open_websocket_url(ws_url(running_hub)) as ws:
        await receive(ws)
        started = trio.current_time()
        running_hub.bus.publish(TaskCreated(task=make_task("lone")))
        message = await receive(ws)
        assert trio.current_time() - started < 1.5
        assert message["type"] == "events"
        assert [(e["type"], e["task_id"]) for e in message["data"]] == [("task.created", "lone")]


async def test_a_burst_of_200_events_arrives_in_few_batches_in_order(running_hub):
    async with open_websocket_url(ws_url(running_hub)) as ws:
        await receive(ws)
        for n in range(200):
            running_hub.bus.publish(TaskCreated(task=make_task(f"t{n}")))
        batches: list[list[dict]] = []
        while sum(len(b) for b in batches) < 200:
            message = await receive(ws)
            assert message["type"] == "events"
            batches.append(message["data"])
        # a handful of batches, not 200 messages (how many depends on how busy the machine is)
        assert len(batches) <= 10
        assert len(batches[0]) == 1  # the leading edge went at once
        assert [e["task_id"] for b in batches for e in b] == [f"t{n}" for n in range(200)]


async def test_events_spread_over_half_a_second_are_merged_per_window(running_hub):
    async with open_websocket_url(ws_url(running_hub)) as ws:
        await receive(ws)
        started = trio.current_time()
        for n in range(100):
            running_hub.bus.publish(TaskCreated(task=make_task(f"t{n}")))
            await trio.sleep(0.005)
        elapsed = trio.current_time() - started
        batches = 0
        seen = 0
        while seen < 100:
            message = await receive(ws)
            batches += 1
            seen += len(message["data"])
        # ~0.5 s of events: one batch per 100 ms window (plus the leading edge), not 100 messages
        assert 2 <= batches <= elapsed / dashboard_api.BATCH_WINDOW + 2


async def test_execution_events_are_forwarded_promptly(running_hub, monkeypatch):
    monkeypatch.setattr(dashboard_api, "BATCH_WINDOW", 3.0)
    async with open_websocket_url(ws_url(running_hub)) as ws:
        await receive(ws)
        running_hub.bus.publish(TaskCreated(task=make_task("opens-a-window")))
        assert (await receive(ws))["type"] == "events"
        started = trio.current_time()
        running_hub.bus.publish(TaskCreated(task=make_task("waits-for-the-window")))
        running_hub.bus.publish(ExecutionEvent(task_id="t1", agent_id="a1", generation=1,
                                               event_type="stdout", text="hello"))
        message = await receive(ws)
        assert trio.current_time() - started < 1.5
        assert message == {"type": "execution_event", "data": {
            "type": "execution_event", "at": message["data"]["at"], "task_id": "t1", "agent_id": "a1",
            "generation": 1, "event_type": "stdout", "text": "hello", "tokens_so_far": None,
            "model": None, "timestamp": None}}
        batch = await receive(ws)
        assert [e["task_id"] for e in batch["data"]] == ["waits-for-the-window"]


async def test_retry_and_cancel_go_to_the_queue(running_hub):
    board = running_hub.board
    write_task(board, "dead/d1.yaml", task_yaml(id="d1", title="Dead", retry_count=3, last_error="x"))
    write_task(board, "inbox/q1.yaml", task_yaml(id="q1", title="Queued", needed_capabilities=["none"]))
    await wait_until(lambda: (board / "dead/d1.yaml").exists())

    async def on_board():
        snap = (await running_hub.client.get("/api/dashboard/state")).json()
        return snap["queue"]["dead_letter"] == 1 and snap["queue"]["by_status"]["inbox"] == 1

    await wait_until(on_board)
    async with open_websocket_url(ws_url(running_hub)) as ws:
        await receive(ws)
        await ws.send_message(json.dumps({"type": "retry_task", "task_id": "d1"}))
        assert await receive_type(ws, "retry_result") == {"type": "retry_result", "task_id": "d1",
                                                          "status": "requeued"}
        await wait_until(lambda: (board / "inbox/d1.yaml").exists())
        await ws.send_message(json.dumps({"type": "retry_task", "task_id": "nope"}))
        assert (await receive_type(ws, "retry_result"))["status"] == "not_found"

        await ws.send_message(json.dumps({"type": "cancel_task", "task_id": "q1"}))
        assert await receive_type(ws, "cancel_result") == {"type": "cancel_result", "task_id": "q1",
                                                           "status": "cancelled"}
        await wait_until(lambda: (board / "dead/q1.yaml").exists())
        await ws.send_message(json.dumps({"type": "cancel_task", "task_id": "nope"}))
        assert (await receive_type(ws, "cancel_result"))["status"] == "not_found"

        await ws.send_message(json.dumps({"type": "retry_task", "task_id": 42}))
        error = await receive_type(ws, "error")
        assert error["error"] == "invalid_task_id" and error["request"] == "retry_task"


async def test_unknown_and_malformed_messages_are_ignored(running_hub):
    async with open_websocket_url(ws_url(running_hub)) as ws:
        await receive(ws)
        for junk in ("not json", "[1, 2]", json.dumps({"type": "bogus"}), json.dumps({"no": "type"}), "7"):
            await ws.send_message(junk)
        await ws.send_message(json.dumps({"type": "request_snapshot"}))
        assert (await receive(ws))["type"] == "snapshot"  # nothing was answered before it


async def test_a_client_that_stops_reading_gets_a_snapshot_and_slows_no_one(running_hub, monkeypatch):
    monkeypatch.setattr(dashboard_api, "CLIENT_BUFFER", 32)
    big = "x" * 65536
    count = 300  # ~20 MB per client: far more than the socket buffers hold
    async with open_websocket_url(ws_url(running_hub)) as slow, \
            open_websocket_url(ws_url(running_hub), max_message_size=2**20) as fast:
        await receive(slow)
        await receive(fast)
        assert running_hub.hub.stream_clients.count("ws") == 2
        received: list[dict] = []

        async def read_fast() -> None:
            while len(received) < count:
                message = await receive(fast)
                if message["type"] == "execution_events":  # what came while one was sent
                    received.extend(message["data"])
                else:
                    assert message["type"] == "execution_event"
                    received.append(message["data"])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_fast)
            for n in range(count):
                # paced by the fast reader (never more than 8 ahead, well inside its buffer), so a
                # loaded machine cannot make it lag; the slow one reads nothing at all
                await wait_until(lambda n=n: n - len(received) <= 8, timeout=30)
                running_hub.bus.publish(ExecutionEvent(task_id="t", agent_id="a", generation=1,
                                                       event_type="stdout", text=f"{n}:{big}"))
        assert [e["text"].split(":")[0] for e in received] == [str(n) for n in range(count)]

        kinds = []
        while "snapshot" not in kinds:
            kinds.append((await receive(slow))["type"])
        assert len(kinds) < count  # it was not sent the whole backlog
        assert set(kinds[:-1]) <= {"execution_event", "execution_events"}


async def test_cross_site_pages_may_not_open_the_socket_and_cleanup_on_disconnect(running_hub):
    hub = running_hub.hub
    baseline = hub.bus.subscriber_count
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(ws_url(running_hub),
                                      extra_headers=[(b"Origin", b"http://evil.example")]):
            pass
    assert rejected.value.status_code == 403
    host = running_hub.base_url.removeprefix("http://").encode()
    async with open_websocket_url(ws_url(running_hub), extra_headers=[(b"Origin", b"http://" + host)]) as ws:
        assert (await receive(ws))["type"] == "snapshot"
        assert hub.bus.subscriber_count == baseline + 1
        assert hub.stream_clients.count("ws") == 1
    await wait_until(lambda: hub.bus.subscriber_count == baseline and hub.stream_clients.count("ws") == 0)


async def test_the_socket_closes_going_away_when_the_hub_stops(running_hub):
    from trio_websocket import ConnectionClosed

    async with open_websocket_url(ws_url(running_hub)) as ws:
        await receive(ws)
        running_hub.hub.stop()
        with trio.fail_after(2), pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.get_message()
        assert closed.value.reason.code == 1001


async def test_a_chatty_agents_output_reaches_every_dashboard_once_in_order(start_hub, board_dir):
    """An agent streaming 1,000 lines unbatched: both dashboards get each line once, in order
    (one frame per line while a socket keeps up, what came meanwhile in one frame when not)."""
    write_task(board_dir, "inbox/t.yaml", task_yaml(id="t", title="chatty"))
    running = await start_hub()
    count = 1000
    seen: list[list[tuple[str, list[str]]]] = [[], []]

    async def watch(ws, frames: list[tuple[str, list[str]]]) -> None:
        while sum(len(lines) for _, lines in frames) < count:
            message = await receive(ws, timeout=30)
            if message["type"] == "execution_event":
                frames.append((message["type"], [message["data"]["text"]]))
            elif message["type"] == "execution_events":
                frames.append((message["type"], [e["text"] for e in message["data"]]))

    async with open_websocket_url(ws_url(running)) as first, open_websocket_url(ws_url(running)) as second:
        await receive_type(first, "snapshot")
        await receive_type(second, "snapshot")
        async with AgentClient.connect(running.base_url, "a1") as agent, trio.open_nursery() as nursery:
            await accept_next(agent, task_id="t")
            nursery.start_soon(watch, first, seen[0])
            nursery.start_soon(watch, second, seen[1])
            for n in range(count):  # unbatched, under the 500 frames/s rate: nothing is held back
                await agent.send("task_progress", task_id="t",
                                 execution_event={"event_type": "stdout", "text": f"{n}\n"})
                if n % 100 == 99:
                    await trio.sleep(0.25)
    for frames in seen:
        assert [line for _, lines in frames for line in lines] == [f"{n}\n" for n in range(count)]
        assert all((kind == "execution_event") == (len(lines) == 1) for kind, lines in frames)
