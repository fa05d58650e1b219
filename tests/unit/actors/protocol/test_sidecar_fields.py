"""Pure rules behind the Elixir sidecar's fields: what task_assign carries, how verification results
are read, how retries are counted, and how the hub prices what the agent priced differently."""

from __future__ import annotations

import datetime as dt

import pytest

from agentdeck.actors.board import lifecycle
from agentdeck.actors.board.taskfile import parse_task
from agentdeck.actors.protocol.assignment import assign_metadata, epoch_ms, verification_controls
from agentdeck.actors.protocol.throttle import OutputThrottle
from agentdeck.actors.protocol.verification import verification_of
from agentdeck.actors.telemetry.pricing import normalise_model_name, price_invocation, reconcile

# ------------------------------------------------------------------ metadata and timeouts


def test_metadata_is_the_tasks_mapping_with_command_fields_folded_in() -> None:
    fields = {"id": "t", "title": "x", "priority": "high", "shell_command": "make",
              "timeout_seconds": 90, "metadata": {"owner": "me"}}
    assert assign_metadata(fields) == {"owner": "me", "shell_command": "make",
                                       "timeout_seconds": 90, "timeout_ms": 90000}


def test_a_nested_command_wins_and_a_nested_timeout_ms_gives_seconds() -> None:
    fields = {"shell_command": "top", "metadata": {"shell_command": "nested", "timeout_ms": 1500}}
    assert assign_metadata(fields) == {"shell_command": "nested", "timeout_ms": 1500,
                                       "timeout_seconds": 1.5}


@pytest.mark.parametrize("metadata", [None, "text", [1, 2]])
def test_metadata_that_is_not_a_mapping_is_empty(metadata: object) -> None:
    assert assign_metadata({"metadata": metadata}) == {}


@pytest.mark.parametrize("timeout", [0, -5, True, "60", float("inf")])
def test_unusable_timeouts_are_not_converted(timeout: object) -> None:
    assert "timeout_ms" not in assign_metadata({"timeout_seconds": timeout})


def test_verification_controls_top_level_or_nested_with_the_elixir_defaults() -> None:
    assert verification_controls({}) == {"skip_verification": False, "verification_timeout_ms": None,
                                         "max_verification_retries": 0}
    assert verification_controls({"skip_verification": True, "verification_timeout_ms": 30000,
                                  "metadata": {"max_verification_retries": 2}}) == {
        "skip_verification": True, "verification_timeout_ms": 30000, "max_verification_retries": 2}
    assert verification_controls({"skip_verification": "yes", "max_verification_retries": -1,
                                  "verification_timeout_ms": "soon"}) == {
        "skip_verification": False, "verification_timeout_ms": None, "max_verification_retries": 0}


def test_assigned_at_goes_out_as_integer_milliseconds() -> None:
    assert epoch_ms("2026-01-01T00:00:00.250+00:00", 0) == 1767225600250
    assert epoch_ms("2026-01-01T00:00:00Z", 0) == 1767225600000
    assert epoch_ms(dt.datetime(2026, 1, 1), 0) == 1767225600000  # YAML timestamps, naive = UTC
    assert epoch_ms(None, 12.5) == 12500 and epoch_ms("garbage", 1.0) == 1000


# ------------------------------------------------------------------ verification results

REPORT_FAIL = {"task_id": "t", "run_number": 1, "status": "fail", "started_at": 1, "duration_ms": 5,
               "timeout_ms": 120000, "summary": {"total": 1, "passed": 0, "failed": 1, "errors": 0,
                                                 "timed_out": 0},
               "checks": [{"type": "test_passes", "target": "npm test", "description": None,
                           "status": "fail", "output": "x" * 10000, "duration_ms": 5}]}


def test_a_failed_report_is_a_failed_verification_with_its_history() -> None:
    passed = {**REPORT_FAIL, "run_number": 2, "status": "pass", "checks": []}
    kept = verification_of({"verification_report": REPORT_FAIL,
                            "verification_history": [passed, REPORT_FAIL]},
                           {"verification_status": "partial_pass"})
    assert kept is not None and kept["verification_status"] == "failed"
    check = kept["verification_report"]["checks"][0]
    assert len(check["output"]) == 4096 and check["output_truncated"] is True
    assert [r["status"] for r in kept["verification_history"]] == ["pass", "fail"]


@pytest.mark.parametrize(("report_status", "loop", "expected"), [
    ("pass", "verified", "passed"), ("skip", "verified", "skipped"),
    ("auto_pass", "verified", "no_checks"), ("timeout", None, "failed"), ("error", None, "failed"),
    ("pass", "partial_pass", "failed"), ("weird", None, "failed")])
def test_report_statuses(report_status: str, loop: str | None, expected: str) -> None:
    kept = verification_of({"verification_report": {**REPORT_FAIL, "status": report_status}},
                           {"verification_status": loop})
    assert kept is not None and kept["verification_status"] == expected


def test_no_verification_keeps_nothing_and_null_fields_are_no_verification() -> None:
    assert verification_of({}, {}) is None
    assert verification_of({"verification_report": None, "verification_history": None}, {}) is None


# ------------------------------------------------------------------ retries


def _assigned(**fields: object):
    text = "\n".join(f"{k}: {v}" for k, v in {"id": "t", "title": "x", **fields}.items())
    return parse_task("assigned/a1/t.yaml", text.encode(), 0.0)


