"""Agent tokens: random secrets handed out once, stored only as SHA-256 hashes in ``tokens.json``.

Tokens are 256-bit random strings, so an unsalted SHA-256 is enough to make a leaked file useless
(there is nothing to brute-force). The store re-reads the file whenever its mtime or size changes, so
``agentdeck token add`` works against a running hub. Writes go to a temp file that replaces the old
one (readers never see half a file) with mode 0600. File access is tiny and synchronous: the hub may
call ``verify`` from its WebSocket handler directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from agentdeck.actors.board.taskfile import is_safe_name

FILE_VERSION = 1
TOKENS_FILE = "tokens.json"  # under the hub's state dir, WORK/.agentdeck/
HASH_PREFIX = "sha256:"


def valid_agent_id(agent_id: Any) -> bool:
    """Letters, digits, ``-``, ``_``, ``.``; 1..128 characters; not ``.`` or ``..``."""
    return isinstance(agent_id, str) and is_safe_name(agent_id)


def hash_token(token: str) -> str:
    return HASH_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenFileError(ValueError):
    """tokens.json exists but is not a token file: refuse to guess."""


def _parse(text: str) -> dict[str, dict[str, Any]]:
    data = json.loads(text)
    agents = data.get("agents") if isinstance(data, dict) else None
    if not isinstance(agents, dict):
        raise ValueError("expected an object with an 'agents' object")
    return {agent: entry for agent, entry in agents.items()
            if valid_agent_id(agent) and isinstance(entry, dict)}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class TokenStore:
    """The agents' token hashes in one JSON file; safe to share between the CLI and a running hub."""

    @classmethod
    def in_state_dir(cls, state_dir: Path | str) -> TokenStore:
        return cls(Path(state_dir) / TOKENS_FILE)

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._entries: dict[str, dict[str, Any]] = {}
        self._stamp: tuple[int, int, int] | None = None
        self.error: str | None = None

    # -------------------------------------------------------------- reading

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._entries, self._stamp, self.error = {}, None, None
            return
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._entries, self.error = _parse(self.path.read_text(encoding="utf-8")), None
        except (OSError, ValueError) as error:
            self._entries, self.error = {}, f"unreadable token file {self.path}: {error}"

    def _checked(self) -> None:
        self._refresh()
        if self.error is not None:
            raise TokenFileError(self.error)

    def _active(self) -> dict[str, str]:
        self._refresh()
        return {agent: str(entry.get("hash", "")) for agent, entry in self._entries.items()
                if not entry.get("revoked")}

    def is_empty(self) -> bool:
        """No token ever configured: the hub then runs open (loopback only, with a warning).

        Revoked tokens still count (revoking the last token must not open the hub), and a token
        file that exists but cannot be read is not empty: the hub fails closed.
        """
        self._refresh()
        return not self._entries and self.error is None

    def list(self) -> list[dict[str, Any]]:
        """Agent ids with when their token was made and revoked; never the token or its hash."""
        self._checked()
        return [{"agent_id": agent, "created": entry.get("created"),
                 "revoked": entry.get("revoked")} for agent, entry in sorted(self._entries.items())]

    def verify(self, agent_id: str, token: str | None) -> str:
        """``ok``, ``invalid_token`` or ``token_agent_mismatch`` (a live token of another agent)."""
        if not isinstance(token, str) or not token:
            return "invalid_token"
        presented = hash_token(token).encode()
        verdict = "invalid_token"
        for agent, stored in self._active().items():
            if hmac.compare_digest(presented, stored.encode()):
                verdict = "ok" if agent == agent_id else "token_agent_mismatch"
        return verdict

    # -------------------------------------------------------------- writing

    def add(self, agent_id: str) -> str:
        """A new token for ``agent_id`` (replacing any earlier one); returned once, stored hashed."""
        if not valid_agent_id(agent_id):
            raise ValueError(f"invalid agent id {agent_id!r}: use 1-128 letters, digits, '-', '_', '.'")
        token = secrets.token_urlsafe(32)
        self._checked()
        entries = dict(self._entries)
        entries[agent_id] = {"hash": hash_token(token), "created": _now(), "revoked": None}
        self._write(entries)
        return token

    def revoke(self, agent_id: str) -> bool:
        """Revoke the agent's token; False if it had no live token."""
        self._checked()
        entry = self._entries.get(agent_id)
        if entry is None or entry.get("revoked"):
            return False
        entries = dict(self._entries)
        entries[agent_id] = {**entry, "revoked": _now()}
        self._write(entries)
        return True

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": FILE_VERSION, "agents": entries}, indent=2, sort_keys=True)
        fd, temp = tempfile.mkstemp(prefix=".tokens-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self._stamp = None
        self._refresh()
