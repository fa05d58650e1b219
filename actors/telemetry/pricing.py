"""What one model invocation cost, in USD, from the genai-prices tables.

Three outcomes, never confused: an API model genai-prices knows (priced), a local model such as an
Ollama tag (free, with what the same tokens would have cost on a Claude model so savings can be
shown), and an unknown model (``priced`` False, cost None: shown as unpriced, never as $0.00).
Shell steps that ran no model cost nothing and count as priced.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from types import ModuleType

import attrs

NO_MODEL_NAMES = frozenset({"", "none", "shell"})
LOCAL_PREFIXES = ("ollama/", "ollama:", "ollama_chat/", "local/", "lmstudio/")
LOCAL_FAMILIES = re.compile(
    r"^(llama|qwen|mistral|mixtral|phi|gemma|deepseek-coder|deepseek-r1|codellama|starcoder|"
    r"codegemma|codestral|granite|tinyllama|smollm|nomic|orca|vicuna|wizard|neural-chat|"
    r"dolphin|yi|olmo|falcon)",
)


@attrs.frozen
class Price:
    cost_usd: float | None  # None when unpriced
    priced: bool  # False for an unknown (non-local) model
    local: bool  # a local (Ollama-style) model: cost 0
    equivalent_claude_cost_usd: float | None  # for local models: same tokens on the Claude model


@attrs.frozen
class Reconciled:
    """The hub's price of an invocation beside the agent's own figure.

    ``cost_usd`` is the hub's price whenever genai-prices knows the model, else the agent's figure
    (``priced`` False when neither has one). ``agent_cost_usd`` is what the agent said;
    ``disagrees`` flags an agent figure more than 1 % (and a hundredth of a cent) off the hub's.
    A paid model has no equivalent Claude cost: it is never shown as local savings.
    """

    cost_usd: float | None
    priced: bool
    local: bool
    equivalent_claude_cost_usd: float | None
    agent_cost_usd: float | None
    disagrees: bool


DISAGREE_RELATIVE = 0.01
DISAGREE_ABSOLUTE = 0.0001


def reconcile(model: str | None, tokens_in: int, tokens_out: int, *, agent_cost_usd: float | None,
              agent_equivalent_usd: float | None, claude_model: str = "claude-sonnet-4-5",
              cache_read_tokens: int = 0, cache_write_tokens: int = 0) -> Reconciled:
    """Price from model and tokens where the hub can; the agent's figures only where it cannot."""
    price = price_invocation(model, tokens_in, tokens_out, claude_model=claude_model,
                             cache_read_tokens=cache_read_tokens, cache_write_tokens=cache_write_tokens)
    if not price.priced:
        return Reconciled(cost_usd=agent_cost_usd, priced=agent_cost_usd is not None, local=False,
                          equivalent_claude_cost_usd=agent_equivalent_usd,
                          agent_cost_usd=agent_cost_usd, disagrees=False)
    cost = price.cost_usd or 0.0
    disagrees = agent_cost_usd is not None and abs(agent_cost_usd - cost) > max(
        DISAGREE_ABSOLUTE, DISAGREE_RELATIVE * max(abs(cost), abs(agent_cost_usd)))
    equivalent = None
    if price.local:
        equivalent = price.equivalent_claude_cost_usd if price.equivalent_claude_cost_usd is not None \
            else agent_equivalent_usd
    return Reconciled(cost_usd=price.cost_usd, priced=True, local=price.local,
                      equivalent_claude_cost_usd=equivalent, agent_cost_usd=agent_cost_usd,
                      disagrees=disagrees)


# Claude Code's model aliases (``claude --model sonnet``), as the newest model of each family
CLAUDE_ALIASES = {"sonnet": "claude-sonnet-4-5", "opus": "claude-opus-4-1", "haiku": "claude-haiku-4-5"}
_DOTTED_VERSION = re.compile(r"(?<=\d)\.(?=\d)")


def normalise_model_name(name: str) -> str:
    """Claude model names as agents spell them, in the form the price tables use: case folded,
    ``anthropic/`` or ``anthropic:`` dropped, an Ollama-style ``:tag`` dropped, dots between
    version digits as dashes (``claude-sonnet-4.5`` -> ``claude-sonnet-4-5``), aliases expanded.
    Dated ids (``claude-sonnet-4-5-20250929``) are kept: the tables know them. Other names as given."""
    lowered = name.strip().lower()
    for prefix in ("anthropic/", "anthropic:"):
        if lowered.startswith(prefix):
            lowered = lowered[len(prefix):]
    if lowered in CLAUDE_ALIASES:
        return CLAUDE_ALIASES[lowered]
    if not lowered.startswith("claude"):
        return name.strip()
    lowered = lowered.split(":", 1)[0].split("@", 1)[0]
    return _DOTTED_VERSION.sub("-", lowered)


