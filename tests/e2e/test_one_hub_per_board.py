"""One hub per board, with real processes: a second ``agentdeck serve`` on the same work directory
stops at once and names the first; another board is served; after a ``kill -9`` of the first the
board can be served again (the kernel dropped the lock)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from hub_process import REPO, HubProcess


def serve_again(work: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "agentdeck.web.cli", "serve", "--work", str(work),
                             "--port", "0"], cwd=REPO, capture_output=True, text=True, timeout=30)
    return result, time.monotonic() - started


def test_a_second_hub_on_the_same_board_is_refused_and_names_the_first(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "collaboration" / "inbox").mkdir(parents=True)
    first = HubProcess(work, logs=tmp_path / "logs")
    first.start()
    try:
        assert first.proc is not None
        second, took = serve_again(work)
        assert second.returncode == 1, second.stderr
        assert f"process {first.proc.pid} (" in second.stderr and "agentdeck.web.cli serve" in second.stderr
        assert "another hub already serves this board" in second.stderr
        assert str(work / ".agentdeck" / "hub.lock") in second.stderr
        assert "dashboard at" not in second.stdout  # it never served
        assert took < 15  # at once: no port bound, no board read
        assert httpx.get(first.base_url + "/health", timeout=5).status_code == 200  # the first serves on

        other = HubProcess(tmp_path / "other-work", logs=tmp_path / "other-logs")
        other.start()  # another board is another lock
        other.stop()

        first.kill()  # kill -9: the lock file stays, the lock does not
        assert (work / ".agentdeck" / "hub.lock").exists()
        first.start()
        assert httpx.get(first.base_url + "/health", timeout=5).status_code == 200
    finally:
        first.stop()
