"""The fleet publisher against a real Redis that goes away: events wait in order, the outbox is
bounded (the oldest go first, counted), and what waited is sent in order once Redis is back."""

from __future__ import annotations

import json
from typing import Any

import redis
import trio
from conftest import wait_until

from agentdeck.actors.bus import EventBus
from agentdeck.actors.fleet import wire
from agentdeck.actors.fleet.publisher import Publisher
from agentdeck.actors.messages import AgentJoined


async def test_a_bounded_outbox_waits_for_redis_and_is_sent_in_order(redis_server) -> None:
    bus, shutdown = EventBus(), trio.Event()

    async def state(broker: Any) -> dict[str, Any]:
        return {"snapshot": {"queue": {"by_status": {"inbox": 1}}}, "telemetry": None, "fleet_stats": None,
                "broker": broker}

    publisher = Publisher("h1", redis_server.url, bus, state, lambda: {"url": None}, shutdown,
                          outbox_limit=5, heartbeat=0.05, retry_max=0.1)
    redis_server.kill()
    async with trio.open_nursery() as nursery:
        await nursery.start(publisher.run)
        for n in range(20):
            bus.publish(AgentJoined(agent_id=f"a{n}", name=f"agent {n}"))
        await wait_until(lambda: publisher.status()["dropped"] == 15 and publisher.error is not None)
        status = publisher.status()
        assert status["pending_events"] == 5 and status["buffering"] and not status["connected"]
        assert status["down_since"] is not None
        redis_server.start()
        await wait_until(lambda: publisher.connected and publisher.status()["pending_events"] == 0, timeout=10)
        client = redis.Redis.from_url(redis_server.url)
        sent = [json.loads(fields[b"e"])["agent"] for _, fields in client.xrange(wire.events_key("h1"))]
        assert sent == [f"a{n}" for n in range(15, 20)]
        assert json.loads(client.get(wire.state_key("h1")))["lanes"]["inbox"] == 1
        assert client.hexists(wire.REGISTRY_KEY, "h1")
        shutdown.set()
        await wait_until(lambda: client.get(wire.state_key("h1")) is None)  # a clean stop says so
        nursery.cancel_scope.cancel()
