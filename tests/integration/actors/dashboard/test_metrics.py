"""``GET /metrics`` on a real hub: Prometheus text fed by a real agent run, clients and restarts."""

from __future__ import annotations

import prometheus_client
import trio
from agent_client import AgentClient, accept_next, complete
from conftest import task_yaml, wait_until, write_task
from prometheus_client.parser import text_string_to_metric_families
from trio_websocket import open_websocket_url


async def scrape(running) -> dict[tuple[str, tuple], float]:
    response = await running.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def test_metrics_follow_a_real_agent_run(start_hub, board_dir):
    write_task(board_dir, "inbox/m1.yaml", task_yaml(id="m1", title="Metered", shell_command="true"))
    write_task(board_dir, "inbox/m2.yaml", task_yaml(id="m2", title="Waits", needed_capabilities=["gpu"]))
    running = await start_hub()
    async with AgentClient.connect(running.base_url, "bot-1", capabilities=["shell"]) as agent:
        assign = await accept_next(agent, task_id="m1")
        for n in range(3):
            await agent.send("task_progress", task_id="m1",
                             execution_event={"event_type": "stdout", "text": f"line {n}"})
        await agent.send("task_progress", task_id="m1", execution_event={"event_type": "token", "text": "t"})
        await complete(agent, assign, model_used="claude-sonnet-4-5", tokens_in=2000, tokens_out=1000)

        async def settled():
            samples = await scrape(running)
            return samples if value(samples, "agentdeck_task_outcomes_total", outcome="completed") else None

        samples = await wait_until(settled)
        assert value(samples, "agentdeck_tasks", lane="done") == 1
        assert value(samples, "agentdeck_tasks", lane="inbox") == 1
        assert value(samples, "agentdeck_agents", state="idle") == 1
        assert value(samples, "agentdeck_agents", state="working") == 0
        assert value(samples, "agentdeck_events_total", kind="task.completed") == 1
        assert value(samples, "agentdeck_events_total", kind="agent.joined") == 1
        assert value(samples, "agentdeck_execution_events_total", event_type="stdout") == 3
        assert value(samples, "agentdeck_execution_events_total", event_type="token") == 1
        assert value(samples, "agentdeck_task_duration_seconds_count") == 1
        assert value(samples, "agentdeck_tokens_total", direction="in") == 2000
        assert value(samples, "agentdeck_tokens_total", direction="out") == 1000
        assert value(samples, "agentdeck_cost_usd_total") > 0
        assert value(samples, "agentdeck_actor_restarts", actor="queue") == 0
        assert value(samples, "agentdeck_bus_subscribers") >= 2


async def test_stream_clients_and_actor_restarts(running_hub, nursery):
    hub = running_hub.hub
    url = running_hub.base_url.replace("http://", "ws://") + "/ws/dashboard"
    async with open_websocket_url(url) as ws:
        await ws.get_message()
        assert value(await scrape(running_hub), "agentdeck_stream_clients", transport="ws") == 1
        with hub.stream_clients.track("sse"):  # what the SSE handler does per browser
            assert value(await scrape(running_hub), "agentdeck_stream_clients", transport="sse") == 1
    await wait_until(lambda: hub.stream_clients.count("ws") == 0)
    samples = await scrape(running_hub)
    assert value(samples, "agentdeck_stream_clients", transport="ws") == 0
    assert value(samples, "agentdeck_stream_clients", transport="sse") == 0

    crashed = trio.Event()

    async def flaky(*, task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        if not crashed.is_set():
            crashed.set()
            raise RuntimeError("flaky actor fell over")
        await trio.sleep_forever()

    await nursery.start(hub.supervisor.run, "flaky", flaky)
    await wait_until(lambda: any(r.name == "flaky" and r.running and r.restarts == 1
                                 for r in hub.supervisor.status()))
    assert value(await scrape(running_hub), "agentdeck_actor_restarts", actor="flaky") == 1
    snapshot = (await running_hub.client.get("/api/dashboard/state")).json()
    assert any(c.startswith("actor_restarted: actor flaky restarted") for c in snapshot["health"]["conditions"])


async def test_each_hub_has_its_own_registry(start_hub):
    first = await start_hub()
    assert first.hub.metrics.registry is not prometheus_client.REGISTRY
    assert prometheus_client.REGISTRY.get_sample_value("agentdeck_bus_subscribers") is None
    text = (await first.client.get("/metrics")).text
    assert "# TYPE agentdeck_tasks gauge" in text and "# TYPE agentdeck_task_duration_seconds histogram" in text


async def test_unknown_execution_event_types_share_one_label(running_hub):
    from agentdeck.actors.messages import ExecutionEvent

    for n in range(5):
        running_hub.bus.publish(ExecutionEvent(task_id="t", agent_id="a", generation=1,
                                               event_type=f"made-up-{n}", text="x"))

    async def counted():
        samples = await scrape(running_hub)
        return samples if value(samples, "agentdeck_execution_events_total", event_type="other") == 5 else None

    samples = await wait_until(counted)
    assert not [key for key in samples if "made-up" in str(key)]
