"""Routing decisions: tier from the complexity field or the heuristic, target with fallbacks."""

from __future__ import annotations

import datetime as dt

import pytest

from agentdeck.actors.queue.routing import can_run_task, choose_target, complexity_of, decide, endpoint_of

OLLAMA = "http://127.0.0.1:11434"
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def route(fields, ollama_url=OLLAMA):
    return decide(fields, ollama_url, default_ollama_model="llama3.2", claude_model="claude-x",
                  now=NOW)


def test_shell_command_is_trivial_and_runs_on_the_sidecar():
    decision = route({"title": "t", "shell_command": "make test"})
    assert decision == {
        "effective_tier": "trivial", "target_type": "sidecar", "selected_endpoint": None,
        "selected_model": None, "fallback_used": False, "fallback_reason": None,
        "classification_reason": "inferred: has a shell_command", "estimated_cost_tier": "free",
        "decided_at": "2026-01-02T03:04:05.000Z"}
    assert route({"metadata": {"shell_command": "ls"}})["target_type"] == "sidecar"


def test_small_task_is_standard_on_the_agents_ollama():
    decision = route({"description": "Rename the helper in utils.py", "file_hints": ["utils.py"]})
    assert decision["effective_tier"] == "standard"
    assert decision["target_type"] == "ollama"
    assert decision["selected_endpoint"] == "127.0.0.1:11434"  # host:port, as sidecars parse it
    assert decision["selected_model"] == "llama3.2"
    assert decision["estimated_cost_tier"] == "local"
    assert decision["fallback_used"] is False


def test_standard_without_ollama_falls_back_to_claude():
    decision = route({"description": "small"}, ollama_url=None)
    assert decision["effective_tier"] == "standard"
    assert decision["target_type"] == "claude" and decision["selected_model"] == "claude-x"
    assert decision["fallback_used"] is True
    assert "ollama_url" in decision["fallback_reason"]
    assert decision["estimated_cost_tier"] == "api"


@pytest.mark.parametrize("fields,signal", [
    ({"description": "x" * 1501}, "description"),
    ({"file_hints": [f"f{i}.py" for i in range(6)]}, "files"),
    ({"verification_steps": [f"step {i}" for i in range(7)]}, "steps"),
    ({"description": "\n".join(f"{i}. do thing {i}" for i in range(1, 8))}, "steps"),
    ({"estimated_hours": 6}, "estimated"),
])
def test_heuristic_complex_signals(fields, signal):
    decision = route(fields)
    assert decision["effective_tier"] == "complex"
    assert decision["target_type"] == "claude" and decision["fallback_used"] is False
    assert signal in decision["classification_reason"]


def test_just_below_thresholds_stays_standard():
    fields = {"description": "x" * 1500, "file_hints": ["a"] * 5, "verification_steps": ["s"] * 6,
              "estimated_hours": 3.5}
    assert route(fields)["effective_tier"] == "standard"


@pytest.mark.parametrize("complexity,tier", [
    ("complex", "complex"), ("Standard", "standard"), ({"effective_tier": "complex"}, "complex"),
    ({"tier": "standard"}, "standard"), ({"explicit_tier": "complex"}, "complex"),
])
def test_explicit_complexity_wins(complexity, tier):
    fields = {"shell_command": "echo hi", "complexity": complexity}
    result = complexity_of(fields)
    assert result["effective_tier"] == tier and result["source"] == "explicit"
    assert result["inferred_tier"] == "trivial"
    assert route(fields)["effective_tier"] == tier


def test_unrecognised_complexity_uses_the_heuristic_and_says_so():
    result = complexity_of({"complexity": "galactic", "shell_command": "true"})
    assert result["effective_tier"] == "trivial" and result["source"] == "inferred"
    assert "galactic" in result["reason"]


def test_explicit_trivial_without_a_command_cannot_run_on_the_sidecar():
    decision = route({"complexity": "trivial", "description": "think"})
    assert decision["effective_tier"] == "trivial"
    assert decision["target_type"] == "ollama" and decision["fallback_used"] is True
    decision = route({"complexity": "trivial"}, ollama_url=None)
    assert decision["target_type"] == "claude"
    assert "shell_command" in decision["fallback_reason"] and "ollama" in decision["fallback_reason"]


