"""Real Redis and PostgreSQL servers for the fleet tests: started on loopback, on ports chosen at run
time, in temp dirs, and stopped afterwards (also used by bench/).

A test that needs one asks for it with ``require("redis")`` / ``require("postgresql")``: when the
binaries are missing it is skipped with the reason, unless ``AGENTDECK_REQUIRE_SERVICES=1`` (set by
``.ci/run``), where a missing service fails the test. PostgreSQL refuses to run as root: as root the
cluster belongs to the ``postgres`` user and its commands run through ``runuser``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REQUIRE_ENV = "AGENTDECK_REQUIRE_SERVICES"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"server on port {port} exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s") from None
            time.sleep(0.02)


def postgres_bin() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl`` (Debian keeps them out of PATH)."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                      key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def missing(service: str) -> str | None:
    """Why ``service`` cannot be started here, or None."""
    if service == "redis":
        return None if shutil.which("redis-server") else "redis-server is not installed"
    if service == "postgresql":
        if postgres_bin() is None:
            return "PostgreSQL (initdb, pg_ctl) is not installed"
        if os.geteuid() == 0 and not (shutil.which("runuser") and _user_exists("postgres")):
            return "running as root without a postgres user to run PostgreSQL as"
        return None
    raise ValueError(service)


def require(service: str) -> None:
    reason = missing(service)
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{service} is required here ({REQUIRE_ENV}=1): {reason}")
    pytest.skip(f"{service} not available: {reason}")


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class RedisServer:
    """``redis-server`` without persistence: a restart loses every stream, as a crash would."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="agentdeck-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_port(self.port, 10.0, self.process)
        return self

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crashed server."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    """A throwaway cluster (``initdb`` + ``pg_ctl``) with trust authentication on loopback only."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bin = postgres_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="agentdeck-pg-"))
        self.data = self.dir / "data"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://agentdeck@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        assert self.bin is not None
        subprocess.run([*self.as_user, str(self.bin / command[0]), *command[1:]], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def init(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-U", "agentdeck", "-A", "trust", "--no-sync",
                  "-E", "UTF8", "--locale=C")
        return self

    def start(self) -> PostgresServer:
        # fsync off: only the process is ever killed here, never the machine, so the OS keeps what
        # was written. Commits stay synchronous: with synchronous_commit=off an immediate stop loses
        # the last acknowledged transactions, which would look like rows lost by the hubs.
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w",
                  "-t", "60", "start")
        _wait_for_port(self.port, 30.0)
        return self

    def kill(self) -> None:
        """Stop at once (immediate mode: no checkpoint, as after a crash)."""
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


# ---------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def pg_cluster():
    """One PostgreSQL cluster for the session; each test takes a fresh database (``pg_url``)."""
    require("postgresql")
    server = PostgresServer().init().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_cluster: PostgresServer) -> str:
    return pg_cluster.create_database()


@pytest.fixture
def redis_server():
    """A Redis of the test's own, which the test may kill and start again on the same port."""
    require("redis")
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()
