"""The board lock on its own: exclusive, names its holder, released on close (the kernel's flock)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentdeck.actors.board.hub_lock import BoardLocked, HubLock, describe_holder


def test_the_lock_is_exclusive_and_released_when_closed(tmp_path: Path) -> None:
    state = tmp_path / ".agentdeck"
    with HubLock.acquire(state) as held:
        assert held.path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(BoardLocked) as taken:
            HubLock.acquire(state)  # a second open file description: refused like another process
        assert taken.value.holder.startswith(f"process {os.getpid()} (")
        assert str(held.path) in str(taken.value)
    with HubLock.acquire(state):  # released: taken again at once
        pass


def test_a_stale_pid_from_a_dead_holder_does_not_block(tmp_path: Path) -> None:
    state = tmp_path / ".agentdeck"
    state.mkdir()
    (state / "hub.lock").write_text("999999999\n")  # written by a hub that was killed
    with HubLock.acquire(state) as held:
        assert held.path.read_text() == f"{os.getpid()}\n"


def test_the_holder_is_described_as_far_as_known() -> None:
    assert describe_holder(b"") == "another process (it has not written its pid yet)"
    assert describe_holder(b"999999999\n") == "process 999999999"
    assert describe_holder(f"{os.getpid()}\n".encode()).startswith(f"process {os.getpid()} (")
