"""The models the planner knows: price, output limit and whether a tool may be forced.

One catalogue, so a model's price and its limits cannot drift apart. Prices are US dollars
per million tokens as Anthropic's pricing page lists them (5-minute cache writes, cache
hits); a model that is not here is refused when a planner is built unless the Campaign
configures its prices (`spec.llm.prices`), because a guessed price makes `maxCostUSD` stop a
campaign too early or too late. Checked against platform.claude.com's pricing and model
pages (2026-10): update this table when Anthropic changes a price.

`max_output` is the most a model may write in one answer, so a tool call cut off at
`max_tokens` can be asked again with a higher limit. `forced_tool_choice` is False for the
models that answer a forced `tool_choice` with 400 (Sonnet 5.5 and Opus 5.5 think by
default): they are asked with `auto` and told in the prompt which tool to call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aivc.errors import AivcError


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens of each kind; a long prompt may switch to another tier."""

    input: float
    output: float
    cache_write: float
    cache_read: float
    long_prompt_over: int | None = None
    """Prompts (input + cache reads + cache writes) above this many tokens pay `long`."""
    long: Price | None = None

    @classmethod
    def standard(cls, input_per_mtok: float, output_per_mtok: float, *,
                 cache_read: float | None = None) -> Price:
        """Cache writes at 1.25x input and hits at 0.1x input, as most models bill them."""
        read = 0.1 * input_per_mtok if cache_read is None else cache_read
        return cls(input_per_mtok, output_per_mtok, 1.25 * input_per_mtok, read)

    def for_prompt(self, prompt_tokens: int) -> Price:
        """The tier a request with `prompt_tokens` is billed at (every token of it)."""
        if self.long is not None and self.long_prompt_over is not None \
                and prompt_tokens > self.long_prompt_over:
            return self.long
        return self


@dataclass(frozen=True)
class ModelCard:
    price: Price
    max_output: int
    forced_tool_choice: bool = True


_OPUS = Price.standard(5.0, 25.0)
_OPUS_OLD = Price.standard(15.0, 75.0)
_SONNET_4 = Price(3.0, 15.0, 3.75, 0.30, 200_000, Price(6.0, 22.5, 7.5, 0.60))
_FABLE = Price.standard(10.0, 50.0, cache_read=1.0)
_FABLE_1 = Price.standard(10.0, 50.0, cache_read=0.25)

MODELS: dict[str, ModelCard] = {
    "claude-fable-5-1": ModelCard(_FABLE_1, 128_000),
    "claude-mythos-5-1": ModelCard(_FABLE_1, 128_000),
    "claude-fable-5": ModelCard(_FABLE, 128_000),
    "claude-mythos-5": ModelCard(_FABLE, 128_000),
    "claude-opus-5-5": ModelCard(Price.standard(4.0, 20.0, cache_read=0.20), 128_000, False),
    "claude-opus-5": ModelCard(_OPUS, 128_000),
    "claude-opus-4-8": ModelCard(_OPUS, 128_000),
    "claude-opus-4-7": ModelCard(_OPUS, 128_000),
    "claude-opus-4-6": ModelCard(_OPUS, 128_000),
    "claude-opus-4-5": ModelCard(_OPUS, 64_000),
    "claude-opus-4-1": ModelCard(_OPUS_OLD, 32_000),
    "claude-opus-4-0": ModelCard(_OPUS_OLD, 32_000),
    "claude-opus-4": ModelCard(_OPUS_OLD, 32_000),
    "claude-sonnet-5-5": ModelCard(Price.standard(2.0, 10.0, cache_read=0.10), 128_000, False),
    "claude-sonnet-5": ModelCard(Price.standard(2.0, 10.0), 128_000),
    "claude-sonnet-4-6": ModelCard(Price.standard(3.0, 15.0), 64_000),
    "claude-sonnet-4-5": ModelCard(_SONNET_4, 64_000),
    "claude-sonnet-4-0": ModelCard(_SONNET_4, 64_000),
    "claude-sonnet-4": ModelCard(_SONNET_4, 64_000),
    "claude-3-7-sonnet": ModelCard(Price.standard(3.0, 15.0), 64_000),
    "claude-haiku-5-5": ModelCard(Price(0.10, 0.50, 0.125, 0.01, 100_000,
                                        Price(0.50, 2.50, 0.625, 0.05)), 128_000),
    "claude-haiku-4-5": ModelCard(Price.standard(1.0, 5.0), 64_000),
    "claude-3-5-haiku": ModelCard(Price.standard(0.8, 4.0), 8_192),
    "claude-3-haiku": ModelCard(Price.standard(0.25, 1.25), 4_096),
}

_SNAPSHOT = re.compile(r"-(\d{8}|latest)$")


class UnknownModelError(AivcError):
    """A model with no price: refused, since its cost could only be guessed."""


def model_key(model: str) -> str:
    """The catalogue key of a model id: lower case, without a snapshot date or `-latest`
    (`claude-haiku-4-5-20251001` → `claude-haiku-4-5`). Only a whole date is stripped, so
    `claude-opus-5-5` never falls back to `claude-opus-5`."""
    name = model.strip().lower()
    return _SNAPSHOT.sub("", name)


def card(model: str) -> ModelCard | None:
    return MODELS.get(model_key(model))