@attrs.frozen
class _Resolution:
    """How a model name is priced: ``kind`` is "api", "local" or "unknown"."""

    kind: str
    model_ref: str | None = None
    provider_id: str | None = None


def price_invocation(
    model: str | None,
    tokens_in: int,
    tokens_out: int,
    *,
    claude_model: str = "claude-sonnet-4-5",
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> Price:
    """Price one invocation; negative token counts are treated as 0.

    ``tokens_in`` counts every input token, cached ones included (as genai-prices expects); the
    cache counts say how many of them were read from or written to the prompt cache."""
    tokens_in, tokens_out = max(int(tokens_in or 0), 0), max(int(tokens_out or 0), 0)
    cache = (min(max(int(cache_read_tokens or 0), 0), tokens_in),
             min(max(int(cache_write_tokens or 0), 0), tokens_in))
    name = normalise_model_name(model or "")
    if name.lower() in NO_MODEL_NAMES:
        return Price(cost_usd=0.0, priced=True, local=False, equivalent_claude_cost_usd=None)
    resolution = _resolve(name)
    if resolution.kind == "api":
        cost = _cost(resolution, tokens_in, tokens_out, cache)
        return Price(cost_usd=cost, priced=True, local=False, equivalent_claude_cost_usd=None)
    if resolution.kind == "local":
        claude = _resolve(normalise_model_name(claude_model))
        equivalent = _cost(claude, tokens_in, tokens_out, cache) if claude.kind == "api" else None
        return Price(cost_usd=0.0, priced=True, local=True, equivalent_claude_cost_usd=equivalent)
    return Price(cost_usd=None, priced=False, local=False, equivalent_claude_cost_usd=None)


def is_local_model(model: str | None) -> bool:
    name = normalise_model_name(model or "")
    return bool(name) and name.lower() not in NO_MODEL_NAMES and _resolve(name).kind == "local"


def is_paid_model(model: str | None) -> bool:
    """A model genai-prices prices (an API model, any spelling): never shown as local savings."""
    name = normalise_model_name(model or "")
    return bool(name) and name.lower() not in NO_MODEL_NAMES and _resolve(name).kind == "api"


def is_known_model(model: str | None) -> bool:
    """True for no model (a shell step), a local model, or one genai-prices can price."""
    name = normalise_model_name(model or "")
    return name.lower() in NO_MODEL_NAMES or _resolve(name).kind != "unknown"


def _cost(resolution: _Resolution, tokens_in: int, tokens_out: int,
          cache: tuple[int, int] = (0, 0)) -> float:
    genai_prices = _genai_prices()
    usage = genai_prices.Usage(input_tokens=tokens_in, output_tokens=tokens_out,
                               cache_read_tokens=cache[0] or None, cache_write_tokens=cache[1] or None)
    result = genai_prices.calc_price(usage, model_ref=resolution.model_ref, provider_id=resolution.provider_id)
    return float(Decimal(result.total_price))


@functools.lru_cache(maxsize=1024)
def _resolve(name: str) -> _Resolution:
    lowered = name.lower()
    if lowered.startswith(LOCAL_PREFIXES):
        return _Resolution("local")
    provider, _, rest = name.partition(":") if ":" in name else ("", "", name)
    if provider and "/" not in provider and rest:
        found = _lookup(rest, provider)
        if found is not None:
            return found
    if provider.lower() in _api_provider_ids():
        return _Resolution("unknown")  # a provider we know, a model it does not list
    if ":" in name:
        return _Resolution("local")  # an Ollama tag such as llama3:8b
    found = _lookup(name, None)
    if found is None and "/" in name:
        provider, _, rest = name.partition("/")
        found = _lookup(rest, provider) or _lookup(rest, None)
    if found is not None:
        return found
    bare = lowered.rsplit("/", 1)[-1]
    if LOCAL_FAMILIES.match(bare):
        return _Resolution("local")
    return _Resolution("unknown")


def _genai_prices() -> ModuleType:
    """The price library, imported on first use: it costs a tenth of a second of hub start-up."""
    import genai_prices

    return genai_prices


@functools.lru_cache(maxsize=1)
def _api_provider_ids() -> frozenset[str]:
    from genai_prices.data_snapshot import get_snapshot

    return frozenset(provider.id.lower() for provider in get_snapshot().providers)


def _lookup(model_ref: str, provider_id: str | None) -> _Resolution | None:
    try:
        genai_prices = _genai_prices()
        result = genai_prices.calc_price(genai_prices.Usage(input_tokens=0, output_tokens=0), model_ref=model_ref,
                            provider_id=provider_id)
    except (LookupError, ValueError):
        return None
    return _Resolution("api", model_ref=model_ref, provider_id=result.provider.id)
