"""The metrics module: Prometheus naming conventions, bounded labels, and what each
recording function does to the exported series (read back from the real registry)."""

from __future__ import annotations

import itertools
import urllib.request

import pytest
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from aivc.boards.promserver import free_port
from aivc.observe import metrics

_names = (f"camp{i}" for i in itertools.count())
UNITS = ("_seconds", "_bits_per_second", "_ratio", "_decibels", "_usd", "_timestamp_seconds")
UNITLESS = {  # counts and identifiers: Prometheus names these without a unit suffix
    "aivc_build_info", "aivc_campaign_model_info", "aivc_experiments_in_phase", "aivc_best_version",
    "aivc_latest_experiment_sequence", "aivc_experiments_since_adoption",
    "aivc_needs_human_experiments", "aivc_campaign_running", "aivc_campaign_paused",
    "aivc_design_model_programs",
}


def all_metrics() -> list[Counter | Gauge | Histogram]:
    return [v for v in vars(metrics).values() if isinstance(v, Counter | Gauge | Histogram)]


NS = "research"


def value(name: str, **labels: str) -> float | None:
    """A sample of the registry; a `campaign` is one of namespace NS unless said otherwise."""
    if "campaign" in labels:
        labels = {"campaign_namespace": NS, **labels}
    return metrics.REGISTRY.get_sample_value(name, labels)


@pytest.fixture
def campaign() -> str:
    """A fresh campaign name: the registry is process-wide, tests must not share series."""
    return next(_names)


def test_every_metric_has_the_aivc_prefix_and_a_help_text() -> None:
    for m in all_metrics():
        assert m._name.startswith("aivc_"), m._name
        assert m._documentation.strip(), m._name


def test_counters_are_exported_with_the_total_suffix_and_nothing_else_is() -> None:
    for m in all_metrics():
        for family in m.describe():
            if isinstance(m, Counter):
                assert family.type == "counter" and not family.name.endswith("_total")
            else:
                assert not family.name.endswith("_total"), family.name


def test_gauges_and_histograms_name_their_unit_or_are_counts() -> None:
    for m in all_metrics():
        if isinstance(m, Counter):
            continue
        assert m._name.endswith(UNITS) or m._name in UNITLESS, m._name


def test_no_counter_or_histogram_carries_an_experiment_name() -> None:
    for m in all_metrics():
        labels = set(m._labelnames)
        if isinstance(m, Counter | Histogram):
            assert "experiment" not in labels, m._name
        elif "experiment" in labels:
            assert m is metrics.WAITING_SINCE, m._name


def test_a_started_campaign_exports_every_series_the_boards_read_at_zero(campaign: str) -> None:
    metrics.campaign_started(campaign, 25.0, started_at=1_700_000_000.0, llm_models=("claude-x",), namespace=NS)
    assert value("aivc_campaign_running", campaign=campaign) == 1
    assert value("aivc_campaign_budget_usd", campaign=campaign) == 25
    assert value("aivc_campaign_start_time_seconds", campaign=campaign) == 1_700_000_000
    for outcome in metrics.OUTCOMES:
        assert value("aivc_experiments_finished_total", campaign=campaign, outcome=outcome) == 0
    for phase in metrics.PHASES:
        assert value("aivc_experiments_in_phase", campaign=campaign, phase=phase) == 0
    assert value("aivc_sandbox_failures_total", campaign=campaign, stage="execution",
                 category="timeout") == 0
    assert value("aivc_llm_tokens_total", model="claude-x", kind="cache_read") == 0
    assert value("aivc_needs_human_experiments", campaign=campaign) == 0
    metrics.campaign_stopped(campaign, namespace=NS)
    assert value("aivc_campaign_running", campaign=campaign) == 0


def test_phase_changes_count_entries_and_time_the_old_phase(campaign: str) -> None:
    metrics.phase_changed(campaign, None, "Designing", None, namespace=NS)
    metrics.phase_changed(campaign, "Designing", "Validating", 2.5, namespace=NS)
    assert value("aivc_experiment_phase_transitions_total", campaign=campaign, phase="Validating") == 1
    assert value("aivc_phase_duration_seconds_sum", campaign=campaign, phase="Designing") == 2.5
    assert value("aivc_phase_duration_seconds_bucket", campaign=campaign, phase="Designing",
                 le="1.0") == 0
    assert value("aivc_phase_duration_seconds_bucket", campaign=campaign, phase="Designing",
                 le="5.0") == 1