@pytest.mark.parametrize(("max_retries", "attempts"), [(0, 1), (1, 1), (3, 3), (5, 5)])
def test_max_retries_is_the_number_of_attempts_as_on_the_elixir_hub(max_retries: int,
                                                                      attempts: int) -> None:
    task, outcomes = _assigned(max_retries=max_retries), []
    for _ in range(attempts):
        _, fields, outcome = lifecycle.fail(task, "a1", "boom", 3)
        outcomes.append(outcome)
        task = _assigned(**{k: v for k, v in fields.items() if k in ("max_retries", "retry_count")})
    assert outcomes == ["retried"] * (attempts - 1) + ["dead_letter"]


def test_a_task_that_keeps_losing_its_agent_ends_in_the_dead_letter() -> None:
    task, outcomes = _assigned(), []
    for _ in range(3):
        dst, fields, outcome = lifecycle.reclaim(task, "agent disconnected", 3)
        outcomes.append(outcome)
        task = _assigned(retry_count=fields["retry_count"], generation=fields["generation"])
    assert outcomes == ["retried", "retried", "dead_letter"]
    assert dst == "dead/t.yaml" and fields["status"] == "dead"
    assert fields["last_error"] == "lost its agent 3 times; last: agent disconnected"


def test_a_task_lost_to_a_hub_restart_counts_no_retry() -> None:
    dst, fields, outcome = lifecycle.reclaim(_assigned(retry_count=2), "hub restarted", 3,
                                             count_retry=False)
    assert (dst, outcome, fields["retry_count"]) == ("inbox/t.yaml", "retried", 2)
    assert fields["attempts"][-1]["outcome"] == "reclaimed"


# ------------------------------------------------------------------ pricing


@pytest.mark.parametrize("name", ["claude-sonnet-4-5", "claude-sonnet-4.5", "Claude-Sonnet-4.5",
                                  "claude-sonnet-4-5-20250929", "claude-sonnet-4.5:latest",
                                  "anthropic/claude-sonnet-4.5", "anthropic:claude-sonnet-4-5",
                                  "sonnet"])
def test_claude_spellings_are_one_paid_model(name: str) -> None:
    price = price_invocation(name, 10_000, 2_000)
    assert price.priced and not price.local and price.equivalent_claude_cost_usd is None
    assert price.cost_usd == pytest.approx(10_000 * 3e-6 + 2_000 * 15e-6)


def test_normalising_leaves_other_names_alone() -> None:
    assert normalise_model_name("llama3.2:latest") == "llama3.2:latest"
    assert normalise_model_name("claude-3.5-sonnet") == "claude-3-5-sonnet"


def test_the_hub_price_wins_and_the_agents_figure_is_kept_and_flagged() -> None:
    # what the Elixir sidecar reports for a model its table does not know: $0 and a "saving"
    price = reconcile("claude-sonnet-4-5", 10_000, 2_000, agent_cost_usd=0.0,
                      agent_equivalent_usd=0.06)
    assert price.cost_usd == pytest.approx(0.06) and price.priced and not price.local
    assert price.agent_cost_usd == 0.0 and price.disagrees
    assert price.equivalent_claude_cost_usd is None  # a paid model is never shown as a saving
    same = reconcile("claude-sonnet-4.5", 10_000, 2_000, agent_cost_usd=0.06, agent_equivalent_usd=None)
    assert not same.disagrees


def test_an_unknown_model_keeps_the_agents_figure_or_stays_unpriced() -> None:
    assert reconcile("mystery-9", 5, 5, agent_cost_usd=0.5, agent_equivalent_usd=None).cost_usd == 0.5
    unpriced = reconcile("mystery-9", 5, 5, agent_cost_usd=None, agent_equivalent_usd=None)
    assert unpriced.cost_usd is None and not unpriced.priced


def test_a_local_model_is_free_with_the_claude_equivalent() -> None:
    price = reconcile("llama3.2:latest", 1000, 1000, agent_cost_usd=0, agent_equivalent_usd=0.018)
    assert price.local and price.cost_usd == 0 and not price.disagrees
    assert price.equivalent_claude_cost_usd == pytest.approx(1000 * 3e-6 + 1000 * 15e-6)


# ------------------------------------------------------------------ output throttle


def _chunk(task: str, text: str, kind: str = "stdout") -> dict:
    return {"type": "task_progress", "task_id": task,
            "execution_event": {"event_type": kind, "text": text, "timestamp": 1}}


def test_held_output_is_joined_per_task_and_kind_and_released_in_order() -> None:
    throttle = OutputThrottle(max_pending_bytes=100)
    assert throttle.hold(_chunk("a", "1\n")) is True  # starts an episode
    assert throttle.hold(_chunk("a", "2\n")) is False
    throttle.hold(_chunk("a", "oops\n", "stderr"))
    throttle.hold(_chunk("b", "b1\n"))
    assert [m["execution_event"]["text"] for m in throttle.release("a")] == ["1\n2\n", "oops\n"]
    assert throttle.holding
    assert [m["task_id"] for m in throttle.release()] == ["b"] and not throttle.holding


def test_past_the_budget_output_is_dropped_and_a_marker_says_how_much() -> None:
    throttle = OutputThrottle(max_pending_bytes=10)
    for n in range(5):
        throttle.hold(_chunk("a", f"line {n}\n"))  # 7 bytes each: one fits
    released = throttle.release()
    assert released[0]["execution_event"]["text"] == "line 0\n"
    marker = released[1]["execution_event"]
    assert marker == {"event_type": "status",
                      "text": "[output truncated: 4 events, 28 bytes dropped over the rate limit]"}
    assert throttle.release() == []
