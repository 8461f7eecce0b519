"""Token and cost accounting for Messages API calls.

The campaign budget (`maxCostUSD`) stops a run on estimated spend, so an estimate must be
right, not merely safe: a model is priced from the catalogue (`aivc.llm.models`) or from
prices the Campaign configures (`spec.llm.prices`, which win), and a model with neither is
refused (`UnknownModelError`) before any call is made. Prices are US dollars per million
tokens (MTok).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from aivc.llm.models import Price, UnknownModelError, card, model_key

TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")


@dataclass(frozen=True)
class TokenUsage:
    """Tokens of one response (or a total); `input` excludes cached tokens, as the API reports."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, int]:
        """Keyed by the metric's token kinds (input, output, cache_read, cache_write)."""
        return {kind: getattr(self, kind) for kind in TOKEN_KINDS}

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    @property
    def prompt(self) -> int:
        """Every input token of the request, cached or not: what a long-prompt tier counts."""
        return self.input + self.cache_read + self.cache_write


class PriceBook:
    """The catalogue's prices, overridden or extended by the Campaign's own."""

    def __init__(self, configured: Mapping[str, Price] | None = None) -> None:
        self._configured = {model_key(m): p for m, p in (configured or {}).items()}

    def knows(self, model: str) -> bool:
        return model_key(model) in self._configured or card(model) is not None

    def price(self, model: str) -> Price:
        configured = self._configured.get(model_key(model))
        if configured is not None:
            return configured
        found = card(model)
        if found is None:
            raise UnknownModelError(
                f"model {model!r} has no known price: use a model the planner knows (e.g. "
                f"claude-sonnet-5-5) or set its prices in the Campaign under "
                f"spec.llm.prices[{model!r}] (inputPerMTok, outputPerMTok)")
        return found.price

    def cost(self, model: str, usage: TokenUsage) -> float:
        p = self.price(model).for_prompt(usage.prompt)
        return (usage.input * p.input + usage.output * p.output + usage.cache_read * p.cache_read
                + usage.cache_write * p.cache_write) / 1_000_000


CATALOGUE = PriceBook()
"""The catalogue's prices alone (no Campaign overrides)."""


def cost_usd(model: str, usage: TokenUsage, prices: PriceBook = CATALOGUE) -> float:
    return prices.cost(model, usage)


@dataclass
class ModelTotal:
    requests: int = 0
    usage: TokenUsage = TokenUsage()
    cost_usd: float = 0.0


class Ledger:
    """Running totals per model of one planner object (what `spent_usd` reports)."""

    def __init__(self, prices: PriceBook = CATALOGUE) -> None:
        self.prices = prices
        self._models: dict[str, ModelTotal] = {}

    def record(self, model: str, usage: TokenUsage, cost: float | None = None) -> float:
        """Add one request (its cost computed unless given); return its cost."""
        cost = self.prices.cost(model, usage) if cost is None else cost
        total = self._models.setdefault(model, ModelTotal())
        total.requests += 1
        total.usage = total.usage + usage
        total.cost_usd += cost
        return cost

    @property
    def spent_usd(self) -> float:
        return sum(t.cost_usd for t in self._models.values())

    def totals(self) -> dict[str, ModelTotal]:
        """A copy, per model."""
        return {m: ModelTotal(t.requests, t.usage, t.cost_usd) for m, t in self._models.items()}


__all__ = ["CATALOGUE", "TOKEN_KINDS", "Ledger", "ModelTotal", "Price", "PriceBook", "TokenUsage",
           "UnknownModelError", "cost_usd"]