def test_the_campaign_state_is_set_as_a_whole_not_kept_as_deltas(campaign: str) -> None:
    metrics.campaign_state(campaign, in_phase={"Validating": 2, "NeedsHuman": 1},
                           waiting={"e-1": 100.0}, since_adoption=3, last_adoption=1_700_000_500.0,
                           cost_usd=1.25, namespace=NS)
    metrics.campaign_state(campaign, in_phase={"Validating": 1}, waiting={}, since_adoption=0,
                           last_adoption=None, cost_usd=1.5, namespace=NS)
    assert value("aivc_experiments_in_phase", campaign=campaign, phase="Validating") == 1
    assert value("aivc_experiments_in_phase", campaign=campaign, phase="NeedsHuman") == 0
    assert value("aivc_needs_human_experiments", campaign=campaign) == 0
    assert value("aivc_needs_human_since_timestamp_seconds", campaign=campaign, experiment="e-1") is None
    assert value("aivc_experiments_since_adoption", campaign=campaign) == 0
    assert value("aivc_last_adoption_timestamp_seconds", campaign=campaign) == 1_700_000_500
    assert value("aivc_campaign_cost_usd", campaign=campaign) == 1.5


def test_finished_experiments_are_counted_by_outcome(campaign: str) -> None:
    metrics.experiment_finished(campaign, "Rejected", namespace=NS)
    metrics.experiment_finished(campaign, "adopted", namespace=NS)
    assert value("aivc_experiments_finished_total", campaign=campaign, outcome="rejected") == 1
    assert value("aivc_experiments_finished_total", campaign=campaign, outcome="adopted") == 1


def test_results_are_stored_in_base_units(campaign: str) -> None:
    metrics.measured(campaign, "x264", 7, -12.5, 250.0, 36.2, namespace=NS)
    metrics.best_version(campaign, "x264", 3, None, 300.0, 37.0, namespace=NS)
    assert value("aivc_latest_bd_rate_ratio", campaign=campaign, anchor="x264") == -0.125
    assert value("aivc_latest_bitrate_bits_per_second", campaign=campaign) == 250_000
    assert value("aivc_latest_psnr_yuv_decibels", campaign=campaign) == 36.2
    assert value("aivc_latest_experiment_sequence", campaign=campaign) == 7
    assert value("aivc_best_version", campaign=campaign) == 3
    assert value("aivc_best_bitrate_bits_per_second", campaign=campaign) == 300_000
    assert value("aivc_best_bd_rate_ratio", campaign=campaign, anchor="x264") is None


def test_label_values_outside_the_known_sets_become_other(campaign: str) -> None:
    metrics.sandbox_failed(campaign, "Validating", "timeout", namespace=NS)
    metrics.sandbox_failed(campaign, "encode", "segfault at 0x7f3a", namespace=NS)
    metrics.experiment_finished(campaign, "exploded", namespace=NS)
    metrics.llm_call("claude-x", "teapot", {"input": 10, "thinking": 5}, 0.01)
    assert value("aivc_sandbox_failures_total", campaign=campaign, stage="validation",
                 category="timeout") == 1
    assert value("aivc_sandbox_failures_total", campaign=campaign, stage="other",
                 category="other") == 1
    assert value("aivc_experiments_finished_total", campaign=campaign, outcome="other") == 1
    assert value("aivc_llm_requests_total", model="claude-x", outcome="other") == 1
    assert value("aivc_llm_tokens_total", model="claude-x", kind="other") == 5


