"""Cost estimates per model: known prices exactly, unknown models refused unless configured."""

from __future__ import annotations

import pytest

from aivc.api.crds import schema
from aivc.api.spec import CampaignSpec
from aivc.llm.accounting import Ledger, Price, PriceBook, TokenUsage, UnknownModelError, cost_usd
from aivc.llm.models import MODELS, card, model_key
from aivc.research.llm_planner import LLMPlanner, price_book
from aivc.settings import LLMSettings

CRD_DEFAULT = "claude-sonnet-5-5"


def spec(**llm) -> CampaignSpec:
    return CampaignSpec.from_manifest({
        "apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": "t"},
        "spec": {"planner": "llm", "dataset": {"clips": ["carphone:8"]}, "llm": llm}})


def test_a_sonnet_call_costs_input_output_and_cache_at_their_rates():
    usage = TokenUsage(input=1_000_000, output=1_000_000, cache_read=1_000_000, cache_write=1_000_000)
    # $3 in, $15 out, cache read 0.1x input, cache write 1.25x input
    assert cost_usd("claude-sonnet-4-6", usage) == pytest.approx(3 + 15 + 0.3 + 3.75)


@pytest.mark.parametrize("model, expected_input, expected_read", [
    ("claude-opus-4-5", 5.0, 0.5), ("claude-opus-4-1-20250805", 15.0, 1.5),
    ("claude-haiku-4-5-20251001", 1.0, 0.1), ("claude-3-5-haiku-latest", 0.8, 0.08),
    ("claude-sonnet-4-5-20250929", 3.0, 0.3), ("claude-sonnet-5-5", 2.0, 0.1),
    ("claude-opus-5-5", 4.0, 0.2), ("claude-opus-5", 5.0, 0.5), ("claude-fable-5-1", 10.0, 0.25),
])
def test_model_names_and_snapshots_map_to_their_price(model, expected_input, expected_read):
    price = PriceBook().price(model)
    assert (price.input, price.cache_read) == (expected_input, pytest.approx(expected_read))


def test_a_snapshot_date_is_stripped_but_a_minor_version_is_never_dropped():
    assert model_key("claude-haiku-4-5-20251001") == "claude-haiku-4-5"
    assert model_key("claude-opus-5-5") == "claude-opus-5-5"  # not claude-opus-5
    assert card("claude-opus-5-5").price.input == 4.0 and card("claude-opus-5").price.input == 5.0


def test_an_unknown_model_is_refused_not_priced_by_a_guess():
    with pytest.raises(UnknownModelError, match="claude-someday-9.*spec.llm.prices"):
        PriceBook().price("claude-someday-9")
    assert not PriceBook().knows("claude-someday-9")


def test_a_campaign_may_price_a_model_itself_and_override_the_table():
    book = PriceBook({"claude-someday-9": Price.standard(7.0, 21.0),
                      "claude-sonnet-4-6": Price.standard(1.0, 2.0)})
    assert book.cost("claude-someday-9", TokenUsage(input=1_000_000)) == pytest.approx(7.0)
    assert book.cost("claude-sonnet-4-6-20990101", TokenUsage(output=1_000_000)) == pytest.approx(2.0)


def test_a_long_prompt_is_billed_at_its_tier_on_every_token():
    haiku = PriceBook().price("claude-haiku-5-5")
    short = TokenUsage(input=50_000, output=1_000)
    long = TokenUsage(input=50_000, cache_read=60_000, output=1_000)
    assert cost_usd("claude-haiku-5-5", short) == pytest.approx((50_000 * 0.10 + 1_000 * 0.50) / 1e6)
    assert cost_usd("claude-haiku-5-5", long) == pytest.approx(
        (50_000 * 0.50 + 60_000 * 0.05 + 1_000 * 2.50) / 1e6)
    assert haiku.for_prompt(100_000) is haiku


def test_every_catalogued_model_has_sane_prices_and_limits():
    for name, model in MODELS.items():
        p = model.price
        assert 0 < p.cache_read < p.input < p.output, name
        assert p.cache_write >= p.input and model.max_output >= 4096, name


def test_the_planner_refuses_an_unknown_model_when_it_is_built():
    with pytest.raises(UnknownModelError, match="spec.llm.model: model 'claude-someday-9'"):
        LLMPlanner(spec(model="claude-someday-9"), LLMSettings(api_key="k"))
    with pytest.raises(UnknownModelError, match="spec.llm.models.review"):
        price_book(spec(models={"review": "claude-someday-9"}))


def test_a_model_priced_by_the_campaign_is_accepted_with_default_cache_rates():
    book = price_book(spec(model="claude-someday-9",
                           prices={"claude-someday-9": {"inputPerMTok": 4, "outputPerMTok": 8}}))
    price = book.price("claude-someday-9")
    assert (price.input, price.output, price.cache_write, price.cache_read) == \
        (4.0, 8.0, pytest.approx(5.0), pytest.approx(0.4))


def test_roles_use_their_own_model_and_repair_is_a_design():
    llm = spec(model="claude-sonnet-5-5", models={"analysis": "claude-haiku-4-5"}).llm
    assert [llm.model_for(r) for r in ("design", "repair", "analysis", "review")] == \
        ["claude-sonnet-5-5", "claude-sonnet-5-5", "claude-haiku-4-5", "claude-sonnet-5-5"]


def test_the_default_model_is_a_current_one_the_installed_sdk_knows_and_not_deprecated():
    from anthropic.resources.messages.messages import DEPRECATED_MODELS
    from anthropic.types.model_param import ModelParam

    llm = schema("Campaign")["properties"]["spec"]["properties"]["llm"]
    default = llm["properties"]["model"]["default"]
    assert default == CRD_DEFAULT == spec().llm.model
    assert default in ModelParam.__args__[0].__args__ and default not in DEPRECATED_MODELS
    assert PriceBook().knows(default)


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
