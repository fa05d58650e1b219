"""The hub's settings, fixed at start-up (from the command line or a test)."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import attrs

from agentdeck.actors.protocol.schema import DEFAULT_FRAME_RATE, FrameRate

HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def safe_hub_id(text: str) -> str:
    """``text`` reduced to a hub id (letters, digits, ``._-``, at most 64 characters)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:64]
    return cleaned or "hub"


# An assigned task without a sign of progress is first shown as stuck (a warning on its card and in
# health), and later taken back from its agent and queued again (``HubConfig.stuck_timeout``).
STUCK_AFTER_S = 300.0
RECLAIM_AFTER_S = 600.0


def redact_url(url: str) -> str:
    """A service URL (database, broker) without its password, to show in /health and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@attrs.frozen
class HubConfig:
    work_dir: Path = attrs.field(converter=Path)
    host: str = "127.0.0.1"
    port: int = 8080
    telemetry_db: Path | None = None
    telemetry_url: str | None = None  # postgresql://...: telemetry shared by a fleet of hubs
    broker_url: str | None = None  # redis://...: publish this hub's events for `agentdeck fleet`
    publish_output: bool = False  # with broker_url: execution output too (shortened)
    hub_id: str | None = None  # this hub's name in a fleet (default: host name and board directory)
    budget_daily: float | None = None
    budget_monthly: float | None = None
    force_polling: bool = False
    fsync: bool = True
    demo: bool = False
    log_level: str = "INFO"
    max_retries: int = 3
    retry_backoff: float = 5.0  # seconds before the first retry of a failed task; doubles each failure
    retry_backoff_max: float = 300.0
    accept_timeout: float = 60.0
    stuck_timeout: float = RECLAIM_AFTER_S  # no progress for this long: the task is reclaimed
    reconnect_grace: float = 30.0
    deadline_check: float = 1.0  # seconds between checks of the three deadlines above
    ollama_model: str = "llama3.2:latest"
    claude_model: str = "claude-sonnet-4-5"
    run_history_bytes: int = 2 * 1024 * 1024  # kept output per task, all attempts together
    run_history_total_bytes: int = 512 * 1024 * 1024  # all tasks together (least recently active go)
    # host names (besides the bound address and loopback names) that browsers may use for the hub
    allowed_hosts: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    # required from browsers (cookie session after ?token=...) when set; see docs/security.md
    dashboard_token: str | None = None
    max_agent_connections: int = 256  # open /ws sockets; more are refused with 503
    max_stream_clients: int = 1000  # open /events streams plus /ws/dashboard sockets
    identify_timeout: float = 10.0  # seconds a /ws socket may stay open without identifying
    agent_frame_rate: FrameRate = DEFAULT_FRAME_RATE  # per /ws connection; over it: rate_limited

    @property
    def board_dir(self) -> Path:
        return self.work_dir / "collaboration"

    @property
    def state_dir(self) -> Path:
        """Where the hub keeps its own files (journal, tokens, telemetry): never under the board."""
        return self.work_dir / ".agentdeck"

    @property
    def runs_dir(self) -> Path:
        """Every attempt's output, one directory per task (see ``RunHistory``)."""
        return self.state_dir / "runs"

    @property
    def hub_name(self) -> str:
        """This hub's name in the fleet's database and broker."""
        if self.hub_id:
            return self.hub_id
        return safe_hub_id(f"{socket.gethostname()}-{self.work_dir.resolve().name}")

    @property
    def telemetry_path(self) -> Path:
        return self.telemetry_db if self.telemetry_db is not None else self.state_dir / "telemetry.db"
