"""``agentdeck serve`` as a real process: SIGINT and SIGTERM stop it cleanly in under 2 s,
also while browsers hold streaming connections open."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import REPO

SHUTDOWN_LIMIT_S = 2.0


def serve_command(work: Path, port: int) -> list[str]:
    exe = shutil.which("agentdeck")
    prefix = [exe] if exe else [sys.executable, "-m", "agentdeck.web.cli"]
    return [*prefix, "serve", "--work", str(work), "--port", str(port)]


@pytest.fixture
def server(tmp_path: Path, free_port: int):
    work = tmp_path / "work"
    (work / "collaboration" / "inbox").mkdir(parents=True)
    (work / "collaboration" / "inbox" / "a.yaml").write_text("title: A task\n")
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(serve_command(work, free_port), stdout=log, stderr=subprocess.STDOUT,
                                   cwd=REPO)
        base = f"http://127.0.0.1:{free_port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"server did not come up:\n{(tmp_path / 'serve.log').read_text()}")
            time.sleep(0.05)
        try:
            yield process, free_port, tmp_path / "serve.log"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def stop(process: subprocess.Popen, signum: int, log: Path) -> float:
    started = time.monotonic()
    process.send_signal(signum)
    try:
        code = process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"still running 10 s after {signal.Signals(signum).name}:\n{log.read_text()}")
    elapsed = time.monotonic() - started
    assert code == 0, log.read_text()
    return elapsed


def open_stream(port: int, request: bytes) -> tuple[socket.socket, bytes]:
    """Send a raw request and return the socket (left open) and the response head."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, head


def sse_request(port: int) -> bytes:
    return (f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n").encode()


def websocket_request(port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{port}\r\n\r\n").encode()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_server_cleanly_and_quickly(server, signum: int) -> None:
    process, port, log = server
    assert httpx.get(f"http://127.0.0.1:{port}/api/tasks", timeout=2).json()["inbox"][0]["title"] == "A task"
    assert stop(process, signum, log) < SHUTDOWN_LIMIT_S
    text = log.read_text()
    assert "Traceback" not in text, text


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_open_streams_do_not_hold_up_shutdown(server, signum: int) -> None:
    process, port, log = server
    streams = []
    sse, head = open_stream(port, sse_request(port))
    if b" 404 " in head.split(b"\r\n")[0]:
        sse.close()
        pytest.skip("no /events stream in this build")
    assert b" 200 " in head.split(b"\r\n")[0] and b"text/event-stream" in head.lower(), head
    streams.append(sse)
    ws, head = open_stream(port, websocket_request(port, "/ws/dashboard"))
    if b" 101 " in head.split(b"\r\n")[0]:
        streams.append(ws)
    else:
        ws.close()
    keepalive, _ = open_stream(port, f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    streams.append(keepalive)  # an idle keep-alive connection
    try:
        assert stop(process, signum, log) < SHUTDOWN_LIMIT_S
    finally:
        for sock in streams:
            sock.close()
    assert "Traceback" not in log.read_text(), log.read_text()


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(serve_command(tmp_path / "work", port), capture_output=True, timeout=20,
                                cwd=REPO)
    assert result.returncode == 1
    output = (result.stdout + result.stderr).decode()
    assert "cannot serve" in output and "Traceback" not in output, output


def test_the_quick_start_demo_serves_the_demo_board_and_stops_cleanly(tmp_path: Path, free_port: int) -> None:
    exe = shutil.which("agentdeck")
    command = [exe] if exe else [sys.executable, "-m", "agentdeck.web.cli"]
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the scratch copy of the board lands here
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([*command, "serve", "--demo", "--port", str(free_port)], stdout=out,
                                   stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    body = httpx.get(f"http://127.0.0.1:{free_port}/api/tasks", timeout=1).json()
                    break
                except httpx.TransportError:
                    assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.05)
            demo = REPO / "work" / "collaboration"
            on_disk = len(list(demo.rglob("*.yaml")))
            listed = (len(body["inbox"]) + len(body["dead"]) + sum(map(len, body["assigned"].values()))
                      + sum(map(len, body["done"].values())))
            assert listed == on_disk and body["invalid"] == []
            assert stop(process, signal.SIGINT, log) < SHUTDOWN_LIMIT_S
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    copies = list(tmp_path.glob("agentdeck-demo-*/collaboration"))
    assert len(copies) == 1  # the demo ran on a scratch copy, not on the repository's board
    # (no "Traceback" check here: the demo agents' sockets can still log one at shutdown, see the
    # /ws send-after-close race reported to the lead; the board-only tests above do check it)
