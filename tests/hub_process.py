"""The real hub and reference agents as child processes, for tests that kill them or need their RSS.

``HubProcess(work).start()`` runs ``python -m web.cli serve`` on 127.0.0.1 and returns once it
serves; its stdout and stderr go to files under ``work/`` (tests read them for log lines).
``kill()`` is a SIGKILL: no cleanup of any kind, like a power cut for the process.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
ADDRESS = re.compile(r"dashboard at (http://\S+?)/?$", re.M)


def _child_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


class HubProcess:
    def __init__(self, work: Path, *, port: int = 0, args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, logs: Path | None = None) -> None:
        self.work = work
        self.port = port
        self.args = args
        self.env = env
        self.logs = logs or work.parent / "hub-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.base_url = ""
        self.starts = 0

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/ws"

    def start(self, timeout: float = 20.0) -> str:
        """Spawn the hub and wait until it serves; returns its base URL."""
        self.spawn()
        return self.wait_ready(timeout)

    def spawn(self) -> None:
        self.starts += 1
        out = self.logs / f"stdout-{self.starts}.txt"
        err = self.logs / f"stderr-{self.starts}.txt"
        command = [sys.executable, "-m", "agentdeck.web.cli", "serve", "--work", str(self.work),
                   "--port", str(self.port), *self.args]
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            self.proc = subprocess.Popen(command, cwd=REPO, stdout=stdout, stderr=stderr,
                                         env=_child_env(self.env))

    def wait_ready(self, timeout: float = 20.0) -> str:
        assert self.proc is not None
        out = self.logs / f"stdout-{self.starts}.txt"
        err = self.logs / f"stderr-{self.starts}.txt"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = ADDRESS.search(out.read_text("utf-8", "replace"))
            if found:
                self.base_url = found.group(1)
                return self.base_url
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"hub did not start: {err.read_text('utf-8', 'replace')[-3000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def log_text(self) -> str:
        return "".join(p.read_text("utf-8", "replace") for p in sorted(self.logs.glob("*.txt")))

    def get(self, path: str, timeout: float = 5.0) -> httpx.Response:
        return httpx.get(self.base_url + path, timeout=timeout)


class AgentProcess:
    """One reference agent (``python -m web.cli agent``) connected to a hub's /ws."""

    def __init__(self, hub_ws_url: str, agent_id: str, logs: Path, *, token: str | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.agent_id = agent_id
        command = [sys.executable, "-m", "agentdeck.web.cli", "agent", "--hub", hub_ws_url, "--id", agent_id,
                   *args]
        env = _child_env({"AGENTDECK_TOKEN": token} if token else None)
        logs.mkdir(parents=True, exist_ok=True)
        self.log_path = logs / f"agent-{agent_id}-{time.monotonic_ns()}.txt"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                         env=env)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def pause(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.resume()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
