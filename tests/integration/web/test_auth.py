"""Agent tokens: shown once, stored only hashed, verified per agent, revocable, picked up live."""

from __future__ import annotations

import json
import os
import stat

import pytest

from agentdeck.actors.protocol.auth import TokenFileError, TokenStore, valid_agent_id
from agentdeck.web.cli import main as cli


@pytest.fixture
def store(tmp_path):
    return TokenStore(tmp_path / ".agentdeck" / "tokens.json")


def test_add_then_verify(store):
    assert store.is_empty()
    token = store.add("alice")
    assert len(token) >= 40
    assert not store.is_empty()
    assert store.verify("alice", token) == "ok"
    assert store.verify("alice", token + "x") == "invalid_token"
    assert store.verify("alice", "") == "invalid_token"
    assert store.verify("alice", None) == "invalid_token"
    assert store.verify("nobody", "guess") == "invalid_token"


def test_token_of_another_agent_is_a_mismatch(store):
    alice, bob = store.add("alice"), store.add("bob")
    assert alice != bob
    assert store.verify("bob", alice) == "token_agent_mismatch"
    assert store.verify("mallory", bob) == "token_agent_mismatch"
    assert store.verify("bob", bob) == "ok"


def test_only_the_hash_is_stored_privately(store):
    token = store.add("alice")
    text = store.path.read_text()
    assert token not in text
    assert json.loads(text)["agents"]["alice"]["hash"].startswith("sha256:")
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert [p.name for p in store.path.parent.iterdir()] == ["tokens.json"]


def test_add_again_rotates_the_token(store):
    old = store.add("alice")
    new = store.add("alice")
    assert store.verify("alice", old) == "invalid_token"
    assert store.verify("alice", new) == "ok"


def test_revoke(store):
    token = store.add("alice")
    assert store.revoke("alice") is True
    assert store.revoke("alice") is False
    assert store.revoke("never-added") is False
    assert store.verify("alice", token) == "invalid_token"
    assert not store.is_empty(), "revoking the last token must not open the hub"
    [entry] = store.list()
    assert entry["agent_id"] == "alice" and entry["revoked"] and entry["created"]
    assert set(entry) == {"agent_id", "created", "revoked"}


def test_a_token_added_by_another_process_is_seen_without_restart(store):
    running_hub_view = TokenStore(store.path)
    assert running_hub_view.is_empty()
    token = TokenStore(store.path).add("late")
    assert running_hub_view.verify("late", token) == "ok"
    TokenStore(store.path).revoke("late")
    assert running_hub_view.verify("late", token) == "invalid_token"


def test_corrupt_file_fails_closed(store):
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{not json")
    assert not store.is_empty()
    assert store.verify("alice", "anything") == "invalid_token"
    with pytest.raises(TokenFileError):
        store.list()
    with pytest.raises(TokenFileError):
        store.add("alice")


@pytest.mark.parametrize("agent_id", ["..", ".", "a/b", "", "a" * 129, "../x", "a b", None, 5])
def test_invalid_agent_ids(store, agent_id):
    assert not valid_agent_id(agent_id)
    with pytest.raises(ValueError):
        store.add(agent_id)


@pytest.mark.parametrize("agent_id", ["a", "agent-1", "my_agent.v2", "A" * 128])
def test_valid_agent_ids(agent_id):
    assert valid_agent_id(agent_id)


def test_cli_add_list_revoke(tmp_path, capsys):
    work = str(tmp_path / "work")
    assert cli(["token", "--work", work, "add", "alice"]) == 0
    token = capsys.readouterr().out.strip()
    assert TokenStore(tmp_path / "work" / ".agentdeck" / "tokens.json").verify("alice", token) == "ok"
    assert cli(["token", "--work", work, "list"]) == 0
    listed = capsys.readouterr()
    assert "alice" in listed.out and "active" in listed.out
    assert token not in listed.out + listed.err
    assert cli(["token", "--work", work, "revoke", "alice"]) == 0
    assert cli(["token", "--work", work, "revoke", "alice"]) == 1
    assert cli(["token", "--work", work, "add", "../etc"]) == 2
    assert "invalid agent id" in capsys.readouterr().err
