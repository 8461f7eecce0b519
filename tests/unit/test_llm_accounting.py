"""Cost estimates per model: known prices exactly, unknown models never cheaper than known."""

from __future__ import annotations

import pytest

from aivc.llm.accounting import (
    DEFAULT_PRICE,
    PRICES,
    Ledger,
    TokenUsage,
    cost_usd,
    is_known_model,
    price_for,
)


def test_a_sonnet_call_costs_input_output_and_cache_at_their_rates():
    usage = TokenUsage(input=1_000_000, output=1_000_000, cache_read=1_000_000, cache_write=1_000_000)
    # $3 in, $15 out, cache read 0.1x input, cache write 1.25x input
    assert cost_usd("claude-sonnet-4-6", usage) == pytest.approx(3 + 15 + 0.3 + 3.75)


@pytest.mark.parametrize("model, expected_input", [
    ("claude-opus-4-5", 5.0), ("claude-opus-4-1-20250805", 15.0), ("claude-haiku-4-5-20251001", 1.0),
    ("claude-3-5-haiku-latest", 0.8), ("claude-sonnet-4-5-20250929", 3.0),
])
def test_model_names_map_to_their_family_price(model, expected_input):
    assert price_for(model).input == expected_input
    assert is_known_model(model)


def test_unknown_models_get_the_most_expensive_known_price():
    assert not is_known_model("claude-someday-9")
    assert price_for("claude-someday-9") == DEFAULT_PRICE
    for _, price in PRICES:
        assert DEFAULT_PRICE.input >= price.input and DEFAULT_PRICE.output >= price.output


def test_the_ledger_keeps_totals_per_model_and_in_all():
    ledger = Ledger()
    c1 = ledger.record("claude-sonnet-4-6", TokenUsage(input=1000, output=200))
    c2 = ledger.record("claude-sonnet-4-6", TokenUsage(input=10, cache_read=5000))
    c3 = ledger.record("claude-haiku-4-5", TokenUsage(output=100))
    totals = ledger.totals()
    assert totals["claude-sonnet-4-6"].requests == 2
    assert totals["claude-sonnet-4-6"].usage == TokenUsage(input=1010, output=200, cache_read=5000)
    assert totals["claude-haiku-4-5"].cost_usd == pytest.approx(100 * 5 / 1e6)
    assert ledger.spent_usd == pytest.approx(c1 + c2 + c3)
    assert c1 == pytest.approx((1000 * 3 + 200 * 15) / 1e6)


def test_token_usage_reports_the_metric_token_kinds():
    assert TokenUsage(1, 2, 3, 4).as_dict() == {"input": 1, "output": 2, "cache_read": 3,
                                                "cache_write": 4}
