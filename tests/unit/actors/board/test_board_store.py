"""Crash-safe moves: whatever instant a crash lands on, recover() leaves exactly the old or new state."""

from __future__ import annotations

import json
import os
import pathlib
from pathlib import Path

import pytest

from agentdeck.actors.board import store as board_store
from agentdeck.actors.board.store import TMP_SUFFIX, BoardStore, MoveBatch, PathEscape
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


MOVE_STEPS = 4  # journal committed, destination in place, source removed, journal dropped (checkpoint)


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
    if 0 < step < MOVE_STEPS - 1:
        assert "finished move inbox/a.yaml -> done/amy/a.yaml" in repaired
    if step == MOVE_STEPS - 1:  # only the journal was left: the move was done, nothing to redo
        assert repaired == []
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


# ---------------------------------------------------------------------- group commit

BATCH = [("inbox/a.yaml", "assigned/amy/a.yaml", "a: 2\n"),  # a moves twice in one batch
         ("assigned/amy/a.yaml", "done/amy/a.yaml", "a: 3\n"),
         ("assigned/bob/b.yaml", "inbox/b.yaml", "b: 2\n"),
         ("inbox/c.yaml", "inbox/c.yaml", "c: 2\n")]
BEFORE = {"inbox/a.yaml": "a: 1\n", "assigned/bob/b.yaml": "b: 1\n", "inbox/c.yaml": "c: 1\n"}
AFTER = {"done/amy/a.yaml": "a: 3\n", "inbox/b.yaml": "b: 2\n", "inbox/c.yaml": "c: 2\n"}
# journal committed, then per move: destination in place (+ source removed), then journal dropped
BATCH_STEPS = 1 + 2 + 2 + 2 + 1 + 1


def seeded(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path]:
    root, state = tmp_path / "board", tmp_path / "state"
    for relpath, text in files.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text(text)
    return root, state


def commit_all(store: BoardStore, moves=BATCH) -> None:
    batch = MoveBatch()
    for src, dst, text in moves:
        store.stage(batch, src, dst, text)
    store.commit(batch)
    store.checkpoint()


@pytest.mark.parametrize("step", range(BATCH_STEPS + 1))
def test_a_batch_is_all_or_nothing_whatever_step_a_crash_lands_on(tmp_path: Path, step: int) -> None:
    root, state = seeded(tmp_path, BEFORE)
    store = BoardStore(root, state, fsync=False)
    code = crash_at(step, lambda: commit_all(store))
    assert code == (17 if step < BATCH_STEPS else BATCH_STEPS)
    BoardStore(root, state, fsync=False).recover()
    assert files_under(root) == (BEFORE if step == 0 else AFTER)
    assert files_under(state) == {}


def test_staged_moves_change_nothing_on_disk_until_committed(tmp_path: Path) -> None:
    root, state = seeded(tmp_path, BEFORE)
    store = BoardStore(root, state, fsync=True)
    batch = MoveBatch()
    for src, dst, text in BATCH:
        store.stage(batch, src, dst, text)
    tasks = {path: text for path, text in files_under(root).items() if not path.endswith(TMP_SUFFIX)}
    assert tasks == BEFORE and len(batch) == 4
    assert batch.touches("inbox/a.yaml") and batch.touches("done/amy/a.yaml")
    assert not batch.touches("inbox/z.yaml")
    store.discard(batch)
    assert files_under(root) == BEFORE and files_under(state) == {}
    commit_all(store)
    assert files_under(root) == AFTER and files_under(state) == {}


def test_committed_journals_stay_until_a_checkpoint_has_synced_the_files(tmp_path: Path) -> None:
    root, state = seeded(tmp_path, BEFORE)
    store = BoardStore(root, state, fsync=True)
    for src, dst, text in BATCH[:2]:
        batch = MoveBatch()
        store.stage(batch, src, dst, text)
        store.commit(batch)
    assert store.unsynced == 2 and len(list(store.journal_dir.glob("*.jsonl"))) == 2
    assert files_under(root)["done/amy/a.yaml"] == "a: 3\n"
    assert store.checkpoint() == 2
    assert store.unsynced == 0 and list(store.journal_dir.iterdir()) == []