def test_the_waiting_list_is_replaced_so_decided_experiments_disappear(campaign: str) -> None:
    metrics.needs_human(campaign, 2, {"e-1": 100.0, "e-2": 200.0}, namespace=NS)
    metrics.needs_human(campaign, 1, {"e-2": 200.0}, namespace=NS)
    assert value("aivc_needs_human_experiments", campaign=campaign) == 1
    assert value("aivc_needs_human_since_timestamp_seconds", campaign=campaign, experiment="e-1") is None
    assert value("aivc_needs_human_since_timestamp_seconds", campaign=campaign, experiment="e-2") == 200
    metrics.needs_human(campaign, 0, namespace=NS)  # a count alone leaves the list as it was
    assert value("aivc_needs_human_since_timestamp_seconds", campaign=campaign, experiment="e-2") == 200


def test_llm_calls_count_tokens_by_kind_and_cost_by_model() -> None:
    before = value("aivc_llm_cost_usd_total", model="model-a") or 0.0
    metrics.llm_call("model-a", "ok", {"input": 100, "output": 20, "cache_read": 0}, 0.5)
    metrics.llm_call("model-a", "overloaded", {}, 0.0)
    assert value("aivc_llm_tokens_total", model="model-a", kind="input") == 100
    assert value("aivc_llm_tokens_total", model="model-a", kind="cache_read") is None
    assert value("aivc_llm_requests_total", model="model-a", outcome="overloaded") == 1
    assert value("aivc_llm_cost_usd_total", model="model-a") == before + 0.5


def test_serve_exposes_the_registry_over_http_with_the_driver_marked() -> None:
    port = free_port()
    metrics.serve(port, driver="operator")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    info = families["aivc_build_info"]
    assert any(s.labels.get("driver") == "operator" for s in info.samples)
    kinds = {s.labels["kind"] for s in families["aivc_reconcile_errors"].samples}
    assert kinds == set(metrics.RECONCILED_KINDS)
    assert not any(name.endswith("_created") for name in families)


def test_same_named_campaigns_in_two_namespaces_are_two_series(campaign: str) -> None:
    metrics.campaign_started(campaign, 5.0, namespace="team-a")
    metrics.campaign_started(campaign, 7.0, namespace="team-b")
    metrics.campaign_stopped(campaign, namespace="team-a")
    assert value("aivc_campaign_budget_usd", campaign=campaign, campaign_namespace="team-a") == 5
    assert value("aivc_campaign_budget_usd", campaign=campaign, campaign_namespace="team-b") == 7
    assert value("aivc_campaign_running", campaign=campaign, campaign_namespace="team-a") == 0
    assert value("aivc_campaign_running", campaign=campaign, campaign_namespace="team-b") == 1
    metrics.needs_human(campaign, 1, {"e-1": 1.0}, namespace="team-a")
    metrics.needs_human(campaign, 0, {}, namespace="team-b")
    assert value("aivc_needs_human_since_timestamp_seconds", campaign=campaign,
                 campaign_namespace="team-a", experiment="e-1") == 1


def test_every_per_campaign_series_carries_the_campaign_namespace() -> None:
    for m in all_metrics():
        if "campaign" in m._labelnames:
            assert m._labelnames[:2] == metrics.CAMPAIGN, m._name
    assert metrics.LOCAL_NAMESPACE == "local"


def test_an_llm_campaign_is_tied_to_its_models_and_an_edited_model_replaces_one(campaign: str) -> None:
    metrics.campaign_started(campaign, 5.0, namespace=NS, llm_models=("model-a", "model-cheap"))
    assert value("aivc_campaign_model_info", campaign=campaign, model="model-a") == 1
    assert value("aivc_campaign_model_info", campaign=campaign, model="model-cheap") == 1
    assert value("aivc_llm_cost_usd_total", model="model-cheap") == 0
    metrics.campaign_started(campaign, 5.0, namespace=NS, llm_models=("model-b", "model-cheap"))
    assert value("aivc_campaign_model_info", campaign=campaign, model="model-a") is None
    assert value("aivc_campaign_model_info", campaign=campaign, model="model-b") == 1
    assert value("aivc_campaign_model_info", campaign=campaign, model="model-cheap") == 1
    metrics.campaign_started(campaign + "-search", 5.0, namespace=NS)
    assert not [s for m in metrics.CAMPAIGN_MODEL.collect() for s in m.samples
                if s.labels["campaign"] == campaign + "-search"]
