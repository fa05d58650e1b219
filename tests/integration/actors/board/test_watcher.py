"""The real watcher on real temp directories: every change on disk becomes exactly the right event."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import trio
import trio.lowlevel
from conftest import (
    RunningHub,
    atomic_write_task,
    collect_events,
    move_task,
    task_yaml,
    wait_for_event,
    wait_until,
    write_task,
)

TASK_KINDS = ("task.created", "task.updated", "task.moved", "task.assigned", "task.completed",
              "task.removed", "task.invalid", "task.conflict")


async def board_events(hub: RunningHub, sub, quiet: float = 0.25, *, expect: bool = True) -> list:
    """The board events a change caused: the first one (waited for patiently when ``expect``),
    then every other one until none came for ``quiet`` seconds."""
    events = [await wait_for_event(sub, lambda e: e.kind in TASK_KINDS)] if expect else []
    return events + [e for e in await collect_events(sub, quiet=quiet) if e.kind in TASK_KINDS]


async def test_create_modify_delete(running_hub: RunningHub) -> None:
    board, sub = running_hub.board, running_hub.subscribe()
    write_task(board, "inbox/a.yaml", task_yaml(title="A", priority="high"))
    created = await wait_for_event(sub, "task.created")
    assert created.task.id == "a" and created.task.priority == "high" and created.task.lane == "inbox"

    write_task(board, "inbox/a.yaml", task_yaml(title="A, edited", priority="high"))
    updated = await wait_for_event(sub, "task.updated")
    assert (updated.previous.title, updated.task.title) == ("A", "A, edited")

    (board / "inbox" / "a.yaml").unlink()
    removed = await wait_for_event(sub, "task.removed")
    assert removed.task.id == "a"
    assert await board_events(running_hub, sub, expect=False) == []


async def test_moves_between_lanes_are_one_event_each(running_hub: RunningHub) -> None:
    board, sub = running_hub.board, running_hub.subscribe()
    write_task(board, "inbox/t.yaml", task_yaml(title="T"))
    await wait_for_event(sub, "task.created")

    steps = [
        ("inbox/t.yaml", "assigned/bob/t.yaml", "task.assigned"),
        ("assigned/bob/t.yaml", "assigned/amy/t.yaml", "task.assigned"),
        ("assigned/amy/t.yaml", "done/amy/t.yaml", "task.completed"),
        ("done/amy/t.yaml", "dead/t.yaml", "task.moved"),
        ("dead/t.yaml", "inbox/t.yaml", "task.moved"),
    ]
    for src, dst, kind in steps:
        move_task(board, src, dst)
        events = await board_events(running_hub, sub)
        assert [e.kind for e in events] == [kind], (src, dst)
        assert events[0].task.path == dst and events[0].previous.path == src


async def test_a_new_directory_for_a_new_agent_is_watched(running_hub: RunningHub) -> None:
    sub = running_hub.subscribe()
    write_task(running_hub.board, "assigned/brand-new-agent/x.yaml", task_yaml(title="X"))
    created = await wait_for_event(sub, "task.created")
    assert created.task.lane_agent == "brand-new-agent"
    write_task(running_hub.board, "assigned/brand-new-agent/y.yaml", task_yaml(title="Y"))
    assert (await wait_for_event(sub, "task.created")).task.id == "y"


async def test_atomic_saves_are_one_create_then_one_update(running_hub: RunningHub) -> None:
    board, sub = running_hub.board, running_hub.subscribe()
    atomic_write_task(board, "inbox/a.yaml", task_yaml(title="first"))
    events = await board_events(running_hub, sub)
    assert [e.kind for e in events] == ["task.created"] and events[0].task.title == "first"

    atomic_write_task(board, "inbox/a.yaml", task_yaml(title="second"))
    events = await board_events(running_hub, sub)
    assert [e.kind for e in events] == ["task.updated"] and events[0].task.title == "second"
    assert [p.name for p in (board / "inbox").iterdir()] == ["a.yaml"]


async def test_a_file_seen_empty_then_completed_is_exactly_one_create(running_hub: RunningHub) -> None:
    board, sub = running_hub.board, running_hub.subscribe()
    path = write_task(board, "inbox/slow.yaml", b"")
    await trio.sleep(0.03)  # the watcher sees the empty file first
    path.write_text(task_yaml(title="finally"))
    events = await board_events(running_hub, sub, quiet=0.8)
    assert [e.kind for e in events] == ["task.created"] and events[0].task.title == "finally"


async def test_a_half_written_file_then_completed_is_exactly_one_create(running_hub: RunningHub) -> None:
    board, sub = running_hub.board, running_hub.subscribe()
    text = task_yaml(title="half", description="x" * 2000, tags=["a", "b"])
    with open(board / "inbox" / "half.yaml", "w") as handle:
        handle.write('title: "half\ndescription: "xx')  # unterminated: invalid YAML for now
        handle.flush()
        await trio.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(text)
    events = await board_events(running_hub, sub, quiet=0.8)
    assert [e.kind for e in events] == ["task.created"] and events[0].task.title == "half"


async def test_no_create_is_lost_in_a_burst_of_chunked_writes(running_hub: RunningHub) -> None:
    board, sub = running_hub.board, running_hub.subscribe(buffer=0)
    count = 200
    for n in range(count):
        text = task_yaml(title=f"task {n}", description="d" * 300).encode()
        with open(board / "inbox" / f"t{n:03}.yaml", "wb") as handle:
            handle.write(text[:50])
            handle.flush()
            handle.write(text[50:])
        if n % 20 == 0:
            await trio.lowlevel.checkpoint()
    events = await board_events(running_hub, sub, quiet=0.8)
    created = [e.task.id for e in events if e.kind == "task.created"]
    assert sorted(created) == [f"t{n:03}" for n in range(count)]
    assert {e.kind for e in events} == {"task.created"}


async def test_invalid_yaml_is_listed_and_logged_once(running_hub: RunningHub, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="agentdeck.watcher")
    board, sub = running_hub.board, running_hub.subscribe()
    write_task(board, "inbox/bad.yaml", b"title: [never closed\n")
    event = await wait_for_event(sub, "task.invalid")
    assert event.path == "inbox/bad.yaml" and "invalid YAML" in event.invalid.error

    listed = (await running_hub.client.get("/api/tasks")).json()["invalid"]
    assert [item["path"] for item in listed] == ["inbox/bad.yaml"]
    assert "invalid YAML" in listed[0]["error"]

    write_task(board, "inbox/bad.yaml", b"title: [never closed\n")  # saved again, same error
    assert await board_events(running_hub, sub, quiet=0.8, expect=False) == []
    logged = [r for r in caplog.records if "inbox/bad.yaml" in r.getMessage()]
    assert len(logged) == 1

    write_task(board, "inbox/bad.yaml", task_yaml(title="fixed"))
    events = await board_events(running_hub, sub)
    assert [e.kind for e in events] == ["task.invalid", "task.created"] and events[0].invalid is None
    assert (await running_hub.client.get("/api/tasks")).json()["invalid"] == []


async def test_a_deleted_invalid_file_leaves_the_api_listing(running_hub: RunningHub) -> None:
    board, sub = running_hub.board, running_hub.subscribe()
    write_task(board, "inbox/bad.yaml", b"- a list, not a mapping\n")
    await wait_for_event(sub, "task.invalid")
    (board / "inbox" / "bad.yaml").unlink()
    await wait_for_event(sub, lambda e: e.kind == "task.invalid" and e.invalid is None)
    assert (await running_hub.client.get("/api/tasks")).json()["invalid"] == []


async def test_non_task_files_are_ignored(running_hub: RunningHub) -> None:
    board, sub = running_hub.board, running_hub.subscribe()
    write_task(board, "inbox/notes.txt", b"title: no\n")
    write_task(board, "inbox/.hidden.yaml", b"title: no\n")
    write_task(board, "inbox/nested/deep.yaml", b"title: no\n")
    write_task(board, "README.yaml", b"title: no\n")
    assert await board_events(running_hub, sub, expect=False) == []


async def test_a_1000_file_board_starts_complete_and_moves_stay_moves(start_hub, board_dir: Path) -> None:
    for n in range(1000):
        lane = ("inbox", "assigned/bob", "done/amy", "dead")[n % 4]
        write_task(board_dir, f"{lane}/task-{n:04}.yaml", task_yaml(title=f"Task {n}", priority="high"))
    running = await start_hub()
    body = (await running.client.get("/api/tasks")).json()
    assert len(body["inbox"]) == len(body["dead"]) == 250
    assert len(body["assigned"]["bob"]) == len(body["done"]["amy"]) == 250

    sub = running.subscribe(buffer=0)
    carol = board_dir / "assigned" / "carol"
    carol.mkdir()
    await trio.sleep(0.05)  # let the watcher pick up the new directory
    for path in sorted((board_dir / "inbox").iterdir())[:100]:
        os.replace(path, carol / path.name)
    events = await board_events(running, sub, quiet=0.5)
    assert [e.kind for e in events] == ["task.assigned"] * 100
    body = (await running.client.get("/api/tasks")).json()
    assert len(body["inbox"]) == 150 and len(body["assigned"]["carol"]) == 100


async def test_duplicate_ids_on_disk_are_a_conflict(running_hub: RunningHub) -> None:
    board, sub = running_hub.board, running_hub.subscribe()
    write_task(board, "inbox/one.yaml", task_yaml(id="SAME", title="one"))
    await wait_for_event(sub, "task.created")
    write_task(board, "inbox/two.yaml", task_yaml(id="SAME", title="two"))
    conflict = await wait_for_event(sub, "task.conflict")
    assert conflict.task_id == "SAME"
    body = (await running_hub.client.get("/api/tasks")).json()
    assert [t["title"] for t in body["inbox"]] == ["one"]
    assert [i["path"] for i in body["invalid"]] == ["inbox/two.yaml"]

    (board / "inbox" / "one.yaml").unlink()
    promoted = await wait_for_event(sub, "task.created")
    assert promoted.task.title == "two"
    detail = (await running_hub.client.get("/api/tasks/SAME")).json()
    assert detail["path"] == "inbox/two.yaml"


async def test_changes_made_while_the_queue_restarts_are_not_lost(running_hub: RunningHub) -> None:
    from agentdeck.actors.messages import FilesChanged

    sub = running_hub.subscribe()
    await running_hub.hub.queue_mailbox.send(FilesChanged(("not a change",)))  # crashes the queue
    write_task(running_hub.board, "inbox/during.yaml", task_yaml(title="during the restart"))
    await wait_until(lambda: any(a.name == "queue" and a.restarts == 1
                                 for a in running_hub.hub.supervisor.status()))
    created = await wait_for_event(sub, "task.created")
    assert created.task.id == "during"
    assert (await running_hub.client.get("/api/tasks/during")).status_code == 200


async def test_renaming_an_agent_directory_reassigns_its_tasks(running_hub: RunningHub) -> None:
    board, sub = running_hub.board, running_hub.subscribe()
    write_task(board, "assigned/bob/a.yaml", task_yaml(title="A"))
    write_task(board, "assigned/bob/b.yaml", task_yaml(title="B"))
    await collect_events(sub)
    os.rename(board / "assigned" / "bob", board / "assigned" / "amy")
    events = await board_events(running_hub, sub, quiet=0.5)
    assert sorted((e.kind, e.task.id, e.task.lane_agent) for e in events) == [
        ("task.assigned", "a", "amy"), ("task.assigned", "b", "amy")]
    body = (await running_hub.client.get("/api/tasks")).json()
    assert list(body["assigned"]) == ["amy"]


async def test_removing_an_agent_directory_removes_its_tasks(running_hub: RunningHub, tmp_path: Path) -> None:
    board, sub = running_hub.board, running_hub.subscribe()
    write_task(board, "done/bob/a.yaml", task_yaml(title="A"))
    await wait_for_event(sub, "task.created")
    os.rename(board / "done" / "bob", tmp_path / "archived-bob")  # moved out of the board whole
    removed = await wait_for_event(sub, "task.removed")
    assert removed.task.id == "a"


async def test_the_polling_fallback_sees_quick_edits_moves_and_deletes(start_hub, board_dir: Path) -> None:
    write_task(board_dir, "inbox/a.yaml", task_yaml(title="v0"))
    running = await start_hub(force_polling=True)
    assert (await running.client.get("/health")).json()["watcher"]["mode"] == "polling"
    sub = running.subscribe()
    for version in range(1, 4):  # several edits within one second, same size each time
        write_task(board_dir, "inbox/a.yaml", task_yaml(title=f"v{version}"))
        updated = await wait_for_event(sub, "task.updated", timeout=2)
        assert updated.task.title == f"v{version}"
    move_task(board_dir, "inbox/a.yaml", "assigned/new-agent/a.yaml")
    assert [e.kind for e in await board_events(running, sub, quiet=0.4)] == ["task.assigned"]
    write_task(board_dir, "inbox/b.yaml", task_yaml(title="B"))
    assert (await wait_for_event(sub, "task.created", timeout=2)).task.id == "b"
    (board_dir / "assigned" / "new-agent" / "a.yaml").unlink()
    assert (await wait_for_event(sub, "task.removed", timeout=2)).task.id == "a"


async def test_a_board_directory_removed_and_restored_is_watched_again(running_hub: RunningHub,
                                                                      tmp_path: Path) -> None:
    board, sub = running_hub.board, running_hub.subscribe()
    write_task(board, "inbox/a.yaml", task_yaml(title="A"))
    await wait_for_event(sub, "task.created")
    backup = tmp_path / "backup"
    shutil.copytree(board, backup)
    shutil.rmtree(board)
    assert (await wait_for_event(sub, "task.removed")).task.id == "a"
    write_task(backup, "inbox/b.yaml", task_yaml(title="B, restored with the backup"))
    os.rename(backup, board)  # the whole board comes back at once
    created = {(await wait_for_event(sub, "task.created")).task.id for _ in range(2)}
    assert created == {"a", "b"}
    write_task(board, "inbox/c.yaml", task_yaml(title="C"))  # and it is watched again
    assert (await wait_for_event(sub, "task.created")).task.id == "c"


async def test_file_names_that_are_not_utf8_are_ignored_without_losing_other_changes(
        start_hub, board_dir: Path) -> None:
    inbox = os.fsencode(board_dir / "inbox")
    with open(inbox + b"/at-start-\xff.yaml", "wb") as handle:
        handle.write(b"title: latin-1 name\n")
    write_task(board_dir, "inbox/ok-ünïcödé.yaml", task_yaml(title="a proper UTF-8 name"))
    running = await start_hub()
    sub = running.subscribe()
    body = (await running.client.get("/api/tasks")).json()
    assert [t["title"] for t in body["inbox"]] == ["a proper UTF-8 name"] and body["invalid"] == []

    with open(inbox + b"/later-\xfe.yaml", "wb") as handle:  # in the same batch as a good file
        handle.write(b"title: also ignored\n")
    write_task(board_dir, "inbox/good.yaml", task_yaml(title="not lost"))
    assert (await wait_for_event(sub, "task.created")).task.id == "good"
    write_task(board_dir, "inbox/after.yaml", task_yaml(title="still watched"))
    assert (await wait_for_event(sub, "task.created")).task.id == "after"
    health = (await running.client.get("/health")).json()
    assert health["watcher"]["mode"] == "native"
    assert all(actor["restarts"] == 0 for actor in health["actors"]), health["actors"]
