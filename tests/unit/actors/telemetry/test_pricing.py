"""Pricing: API models priced from genai-prices, local models free with a Claude equivalent,
unknown models unpriced (never a silent $0.00)."""

from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price

from agentdeck.actors.telemetry.pricing import Price, is_local_model, price_invocation


def _reference(model: str, tokens_in: int, tokens_out: int, provider: str | None = None) -> float:
    usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out)
    return float(calc_price(usage, model_ref=model, provider_id=provider).total_price)


@pytest.mark.parametrize("model", [None, "", "none", "None", "shell", " shell "])
def test_no_model_is_a_free_priced_shell_step(model):
    assert price_invocation(model, 0, 0) == Price(0.0, True, False, None)


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gpt-4o", "anthropic:claude-sonnet-4-5",
                                   "openai/gpt-4o"])
def test_api_model_priced_like_genai_prices(model):
    price = price_invocation(model, 12_000, 3_400)
    bare = model.replace("anthropic:", "").replace("openai/", "")
    assert price.priced and not price.local
    assert price.cost_usd == pytest.approx(_reference(bare, 12_000, 3_400))
    assert price.cost_usd > 0
    assert price.equivalent_claude_cost_usd is None


def test_more_tokens_cost_more():
    small = price_invocation("claude-sonnet-4-5", 100, 100).cost_usd
    large = price_invocation("claude-sonnet-4-5", 10_000, 10_000).cost_usd
    assert large > small > 0


@pytest.mark.parametrize("model", ["llama3:8b", "qwen2.5-coder:7b", "mistral", "ollama/mistral",
                                   "phi3", "gemma3", "deepseek-coder", "codellama:13b", "gpt-oss:20b"])
def test_local_model_free_with_claude_equivalent(model):
    price = price_invocation(model, 2_000, 1_000)
    assert price.local and price.priced
    assert price.cost_usd == 0.0
    assert price.equivalent_claude_cost_usd == pytest.approx(
        _reference("claude-sonnet-4-5", 2_000, 1_000))
    assert is_local_model(model)


def test_equivalent_uses_the_requested_claude_model():
    sonnet = price_invocation("llama3:8b", 5_000, 5_000).equivalent_claude_cost_usd
    haiku = price_invocation("llama3:8b", 5_000, 5_000,
                             claude_model="claude-3-5-haiku-latest").equivalent_claude_cost_usd
    assert haiku == pytest.approx(_reference("claude-3-5-haiku-latest", 5_000, 5_000))
    assert haiku < sonnet


@pytest.mark.parametrize("model", ["foo-bar-9000", "anthropic:no-such-model", "openai/nope"])
def test_unknown_model_is_unpriced_not_zero(model):
    price = price_invocation(model, 1_000, 1_000)
    assert price == Price(cost_usd=None, priced=False, local=False, equivalent_claude_cost_usd=None)
    assert not is_local_model(model)


def test_negative_tokens_count_as_zero():
    assert price_invocation("claude-sonnet-4-5", -50, -1).cost_usd == 0.0