def test_a_move_that_cannot_be_staged_fails_alone(tmp_path: Path) -> None:
    root, state = seeded(tmp_path, {**BEFORE, "done": "a file where the lane folder should be"})
    store = BoardStore(root, state, fsync=False)
    batch = MoveBatch()
    store.stage(batch, "assigned/bob/b.yaml", "inbox/b.yaml", "b: 2\n")
    with pytest.raises(OSError):
        store.stage(batch, "inbox/a.yaml", "done/amy/a.yaml", "a: 3\n")
    assert len(batch) == 1 and not batch.touches("inbox/a.yaml")
    store.commit(batch)
    assert files_under(root) == {"inbox/a.yaml": "a: 1\n", "inbox/b.yaml": "b: 2\n", "inbox/c.yaml": "c: 1\n",
                                 "done": "a file where the lane folder should be"}
    BoardStore(root, state, fsync=False).recover()  # the journal held only the move that was made
    assert files_under(root)["inbox/a.yaml"] == "a: 1\n"


def test_free_names_are_picked_against_the_batch(tmp_path: Path) -> None:
    root, state = seeded(tmp_path, {"inbox/a.yaml": "a\n", "dead/b.yaml": "b\n", "done/x/b.yaml": "b2\n"})
    store = BoardStore(root, state, fsync=False)
    batch = MoveBatch()
    store.stage(batch, "inbox/a.yaml", "assigned/x/a.yaml", "a\n")
    # inbox/a.yaml is freed by the batch, assigned/x/a.yaml taken by it
    assert store.free_name("dead/a.yaml", "inbox/a.yaml", "t", batch) == "inbox/a.yaml"
    assert store.free_name("dead/a.yaml", "assigned/x/a.yaml", "t", batch) == "assigned/x/a-t.yaml"
    store.stage(batch, "dead/b.yaml", "inbox/b.yaml", "b\n")
    assert store.free_name("done/x/b.yaml", "inbox/b.yaml", "t", batch) == "inbox/b-t.yaml"
    store.discard(batch)


def test_recovery_leaves_alone_a_file_changed_after_its_move(tmp_path: Path) -> None:
    """A batch whose journal is still kept (no checkpoint yet) and a person's edit since: the move
    is on disk already, so recovery does not write the journalled text over the edit."""
    root, state = seeded(tmp_path, BEFORE)
    store = BoardStore(root, state, fsync=True)
    batch = MoveBatch()
    store.stage(batch, "assigned/bob/b.yaml", "inbox/b.yaml", "b: 2\n")
    store.commit(batch)
    (root / "inbox" / "b.yaml").write_text("b: edited by a person\n")
    assert BoardStore(root, state, fsync=True).recover() == []
    assert files_under(root)["inbox/b.yaml"] == "b: edited by a person\n"
    assert files_under(state) == {}


def test_an_emptied_destination_is_written_again(tmp_path: Path) -> None:
    """What a power cut leaves of a file whose contents never reached the disk."""
    root, state = seeded(tmp_path, BEFORE)
    store = BoardStore(root, state, fsync=True)
    batch = MoveBatch()
    store.stage(batch, "assigned/bob/b.yaml", "inbox/b.yaml", "b: 2\n")
    store.commit(batch)  # its journal kept: no checkpoint yet
    (root / "inbox" / "b.yaml").write_text("")
    assert BoardStore(root, state, fsync=False).recover() == ["finished move assigned/bob/b.yaml -> inbox/b.yaml"]
    assert files_under(root)["inbox/b.yaml"] == "b: 2\n"


def test_a_journal_entry_of_one_move_from_before_group_commit_is_replayed(store: BoardStore) -> None:
    (store.root / "inbox" / "a.yaml").write_text("old\n")
    store.journal_dir.mkdir(parents=True)
    (store.journal_dir / "0f.json").write_text(json.dumps({"src": "inbox/a.yaml", "dst": "done/x/a.yaml",
                                                           "text": "new\n"}))
    assert store.recover() == ["finished move inbox/a.yaml -> done/x/a.yaml"]
    assert files_under(store.root) == {"done/x/a.yaml": "new\n"}


def test_a_batch_with_an_unreadable_record_is_not_replayed_at_all(store: BoardStore) -> None:
    (store.root / "inbox" / "a.yaml").write_text("old\n")
    store.journal_dir.mkdir(parents=True)
    good = json.dumps({"src": "inbox/a.yaml", "dst": "done/x/a.yaml", "text": "new\n"})
    (store.journal_dir / "1.jsonl").write_text(good + "\n{torn")
    [line] = store.recover()
    assert line.startswith("discarded unreadable journal entry 1.jsonl")
    assert files_under(store.root) == {"inbox/a.yaml": "old\n"}
