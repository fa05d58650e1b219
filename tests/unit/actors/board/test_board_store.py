"""Crash-safe moves: whatever instant a crash lands on, recover() leaves exactly the old or new state."""

from __future__ import annotations

import json
import os
import pathlib
from pathlib import Path

import pytest

from agentdeck.actors.board import store as board_store
from agentdeck.actors.board.store import TMP_SUFFIX, BoardStore, PathEscape
from agentdeck.actors.board.taskfile import lane_of


@pytest.fixture
def store(tmp_path: Path) -> BoardStore:
    (tmp_path / "board" / "inbox").mkdir(parents=True)
    return BoardStore(tmp_path / "board", tmp_path / "state", fsync=True)


def files_under(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_move_writes_the_new_text_and_removes_the_source(store: BoardStore) -> None:
    (store.root / "inbox" / "a.yaml").write_text("title: old\n")
    store.move("inbox/a.yaml", "assigned/bob/a.yaml", "title: new\n")
    assert files_under(store.root) == {"assigned/bob/a.yaml": "title: new\n"}
    assert list(store.journal_dir.iterdir()) == []


def test_write_replaces_in_place(store: BoardStore) -> None:
    (store.root / "inbox" / "a.yaml").write_text("title: old\n")
    store.write("inbox/a.yaml", "title: new\n")
    store.write("inbox/b.yaml", "title: created\n")
    assert files_under(store.root) == {"inbox/a.yaml": "title: new\n", "inbox/b.yaml": "title: created\n"}


def test_a_reader_never_sees_a_partial_file(store: BoardStore) -> None:
    target = store.root / "inbox" / "a.yaml"
    target.write_text("title: old\n")
    inode = target.stat().st_ino
    store.write("inbox/a.yaml", "title: new\n" * 1000)
    assert target.stat().st_ino != inode  # replaced by rename, not rewritten in place


def crash_at(step: int, action) -> int:
    """Run ``action`` in a forked child that dies (no cleanup at all) before its ``step``-th
    filesystem change (rename or unlink), like a kill -9 there. Returns the changes it made."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        done = 0
        real_replace, real_unlink = os.replace, pathlib.Path.unlink

        def gate() -> None:
            nonlocal done
            if done == step:
                os._exit(17)
            done += 1

        def replace(*args, **kwargs):
            gate()
            return real_replace(*args, **kwargs)

        def unlink(self, *args, **kwargs):
            gate()
            return real_unlink(self, *args, **kwargs)

        board_store.os.replace = replace
        pathlib.Path.unlink = unlink
        try:
            action()
        finally:
            os._exit(done)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


MOVE_STEPS = 4  # journal in place, destination in place, source removed, journal entry removed


@pytest.mark.parametrize("step", range(MOVE_STEPS + 1))
def test_recovery_after_a_crash_at_each_step_of_a_move(tmp_path: Path, step: int) -> None:
    root, state = tmp_path / "board", tmp_path / "state"
    (root / "inbox").mkdir(parents=True)
    (root / "inbox" / "a.yaml").write_text("title: old\n")
    store = BoardStore(root, state, fsync=False)

    code = crash_at(step, lambda: store.move("inbox/a.yaml", "done/amy/a.yaml", "title: new\n"))
    assert code == (17 if step < MOVE_STEPS else MOVE_STEPS)

    repaired = BoardStore(root, state, fsync=False).recover()
    after = files_under(root)
    if step == 0:  # the journal entry never landed: the move did not happen at all
        assert after == {"inbox/a.yaml": "title: old\n"}
    else:
        assert after == {"done/amy/a.yaml": "title: new\n"}
    if 0 < step < MOVE_STEPS:
        assert "finished move inbox/a.yaml -> done/amy/a.yaml" in repaired
    assert files_under(state) == {}  # no journal entries, no temp files
    assert not [p for p in tmp_path.rglob(f"*{TMP_SUFFIX}")]


@pytest.mark.parametrize("step", range(3))
def test_recovery_after_a_crash_during_an_in_place_write(tmp_path: Path, step: int) -> None:
    root, state = tmp_path / "board", tmp_path / "state"
    (root / "inbox").mkdir(parents=True)
    (root / "inbox" / "a.yaml").write_text("title: old\n")
    store = BoardStore(root, state, fsync=False)
    crash_at(step, lambda: store.write("inbox/a.yaml", "title: new\n"))
    store.recover()
    assert files_under(root) == {"inbox/a.yaml": "title: old\n" if step == 0 else "title: new\n"}
    assert files_under(state) == {}


def test_recover_removes_stray_temp_files_and_reports_them(store: BoardStore) -> None:
    stray = store.root / "inbox" / f".a.yaml.1234abcd{TMP_SUFFIX}"
    stray.write_text("half")
    assert lane_of(stray.relative_to(store.root).as_posix()) is None  # never mistaken for a task
    store.journal_dir.mkdir(parents=True)
    (store.journal_dir / f".x.json.1{TMP_SUFFIX}").write_text("{")
    repaired = store.recover()
    assert repaired == [f"removed temp file inbox/.a.yaml.1234abcd{TMP_SUFFIX}"]
    assert not stray.exists() and list(store.journal_dir.iterdir()) == []


def test_unreadable_or_escaping_journal_entries_are_discarded(store: BoardStore, tmp_path: Path) -> None:
    store.journal_dir.mkdir(parents=True)
    (store.journal_dir / "1.json").write_text("{not json")
    (store.journal_dir / "2.json").write_text(json.dumps({"src": "inbox/a.yaml"}))
    (store.journal_dir / "3.json").write_text(
        json.dumps({"src": "inbox/a.yaml", "dst": "../../escaped.yaml", "text": "pwned"}))
    repaired = store.recover()
    assert len(repaired) == 3 and all(line.startswith("discarded unreadable journal entry") for line in repaired)
    assert not (tmp_path / "escaped.yaml").exists() and not (tmp_path.parent / "escaped.yaml").exists()
    assert list(store.journal_dir.iterdir()) == []


@pytest.mark.parametrize(
    "relpath", ["../x.yaml", "inbox/../../x.yaml", "/etc/passwd", "inbox/\x00.yaml", "assigned/../../../x"],
)
def test_paths_escaping_the_board_are_refused(store: BoardStore, relpath: str) -> None:
    with pytest.raises(PathEscape):
        store.resolve(relpath)
    with pytest.raises(PathEscape):
        store.move("inbox/a.yaml", relpath, "title: x\n")
    with pytest.raises(PathEscape):
        store.write(relpath, "title: x\n")
    assert not store.journal_dir.exists() or list(store.journal_dir.iterdir()) == []


def test_a_symlink_out_of_the_board_is_refused(store: BoardStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "inbox" / "link").symlink_to(outside)
    with pytest.raises(PathEscape):
        store.write("inbox/link/a.yaml", "title: x\n")
    assert list(outside.iterdir()) == []


def test_paths_inside_the_board_resolve(store: BoardStore) -> None:
    assert store.resolve("inbox/./a.yaml") == store.root / "inbox" / "a.yaml"
    assert store.resolve("assigned/bob/../amy/a.yaml") == store.root / "assigned" / "amy" / "a.yaml"
