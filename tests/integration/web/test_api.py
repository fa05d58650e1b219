"""The JSON API against a real server on a free port."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import RunningHub, task_yaml, wait_until, write_task

from agentdeck.actors.config import HubConfig
from agentdeck.actors.hub import Hub
from agentdeck.actors.messages import FilesChanged
from agentdeck.web.app import create_app
from agentdeck.web.errors import INTERNAL_MESSAGE

SUMMARY_KEYS = {"id", "title", "lane", "lane_agent", "agent", "status", "priority", "created", "description",
                "dependencies", "estimated_hours", "tags", "generation", "retry_count", "path"}


@pytest.fixture
async def hub(start_hub, board_dir: Path) -> RunningHub:
    write_task(board_dir, "inbox/low.yaml", task_yaml(title="Low", priority="low", created="2026-11-01"))
    write_task(board_dir, "inbox/urgent.yaml", task_yaml(title="Urgent", priority="URGENT", created="2026-11-03"))
    write_task(board_dir, "inbox/high-old.yaml", task_yaml(title="High old", priority="high", created="2026-11-01"))
    write_task(board_dir, "inbox/for-bob.yaml", task_yaml(title="Suggested for bob", agent="bob"))
    write_task(board_dir, "assigned/bob/b1.yaml", task_yaml(id="B-1", title="Bob's", priority="high",
                                                             tags=["api"], estimated_hours=2, owner_note="keep"))
    write_task(board_dir, "assigned/amy/a1.yaml", task_yaml(title="Amy's", priority="low"))
    write_task(board_dir, "done/bob/d1.yaml", task_yaml(title="Bob finished", completed_at="2026-11-20T10:00:00"))
    write_task(board_dir, "dead/x.yaml", task_yaml(title="Dead letter"))
    write_task(board_dir, "inbox/broken.yaml", b"title: [\n")
    return await start_hub()


def ids(tasks: list[dict]) -> list[str]:
    return [t["id"] for t in tasks]


async def test_health_lists_actors_with_restart_counts(hub: RunningHub) -> None:
    response = await hub.client.get("/health")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["uptime_s"] >= 0
    # the real status: the fixture's board holds one unreadable file
    assert body["status"] == "warning", body["conditions"]
    assert body["conditions"] == ["invalid_task_files: 1 task file(s) cannot be read: inbox/broken.yaml"]
    actors = {a["name"]: a for a in body["actors"]}
    assert {"watcher", "queue"} <= set(actors)
    assert actors["queue"]["restarts"] == 0 and actors["queue"]["running"] is True

    await hub.hub.queue_mailbox.send(FilesChanged(("garbage",)))  # a message the queue chokes on

    async def queue_restarted():
        actors = {a["name"]: a for a in (await hub.client.get("/health")).json()["actors"]}
        return actors["queue"] if actors["queue"]["restarts"] == 1 and actors["queue"]["running"] else None

    queue = await wait_until(queue_restarted)
    assert "AttributeError" in queue["last_error"]
    others = [a for a in (await hub.client.get("/health")).json()["actors"] if a["name"] != "queue"]
    assert all(a["restarts"] == 0 for a in others)
    assert (await hub.client.get("/api/tasks/B-1")).status_code == 200  # the board survived


async def test_tasks_shape_and_order(hub: RunningHub) -> None:
    response = await hub.client.get("/api/tasks")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["inbox", "assigned", "done", "dead", "invalid", "timestamp"]
    assert ids(body["inbox"]) == ["urgent", "high-old", "for-bob", "low"]
    assert set(body["assigned"]) == {"bob", "amy"} and ids(body["assigned"]["bob"]) == ["B-1"]
    assert ids(body["done"]["bob"]) == ["d1"] and ids(body["dead"]) == ["x"]
    assert body["invalid"] == [{"path": "inbox/broken.yaml", "error": body["invalid"][0]["error"]}]
    assert "invalid YAML" in body["invalid"][0]["error"]
    assert isinstance(body["timestamp"], float)
    bob = body["assigned"]["bob"][0]
    assert set(bob) == SUMMARY_KEYS
    assert (bob["lane"], bob["lane_agent"], bob["agent"], bob["priority"]) == ("assigned", "bob", "bob", "high")
    assert bob["path"] == "assigned/bob/b1.yaml" and bob["tags"] == ["api"] and bob["estimated_hours"] == 2.0
    assert body["inbox"][0]["priority"] == "critical"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("agent=bob", {"inbox": ["for-bob"], "assigned": {"bob": ["B-1"]}, "done": {"bob": ["d1"]}, "dead": []}),
        ("agent=nobody", {"inbox": [], "assigned": {}, "done": {}, "dead": []}),
        ("priority=high", {"inbox": ["high-old"], "assigned": {"bob": ["B-1"]}, "done": {}, "dead": []}),
        ("priority=CRITICAL", {"inbox": ["urgent"], "assigned": {}, "done": {}, "dead": []}),
        ("lane=dead", {"inbox": [], "assigned": {}, "done": {}, "dead": ["x"]}),
        ("lane=assigned&priority=low", {"inbox": [], "assigned": {"amy": ["a1"]}, "done": {}, "dead": []}),
        ("include_done=false", {"inbox": ["urgent", "high-old", "for-bob", "low"],
                                "assigned": {"bob": ["B-1"], "amy": ["a1"]}, "done": {}, "dead": ["x"]}),
        ("include_done=0&agent=bob", {"inbox": ["for-bob"], "assigned": {"bob": ["B-1"]}, "done": {}, "dead": []}),
        ("lane=done&include_done=true", {"inbox": [], "assigned": {}, "done": {"bob": ["d1"]}, "dead": []}),
        ("agent=&priority=&lane=", {"inbox": ["urgent", "high-old", "for-bob", "low"],
                                    "assigned": {"bob": ["B-1"], "amy": ["a1"]}, "done": {"bob": ["d1"]},
                                    "dead": ["x"]}),
    ],
)
async def test_filters(hub: RunningHub, query: str, expected: dict) -> None:
    response = await hub.client.get(f"/api/tasks?{query}")
    assert response.status_code == 200
    body = response.json()
    got = {
        "inbox": ids(body["inbox"]),
        "assigned": {agent: ids(tasks) for agent, tasks in body["assigned"].items()},
        "done": {agent: ids(tasks) for agent, tasks in body["done"].items()},
        "dead": ids(body["dead"]),
    }
    assert got == expected
    assert [i["path"] for i in body["invalid"]] == ["inbox/broken.yaml"]  # always listed


@pytest.mark.parametrize(
    ("query", "mentions"),
    [("priority=extreme", "priority"), ("lane=nowhere", "lane"), ("lane=INBOX", "lane"),
     ("include_done=maybe", "include_done")],
)
async def test_a_bad_filter_is_a_400_with_a_json_error(hub: RunningHub, query: str, mentions: str) -> None:
    response = await hub.client.get(f"/api/tasks?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_request" and mentions in body["message"]


async def test_one_task_with_all_its_fields_and_path(hub: RunningHub) -> None:
    response = await hub.client.get("/api/tasks/B-1")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == SUMMARY_KEYS | {"fields"}
    assert body["path"] == "assigned/bob/b1.yaml" and body["title"] == "Bob's"
    assert body["fields"] == {"id": "B-1", "title": "Bob's", "priority": "high", "tags": ["api"],
                              "estimated_hours": 2, "owner_note": "keep"}


async def test_an_unknown_id_is_a_404_with_a_json_error(hub: RunningHub) -> None:
    for path in ("/api/tasks/nope", "/api/tasks/a/b", "/api/tasks/broken"):
        response = await hub.client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["error"] == "not_found"
    assert "'nope'" in (await hub.client.get("/api/tasks/nope")).json()["message"]


async def test_an_id_with_a_slash_can_be_fetched(start_hub, board_dir: Path) -> None:
    write_task(board_dir, "inbox/odd.yaml", task_yaml(id="team/42", title="Slashed"))
    running = await start_hub()
    response = await running.client.get("/api/tasks/team/42")
    assert response.status_code == 200 and response.json()["title"] == "Slashed"


async def test_unknown_routes_and_methods_answer_json(hub: RunningHub) -> None:
    missing = await hub.client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = await hub.client.delete("/api/tasks")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


async def test_the_api_follows_changes_on_disk(hub: RunningHub) -> None:
    write_task(hub.board, "inbox/new.yaml", task_yaml(title="New"))
    (hub.board / "inbox" / "low.yaml").rename(hub.board / "dead" / "low.yaml")

    async def changed():
        body = (await hub.client.get("/api/tasks")).json()
        return "new" in ids(body["inbox"]) and "low" in ids(body["dead"]) and "low" not in ids(body["inbox"])

    await wait_until(changed)


async def test_every_error_answer_is_json_with_its_status(hub: RunningHub) -> None:
    wrong = await hub.client.delete("/api/tasks")
    assert wrong.status_code == 405 and wrong.headers["content-type"] == "application/json"
    assert wrong.json()["message"] and "GET" in wrong.headers["allow"]
    for method, path in (("PUT", "/"), ("DELETE", "/graph"), ("PATCH", "/api/stats")):
        answer = await hub.client.request(method, path)
        assert answer.status_code == 405, (method, path)
        assert answer.json()["error"] == "method_not_allowed" and answer.json()["message"]


async def test_an_unexpected_exception_is_a_logged_json_500(work_dir: Path, board_dir: Path, caplog) -> None:
    app = create_app(Hub(HubConfig(work_dir=work_dir, port=0)))

    @app.get("/boom")
    async def boom():
        raise RuntimeError("a bug")

    response = await app.test_client().get("/boom")
    assert response.status_code == 500
    assert await response.get_json() == {"error": "internal_error", "message": INTERNAL_MESSAGE}
    assert any("a bug" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)  # the traceback is logged
