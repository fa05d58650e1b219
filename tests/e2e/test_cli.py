"""The command line: what `agentdeck serve` refuses before it binds anything, and token handling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO


def agentdeck(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentdeck.web.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=30)


def test_serve_refuses_a_public_address_without_agent_tokens(tmp_path: Path) -> None:
    result = agentdeck("serve", "--work", str(tmp_path), "--host", "0.0.0.0", "--port", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "refusing to bind 0.0.0.0 without agent tokens" in result.stderr
    assert "agentdeck token add" in result.stderr


def test_serve_refuses_an_agent_frame_rate_that_is_not_a_positive_number(tmp_path: Path) -> None:
    for flag, value, told in [("--agent-frame-rate", "0", "agent frame rate must be a positive number"),
                              ("--agent-frame-rate", "nan", "agent frame rate must be a positive number"),
                              ("--agent-frame-burst", "0.5", "agent frame burst must be a number of "
                                                             "frames, at least 1")]:
        result = agentdeck("serve", "--work", str(tmp_path), "--port", "0", flag, value, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert told in result.stderr and "--agent-frame-rate, --agent-frame-burst" in result.stderr
    result = agentdeck("serve", "--agent-frame-rate", "fast", cwd=tmp_path)
    assert result.returncode == 2 and "invalid float value: 'fast'" in result.stderr


def test_tokens_are_printed_once_and_listed_without_the_secret(tmp_path: Path) -> None:
    added = agentdeck("token", "--work", str(tmp_path), "add", "builder-1", cwd=tmp_path)
    assert added.returncode == 0
    token = added.stdout.strip().splitlines()[-1].split()[-1]
    assert len(token) >= 32
    listed = agentdeck("token", "--work", str(tmp_path), "list", cwd=tmp_path)
    assert "builder-1" in listed.stdout and token not in listed.stdout
    stored = (tmp_path / ".agentdeck" / "tokens.json").read_text()
    assert token not in stored and "sha256:" in stored
    revoked = agentdeck("token", "--work", str(tmp_path), "revoke", "builder-1", cwd=tmp_path)
    assert revoked.returncode == 0


def test_token_add_takes_work_after_the_subcommand_too(tmp_path: Path) -> None:
    added = agentdeck("token", "add", "builder-2", "--work", str(tmp_path), cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    listed = agentdeck("token", "list", "--work", str(tmp_path), cwd=tmp_path)
    assert "builder-2" in listed.stdout
    assert not (tmp_path / "work").exists()  # not the default ./work
    revoked = agentdeck("token", "--work", str(tmp_path), "revoke", "builder-2", "--work", str(tmp_path),
                        cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
