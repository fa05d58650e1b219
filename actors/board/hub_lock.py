"""One hub per board: ``WORK/.agentdeck/hub.lock``, held with ``fcntl.flock`` while the hub runs.

The hub is the board's only writer. Two hubs on one board would both replay the journal and hand
the same task to two agents, so a second ``agentdeck serve`` on the same work directory stops at
once and names the process that holds the board. The kernel drops the lock when its process ends,
however it ends (``kill -9`` included): a lock file left behind never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

LOCK_NAME = "hub.lock"


class BoardLocked(Exception):
    """Another process holds the board."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"another hub already serves this board: {holder} holds {path}")
        self.path = path
        self.holder = holder


class HubLock:
    """``with HubLock.acquire(state_dir): ...``; raises ``BoardLocked`` when the board is taken."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, state_dir: Path) -> HubLock:
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe_holder(os.pread(fd, 64, 0))
            os.close(fd)
            raise BoardLocked(path, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None

    def __enter__(self) -> HubLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()


def describe_holder(content: bytes) -> str:
    """``process 1234 (agentdeck serve --port 8000)`` from the pid the holder wrote, as far as known."""
    text = content.decode("ascii", "replace").strip()
    if not text.isdigit():
        return "another process (it has not written its pid yet)"
    try:
        command = Path(f"/proc/{text}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return f"process {text}"
    return f"process {text} ({command.strip()})" if command.strip() else f"process {text}"
