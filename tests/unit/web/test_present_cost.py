"""The cost words of a finished attempt: a paid model is never "local", whatever its file says."""

from __future__ import annotations

import pytest

from agentdeck.web.view.present import cost_row


@pytest.mark.parametrize("model", ["claude-sonnet-4.5", "claude-sonnet-4-5-20250929", "sonnet"])
def test_a_paid_model_priced_zero_by_an_old_agent_is_not_shown_as_local(model: str) -> None:
    # what an Elixir sidecar wrote before the hub priced it: $0 and an "equivalent" saving
    row = cost_row({"model_used": model, "tokens_in": 1000, "tokens_out": 500,
                    "estimated_cost_usd": 0.0, "equivalent_claude_cost_usd": 0.0105})
    assert row["badge"] != "local" and row["saved"] is None


@pytest.mark.parametrize("model", ["llama3.2:latest", "qwen2.5-coder:7b", "house-model"])
def test_a_local_or_unknown_model_at_zero_keeps_its_savings(model: str) -> None:
    row = cost_row({"model_used": model, "tokens_in": 1000, "tokens_out": 500,
                    "estimated_cost_usd": 0.0, "equivalent_claude_cost_usd": 0.0105})
    assert row["badge"] == "local" and row["saved"]
