"""The watcher on watchfiles, the backend for systems without inotify (macOS), run here on Linux."""

from __future__ import annotations

from pathlib import Path

import trio
from conftest import task_yaml

from agentdeck.actors.board.portable_notify import WatchfilesNotifier, native_notifier
from agentdeck.actors.board.watcher import Watcher
from agentdeck.actors.bus import EventBus
from agentdeck.actors.messages import FileRead, FilesChanged


async def next_changes(inbox: trio.MemoryReceiveChannel, timeout: float = 10) -> dict[str, str]:
    """The next batch of file changes, as path -> 'read' / 'gone' (rescan requests skipped)."""
    with trio.fail_after(timeout):
        while True:
            message = await inbox.receive()
            if isinstance(message, FilesChanged):
                return {c.path: "read" if isinstance(c, FileRead) else "gone" for c in message.changes}


async def test_watchfiles_sees_creates_edits_moves_and_deletes(tmp_path: Path) -> None:
    board = tmp_path / "collaboration"
    send, inbox = trio.open_memory_channel[object](100)
    watcher = Watcher(board, send, EventBus(), notifier=WatchfilesNotifier)
    async with trio.open_nursery() as nursery:
        await nursery.start(watcher.run)
        task = board / "inbox" / "t1.yaml"
        task.write_text(task_yaml(id="t1", title="one"))
        assert await next_changes(inbox) == {"inbox/t1.yaml": "read"}
        task.write_text(task_yaml(id="t1", title="one, edited"))
        assert await next_changes(inbox) == {"inbox/t1.yaml": "read"}
        (board / "dead" / "t1.yaml").write_bytes(task.read_bytes())
        task.unlink()
        seen: dict[str, str] = {}
        while seen != {"inbox/t1.yaml": "gone", "dead/t1.yaml": "read"}:
            seen |= await next_changes(inbox)
        (board / "dead" / "t1.yaml").unlink()
        assert await next_changes(inbox) == {"dead/t1.yaml": "gone"}
        assert watcher.status().mode == "native"
        nursery.cancel_scope.cancel()


def test_each_platform_gets_its_native_notifier() -> None:
    assert native_notifier("darwin") is WatchfilesNotifier
    assert native_notifier("win32") is WatchfilesNotifier
    assert native_notifier("linux").__name__ == "Notifier"
