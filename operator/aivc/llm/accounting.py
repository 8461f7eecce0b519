"""Token and cost accounting for Messages API calls.

The campaign budget (`maxCostUSD`) stops a run on estimated spend, so an estimate must
never be low: models this table does not know are priced at the most expensive rate we
know. Prices are US dollars per million tokens (MTok); a 5-minute prompt-cache write costs
1.25x the input rate and a cache read 0.1x, as Anthropic bills them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens of each kind."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    @classmethod
    def standard(cls, input_per_mtok: float, output_per_mtok: float) -> Price:
        return cls(input_per_mtok, output_per_mtok, 1.25 * input_per_mtok, 0.1 * input_per_mtok)


# First matching prefix wins, so more specific names come first. Later generations of a
# family are not assumed to keep its price: they fall through to the default.
PRICES: tuple[tuple[str, Price], ...] = (
    ("claude-opus-4-5", Price.standard(5.0, 25.0)),
    ("claude-opus-4-6", Price.standard(5.0, 25.0)),
    ("claude-opus-4-1", Price.standard(15.0, 75.0)),
    ("claude-opus-4-0", Price.standard(15.0, 75.0)),
    ("claude-opus-4-20250514", Price.standard(15.0, 75.0)),
    ("claude-3-opus", Price.standard(15.0, 75.0)),
    ("claude-sonnet-4", Price.standard(3.0, 15.0)),
    ("claude-3-7-sonnet", Price.standard(3.0, 15.0)),
    ("claude-3-5-sonnet", Price.standard(3.0, 15.0)),
    ("claude-haiku-4-5", Price.standard(1.0, 5.0)),
    ("claude-3-5-haiku", Price.standard(0.8, 4.0)),
    ("claude-3-haiku", Price.standard(0.25, 1.25)),
)
DEFAULT_PRICE = Price.standard(15.0, 75.0)
"""For unknown models: the highest rate in the table, so budgets stop early, never late."""


def price_for(model: str) -> Price:
    name = model.strip().lower()
    for prefix, price in PRICES:
        if name.startswith(prefix):
            return price
    return DEFAULT_PRICE


def is_known_model(model: str) -> bool:
    name = model.strip().lower()
    return any(name.startswith(prefix) for prefix, _ in PRICES)


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


def cost_usd(model: str, usage: TokenUsage) -> float:
    p = price_for(model)
    return (usage.input * p.input + usage.output * p.output + usage.cache_read * p.cache_read
            + usage.cache_write * p.cache_write) / 1_000_000


@dataclass
class ModelTotal:
    requests: int = 0
    usage: TokenUsage = TokenUsage()
    cost_usd: float = 0.0


class Ledger:
    """Running totals per model: what the planner reports as `spent_usd`."""

    def __init__(self) -> None:
        self._models: dict[str, ModelTotal] = {}

    def record(self, model: str, usage: TokenUsage) -> float:
        """Add one response; return its cost."""
        cost = cost_usd(model, usage)
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