def test_odd_field_types_do_not_crash():
    fields = {"description": 42, "file_hints": "one.py", "verification_steps": None,
              "estimated_hours": True, "complexity": ["complex"], "shell_command": "  "}
    result = complexity_of(fields)
    assert result["effective_tier"] == "standard"
    assert result["signals"]["files"] == 1


def test_decided_at_accepts_epoch_seconds_and_defaults_to_now():
    assert decide({}, None, default_ollama_model="m", claude_model="c",
                  now=0)["decided_at"] == "1970-01-01T00:00:00.000Z"
    stamp = decide({}, None, default_ollama_model="m", claude_model="c")["decided_at"]
    assert stamp.endswith("Z") and stamp[:4].isdigit()


@pytest.mark.parametrize("url,endpoint", [
    ("http://127.0.0.1:11434", "127.0.0.1:11434"), ("http://gpu-box:9000/", "gpu-box:9000"),
    ("https://ollama.lan", "ollama.lan:11434"), ("127.0.0.1:5000", "127.0.0.1:5000"),
    ("gpu-box", "gpu-box:11434"), ("http://[::1]:11434", "[::1]:11434"),
    ("http://bad:port", "http://bad:port"),
])
def test_endpoint_is_host_and_port(url, endpoint):
    assert endpoint_of(url) == endpoint


def test_a_task_that_names_its_executor_gets_it_only_on_agents_that_have_it():
    fields = {"executor": "Codex", "description": "small"}
    assert choose_target(fields, (), None, ("shell", "codex")) == ("codex", None)
    target, reason = choose_target(fields, (), None, ("shell", "claude"))
    assert target is None and reason == "task names executor codex: this agent cannot run codex"
    decision = decide(fields, None, default_ollama_model="m", claude_model="c", executors=("codex",))
    assert decision["target_type"] == "codex" and decision["selected_model"] is None
    assert decision["classification_reason"].startswith("task names executor codex")
    assert decision["estimated_cost_tier"] == "api" and not decision["fallback_used"]
    shell = {"executor": "shell"}
    assert choose_target(shell, (), None, ("shell",))[0] is None, "shell without a shell_command"
    assert choose_target({**shell, "shell_command": "ls"}, (), None, ("shell",))[0] == "sidecar"
    assert choose_target({"executor": "aider"}, (), None, ("shell", "aider"))[0] == "aider"


def test_tiers_fall_back_through_the_agents_executors_with_reasons():
    complex_task = {"complexity": "complex"}
    assert choose_target(complex_task, (), None, ("shell", "claude", "codex")) == ("claude", None)
    assert choose_target(complex_task, (), None, ("shell", "codex")) == ("codex", "agent cannot run claude")
    target, reason = choose_target(complex_task, (), "http://x:1", ("shell", "ollama"))
    assert target is None and reason == "complex task: agent cannot run claude; agent cannot run codex"
    standard = {"description": "short"}
    target, reason = choose_target(standard, (), None, ("shell", "claude"))
    assert target == "claude" and "ollama_url" in reason
    assert choose_target(standard, (), "http://x:1", ("shell", "ollama")) == ("ollama", None)


def test_an_agent_that_declares_no_executors_is_routed_as_before():
    assert choose_target({"complexity": "complex"}, ("shell",), None) == ("claude", None)
    assert choose_target({"executor": "codex"}, ("shell",), None)[0] is None
    assert choose_target({"executor": "codex"}, ("codex",), None) == ("codex", None)


@pytest.mark.parametrize("fields", [{"complexity": "complex"}, {"description": "short"}, {"shell_command": "ls"},
                                    {"complexity": "trivial"}, {"executor": "codex"}, {"executor": "shell"},
                                    {"complexity": "complex", "shell_command": "ls"}])
@pytest.mark.parametrize("executors", [None, ("shell",), ("shell", "claude"), ("shell", "codex"),
                                       ("shell", "ollama", "claude", "codex"), ("codex",)])
def test_the_quick_answer_agrees_with_the_full_decision(fields, executors):
    for url in (None, "http://x:1"):
        full = choose_target(fields, ("shell",), url, executors)[0] is not None
        assert can_run_task(fields, ("shell",), url, executors) == full
