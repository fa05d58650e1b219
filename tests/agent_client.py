"""A protocol-level agent for tests: speaks raw JSON frames to the hub's ``/ws`` over a real socket.

It is deliberately not the reference agent: tests need to send exactly what they want (including
garbage) and see exactly what the hub answers. Frames that arrive while a test waits for another
type are kept, in order, for a later ``expect``, because the hub's replies (``task_ack``) and its
pushes (``task_assign``) travel on the same socket and may interleave.

    async with AgentClient.connect(hub.base_url, "a1") as agent:   # connects and identifies
        assign = await agent.expect("task_assign")
        await agent.send("task_accepted", task_id=assign["task_id"])
        await agent.expect("task_ack", task_id=assign["task_id"], status="accepted")
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

TIMEOUT = 5.0


def ws_url(base_url: str) -> str:
    """``http://127.0.0.1:PORT`` -> ``ws://127.0.0.1:PORT/ws``."""
    return base_url.replace("http://", "ws://", 1).rstrip("/") + "/ws"


class AgentClient:
    def __init__(self, ws: WebSocketConnection, agent_id: str | None) -> None:
        self.ws = ws
        self.agent_id = agent_id
        self.pending: list[dict[str, Any]] = []  # received but not yet expected
        self.close_code: int | None = None

    @classmethod
    @asynccontextmanager
    async def connect(cls, base_url: str, agent_id: str | None = None, *, identify: bool = True,
                      token: str | None = None, max_message_size: int = 4 * 1024 * 1024,
                      **identify_fields: Any) -> AsyncIterator[AgentClient]:
        """Open ``/ws``; with ``agent_id`` and ``identify`` it also identifies and expects ``identified``."""
        async with open_websocket_url(ws_url(base_url), max_message_size=max_message_size,
                                      disconnect_timeout=2) as ws:
            client = cls(ws, agent_id)
            if identify and agent_id is not None:
                await client.identify(token=token, **identify_fields)
            yield client

    # ------------------------------------------------------------------ sending

    async def send(self, type: str, **fields: Any) -> None:
        await self.send_raw(json.dumps({"type": type, **fields}))

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send_message(frame)

    async def identify(self, *, token: str | None = None, **fields: Any) -> dict[str, Any]:
        """Identify and expect ``identified``, which must be the first frame the hub sends."""
        await self.send("identify", agent_id=self.agent_id, token=token, **fields)
        identified = await self.expect("identified", agent_id=self.agent_id)
        assert not self.pending, f"{self.agent_id}: {self.pending} arrived before identified"
        return identified

    # ------------------------------------------------------------------ receiving

    async def receive(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame (a kept one first), as a dict; fails the test on timeout."""
        if self.pending:
            return self.pending.pop(0)
        with trio.move_on_after(timeout):
            return json.loads(await self.ws.get_message())
        pytest.fail(f"{self.agent_id}: no frame within {timeout} s")

    async def expect(self, type: str, timeout: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        """The first frame of ``type`` whose fields equal ``match``; others are kept for later."""
        def fits(frame: dict[str, Any]) -> bool:
            return frame.get("type") == type and all(frame.get(k) == v for k, v in match.items())

        for index, frame in enumerate(self.pending):
            if fits(frame):
                return self.pending.pop(index)
        skipped: list[dict[str, Any]] = []
        try:
            with trio.move_on_after(timeout):
                while True:
                    frame = json.loads(await self.ws.get_message())
                    if fits(frame):
                        return frame
                    skipped.append(frame)
        finally:
            self.pending.extend(skipped)
        pytest.fail(f"{self.agent_id}: no {type} {match or ''} within {timeout} s; got {skipped}")

    async def expect_error(self, error: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await self.expect("error", timeout, error=error)

    async def expect_silence(self, seconds: float = 0.2) -> None:
        """Nothing at all arrives for ``seconds`` (nor is anything kept from before)."""
        assert not self.pending, f"{self.agent_id}: unexpected frames {self.pending}"
        with trio.move_on_after(seconds):
            frame = await self.ws.get_message()
            pytest.fail(f"{self.agent_id}: expected silence, got {frame}")

    async def expect_close(self, timeout: float = TIMEOUT) -> int | None:
        """Read until the hub closes the connection; returns the close code (frames are kept)."""
        with trio.move_on_after(timeout):
            try:
                while True:
                    self.pending.append(json.loads(await self.ws.get_message()))
            except ConnectionClosed as closed:
                self.close_code = closed.reason.code
                return self.close_code
        pytest.fail(f"{self.agent_id}: the hub did not close within {timeout} s; got {self.pending}")

    # ------------------------------------------------------------------ ending

    async def abort(self) -> None:
        """Drop the TCP connection without a closing handshake, as a killed process would."""
        await self.ws._stream.aclose()


async def accept_next(agent: AgentClient, **match: Any) -> dict[str, Any]:
    """Wait for a ``task_assign`` (matching ``match``), accept it, and return the assignment."""
    assign = await agent.expect("task_assign", **match)
    await agent.send("task_accepted", task_id=assign["task_id"])
    await agent.expect("task_ack", task_id=assign["task_id"], status="accepted")
    return assign


async def complete(agent: AgentClient, assign: dict[str, Any], **result: Any) -> dict[str, Any]:
    """Report the assignment done (``result`` fields default to a small success); returns the ack."""
    await agent.send("task_complete", task_id=assign["task_id"], generation=assign["generation"],
                     result={"status": "success", "output": "ok", **result})
    return await agent.expect("task_ack", task_id=assign["task_id"])
