"""``/health`` tells the truth: the SSE broadcaster runs under the supervisor (a crash restarts it and
the browsers keep getting changes), an actor that keeps crashing turns health critical naming it,
and ``/health`` says what the dashboard says."""

from __future__ import annotations

import trio
from conftest import task_yaml, wait_until, write_task
from sse_client import lane, open_stream

from agentdeck.actors.messages import FilesChanged
from agentdeck.web.live.broadcaster import Broadcaster


async def health_of(running_hub) -> dict:
    return (await running_hub.client.get("/health")).json()


def actor(health: dict, name: str) -> dict:
    return next(a for a in health["actors"] if a["name"] == name)


async def test_a_crash_in_the_broadcaster_restarts_it_and_browsers_get_the_next_change(running_hub,
                                                                                       monkeypatch):
    health = await health_of(running_hub)
    assert health["status"] == "ok" and health["conditions"] == []
    assert actor(health, "broadcaster") == {**actor(health, "broadcaster"), "restarts": 0, "running": True}
    real_absorb = Broadcaster.absorb
    crashed: list[str] = []

    def absorb_crashing_once(self, event):
        task = getattr(event, "task", None)
        if task is not None and task.id == "boom" and not crashed:
            crashed.append(task.id)
            raise RuntimeError("injected broadcaster fault")
        real_absorb(self, event)

    monkeypatch.setattr(Broadcaster, "absorb", absorb_crashing_once)
    async with open_stream(running_hub.client) as stream:
        await stream.initial()
        write_task(running_hub.board, "inbox/boom.yaml", task_yaml(id="boom", title="the one it chokes on"))

        async def restarted():
            found = actor(await health_of(running_hub), "broadcaster")
            return found if found["restarts"] == 1 and found["running"] else None

        restart = await wait_until(restarted)
        assert "injected broadcaster fault" in restart["last_error"]
        health = await health_of(running_hub)
        assert health["status"] == "warning"
        assert any(c.startswith("actor_restarted: actor broadcaster") for c in health["conditions"])
        write_task(running_hub.board, "inbox/after.yaml", task_yaml(id="after", title="written after the crash"))
        await stream.until(lambda e: lane(e, "inbox") and "written after the crash" in e.data)
        inbox = "".join(e.data for e in stream.seen if lane(e, "inbox"))
        assert "the one it chokes on" in inbox  # the fresh render after the restart brought it too


async def test_an_actor_crashing_five_times_in_a_minute_is_critical_by_name(running_hub):
    hub = running_hub.hub
    for crash in range(1, 6):
        await hub.queue_mailbox.send(FilesChanged(("garbage",)))  # a message the queue chokes on

        async def crashed(count=crash):
            found = actor(await health_of(running_hub), "queue")
            return found["restarts"] == count and found["running"]

        await wait_until(crashed, timeout=10)
    health = await health_of(running_hub)
    assert health["status"] == "critical"
    [loop] = [c for c in health["conditions"] if c.startswith("actor_crash_loop")]
    assert "actor queue crashed 5 times within 60 s" in loop and "AttributeError" in loop
    assert not any(c.startswith("actor_restarted: actor queue") for c in health["conditions"])
    state = (await running_hub.client.get("/api/dashboard/state")).json()
    assert state["health"]["status"] == "critical" and state["health"]["conditions"] == health["conditions"]
    assert len(actor(health, "queue")["recent_crashes"]) == 5


async def test_health_is_cheap(running_hub):
    """A monitor may poll it often: it is answered from the dashboard's cached health part."""
    with trio.fail_after(5):
        for _ in range(50):
            assert (await running_hub.client.get("/health")).status_code == 200
