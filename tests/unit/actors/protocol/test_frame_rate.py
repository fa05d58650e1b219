"""The per-connection frame rate is a hub setting: validated when it is made, given to every session
through the hub's ``SessionFactory``, enforced at that rate, and published with the schemas."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import trio

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.actors.protocol import schema as protocol
from agentdeck.actors.protocol.schema import FrameRate
from agentdeck.actors.protocol.session import POLICY_VIOLATION, AgentSession


@pytest.mark.parametrize("per_second", [0, -1, math.nan, math.inf, True, "50"])
def test_a_rate_that_is_not_a_positive_number_is_refused(per_second: Any) -> None:
    with pytest.raises(ValueError, match="agent frame rate must be a positive number"):
        FrameRate(per_second=per_second)


@pytest.mark.parametrize("burst", [0, 0.5, -3, math.nan, math.inf])
def test_a_burst_below_one_frame_is_refused(burst: float) -> None:
    with pytest.raises(ValueError, match="agent frame burst must be a number of frames, at least 1"):
        FrameRate(burst=burst)


def test_the_default_is_the_protocols_and_the_schemas_publish_the_hubs_setting() -> None:
    assert HubConfig(work_dir="w").agent_frame_rate == FrameRate(protocol.MAX_FRAMES_PER_SECOND,
                                                                 protocol.FRAME_BURST)
    assert FrameRate(0.5, 1) == FrameRate(per_second=0.5, burst=1)  # slow, but a valid setting
    served = protocol.schemas_json(FrameRate(50, 100))["limits"]
    assert (served["max_frames_per_second"], served["frame_burst"]) == (50, 100)


async def identified(hub: Hub, agent_id: str) -> AgentSession:
    outbox, _ = trio.open_memory_channel[dict](256)
    session = hub.sessions.open(outbox)
    reply = await session.handle(protocol.encode({"type": "identify", "agent_id": agent_id, "token": None}))
    assert [frame["type"] for frame in reply.frames] == ["identified"], reply
    return session


async def pings_until_closed(session: AgentSession, per_second: float, count: int) -> int | None:
    """``count`` pings at a steady pace; how many were answered before the close, or None."""
    for sent in range(count):
        reply = await session.handle('{"type":"ping"}')
        if reply.close is not None:
            assert reply.close == POLICY_VIOLATION and reply.reason == "rate limited"
            [error] = reply.frames
            assert (error["error"], error["limit_per_second"], error["burst"]) == ("rate_limited", 50, 100)
            return sent
        assert [frame["type"] for frame in reply.frames] == ["pong"]
        await trio.sleep(1 / per_second)
    return None


async def test_a_session_is_closed_at_the_rate_its_hub_was_given(tmp_path: Path, autojump_clock,
                                                                 nursery) -> None:
    hub = Hub(HubConfig(work_dir=tmp_path, port=0, fsync=False, agent_frame_rate=FrameRate(50, 100)))
    await nursery.start(hub.queue.run)
    # 40 a second for 10 s, past the burst many times over: never cut
    assert await pings_until_closed(await identified(hub, "steady"), per_second=40, count=400) is None
    # the burst at once (the identify was its first frame), then the next frame is one too many
    assert await pings_until_closed(await identified(hub, "burst"), per_second=math.inf, count=100) == 99
    # 100 a second: the burst drains at 50 net a second, so the close comes after about 200 frames
    answered = await pings_until_closed(await identified(hub, "over"), per_second=100, count=1000)
    assert answered is not None and 195 <= answered <= 205
