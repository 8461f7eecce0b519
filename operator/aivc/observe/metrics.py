"""Every Prometheus metric AIVC exports, in one registry (DESIGN.md §5).

Both drivers (local mode's `aivc run --metrics-port` and the operator) record through the
small functions below, so the Grafana boards and alert rules in `grafana/` see the same
series from either. Conventions, checked by tests/unit/test_metrics.py:

- base units in the name (`_seconds`, `_bits_per_second`, `_ratio`, `_decibels`, `_usd`),
  counters end in `_total` (prometheus-client appends it);
- labels are few-valued: campaign, phase, outcome, stage, category, anchor, model,
  token kind, resource kind. Label values are normalised to closed sets (anything else
  becomes `other`) so a driver bug cannot explode cardinality. Experiment names appear
  only on the NeedsHuman gauge, one series per waiting experiment, removed once a person
  decides: the board's "needs a person" table cannot work without them;
- every series a board or alert reads is created at zero when a campaign starts, so
  panels never show "No data" and rate()/ratios work from the first scrape;
- state gauges (experiments per phase, who waits for a person, progress since the last
  adoption, the best version) are set from the documents on every tick
  (`campaign_state`), never kept as deltas, so a restarted driver reports the truth.

`observe` is a leaf: it imports nothing of AIVC but the API vocabulary.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from aivc import __version__
from aivc.api.types import ERROR_CATEGORIES, TOKEN_KINDS, Phase

disable_created_metrics()  # *_created series only add noise to boards and alerts
REGISTRY = CollectorRegistry(auto_describe=True)

OTHER = "other"
PHASES = tuple(p.value for p in Phase)
OUTCOMES = ("adopted", "rejected", "failed", "skipped")
SANDBOX_STAGES = ("validation", "execution")
SANDBOX_CATEGORIES = (*ERROR_CATEGORIES, OTHER)
RECONCILED_KINDS = ("Campaign", "Experiment")
DRIVERS = ("local", "operator")
PHASE_BUCKETS = (0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)


def _gauge(name: str, doc: str, labels: Sequence[str]) -> Gauge:
    return Gauge(name, doc, list(labels), registry=REGISTRY)


def _counter(name: str, doc: str, labels: Sequence[str]) -> Counter:
    return Counter(name, doc, list(labels), registry=REGISTRY)  # exported as NAME_total


BUILD_INFO = _gauge("aivc_build_info", "Always 1: which AIVC version and driver serve these metrics.",
                    ["version", "driver"])
# experiments and phases
EXPERIMENTS = _counter("aivc_experiments_finished", "Experiments that reached a final outcome.",
                       ["campaign", "outcome"])
PHASE_ENTERED = _counter("aivc_experiment_phase_transitions", "Times an experiment entered a phase.",
                         ["campaign", "phase"])
IN_PHASE = _gauge("aivc_experiments_in_phase", "Experiments currently in each phase.",
                  ["campaign", "phase"])
PHASE_SECONDS = Histogram("aivc_phase_duration_seconds", "Time an experiment spent in a phase.",
                          ["campaign", "phase"], buckets=PHASE_BUCKETS, registry=REGISTRY)
# the best version and the latest measured experiment
BEST_BD_RATE = _gauge("aivc_best_bd_rate_ratio",
                      "Score of the best version: BD-rate (PSNR-YUV 6:1:1) vs the anchor, "
                      "-0.1 = 10 % fewer bits.",
                      ["campaign", "anchor"])
BEST_BITRATE = _gauge("aivc_best_bitrate_bits_per_second",
                      "Mean bitrate of the best version over clips and levels.", ["campaign"])
BEST_PSNR = _gauge("aivc_best_psnr_yuv_decibels", "Mean PSNR-YUV (6:1:1) of the best version.",
                   ["campaign"])
BEST_VERSION = _gauge("aivc_best_version", "Number N of the current best version vN.", ["campaign"])
LATEST_BD_RATE = _gauge("aivc_latest_bd_rate_ratio",
                        "Score (BD-rate, PSNR-YUV) of the latest measured experiment.",
                        ["campaign", "anchor"])
LATEST_BITRATE = _gauge("aivc_latest_bitrate_bits_per_second",
                        "Mean bitrate of the latest measured experiment.", ["campaign"])
LATEST_PSNR = _gauge("aivc_latest_psnr_yuv_decibels",
                     "Mean PSNR-YUV (6:1:1) of the latest measured experiment.",
                     ["campaign"])
LATEST_SEQUENCE = _gauge("aivc_latest_experiment_sequence",
                         "Sequence number of the latest measured experiment.", ["campaign"])
# progress, people, failures
SINCE_ADOPTION = _gauge("aivc_experiments_since_adoption", "Finished experiments since the last adoption.",
                        ["campaign"])
LAST_ADOPTION = _gauge("aivc_last_adoption_timestamp_seconds", "Unix time of the last adoption.",
                       ["campaign"])
NEEDS_HUMAN = _gauge("aivc_needs_human_experiments", "Experiments waiting for a person.", ["campaign"])
WAITING_SINCE = _gauge("aivc_needs_human_since_timestamp_seconds",
                       "Unix time an experiment began waiting for a person; gone once decided.",
                       ["campaign", "experiment"])
SANDBOX_FAILURES = _counter("aivc_sandbox_failures", "Failed sandbox runs of candidates by category.",
                            ["campaign", "stage", "category"])
INFRA_FAILURES = _counter("aivc_infra_failures",
                          "Sandbox Jobs the cluster could not run (never the candidate's failure).",
                          ["campaign", "stage", "reason"])
# LLM and budget
LLM_REQUESTS = _counter("aivc_llm_requests", "Messages API requests by outcome.", ["model", "outcome"])
LLM_TOKENS = _counter("aivc_llm_tokens", "Tokens by kind (input, output, cache_read, cache_write).",
                      ["model", "kind"])
LLM_COST = _counter("aivc_llm_cost_usd", "Estimated LLM spend in US dollars.", ["model"])
CAMPAIGN_COST = _gauge("aivc_campaign_cost_usd", "LLM spend of a campaign so far.", ["campaign"])
CAMPAIGN_BUDGET = _gauge("aivc_campaign_budget_usd", "LLM budget (maxCostUSD) of a campaign.", ["campaign"])
CAMPAIGN_RUNNING = _gauge("aivc_campaign_running", "1 while a campaign is running, 0 once it stopped.",
                          ["campaign"])
CAMPAIGN_PAUSED = _gauge("aivc_campaign_paused",
                         "1 while a campaign is paused for a person: the planner's key is refused.",
                         ["campaign"])
CAMPAIGN_START = _gauge("aivc_campaign_start_time_seconds", "Unix time the campaign started.", ["campaign"])
RECONCILE_ERRORS = _counter("aivc_reconcile_errors", "Operator handler errors by resource kind.", ["kind"])

LLM_OUTCOMES = ("ok", "rate_limited", "overloaded", "server_error", "connection_error", "client_error",
                "malformed")
"""What `aivc.llm.client` reports per request; anything else is counted as `other`."""

_lock = threading.Lock()


def _one_of(value: str | None, allowed: Sequence[str]) -> str:
    """`value` if it is one of `allowed` (case-insensitive), else `other`: bounded labels."""
    by_lower = {a.lower(): a for a in allowed}
    return by_lower.get(str(value or "").lower(), OTHER)


def _stage(stage: str) -> str:
    """Sandbox runs happen while validating or executing; accept either spelling."""
    s = stage.lower()
    if s.startswith("valid"):
        return "validation"
    if s.startswith(("exec", "evalu")):
        return "execution"
    return OTHER


def serve(port: int, addr: str = "127.0.0.1", *, driver: str = "local") -> None:
    """Expose /metrics on `addr:port` in a daemon thread.

    `driver` ("local" or "operator") lands in `aivc_build_info`, which the OperatorDown alert
    and the health board use to tell the operator's scrape job from a laptop's, whatever the
    job is called. The operator also gets its reconcile-error series at zero.
    """
    driver = _one_of(driver, DRIVERS)
    BUILD_INFO.labels(__version__, driver).set(1)
    if driver == "operator":
        for kind in RECONCILED_KINDS:
            RECONCILE_ERRORS.labels(kind)
    start_http_server(port, addr=addr, registry=REGISTRY)


def campaign_started(campaign: str, budget_usd: float, *, started_at: float | None = None,
                     llm_model: str | None = None) -> None:
    """Create every campaign series at zero so dashboards and alerts never see gaps.

    `started_at` (Unix time) lets a resumed campaign keep its original start, which the
    CampaignStalled alert counts hours from until the first adoption. `llm_model` creates
    the LLM series at zero too, so cost and token panels read 0 rather than "No data".
    """
    CAMPAIGN_RUNNING.labels(campaign).set(1)
    CAMPAIGN_BUDGET.labels(campaign).set(budget_usd)
    CAMPAIGN_START.labels(campaign).set(time.time() if started_at is None else started_at)
    CAMPAIGN_COST.labels(campaign)
    CAMPAIGN_PAUSED.labels(campaign)
    NEEDS_HUMAN.labels(campaign)
    SINCE_ADOPTION.labels(campaign)
    for outcome in OUTCOMES:
        EXPERIMENTS.labels(campaign, outcome)
    for phase in PHASES:
        IN_PHASE.labels(campaign, phase)
        PHASE_ENTERED.labels(campaign, phase)
    for stage in SANDBOX_STAGES:
        for category in SANDBOX_CATEGORIES:
            SANDBOX_FAILURES.labels(campaign, stage, category)
        for reason in INFRA_REASONS:
            INFRA_FAILURES.labels(campaign, stage, reason)
    if llm_model:
        LLM_COST.labels(llm_model)
        for kind in TOKEN_KINDS:
            LLM_TOKENS.labels(llm_model, kind)
        for outcome in LLM_OUTCOMES:
            LLM_REQUESTS.labels(llm_model, outcome)


def campaign_stopped(campaign: str) -> None:
    CAMPAIGN_RUNNING.labels(campaign).set(0)


def phase_changed(campaign: str, old: str | None, new: str, seconds_in_old: float | None) -> None:
    """Count an experiment entering `new`, and how long it spent in `old` (if known)."""
    new = _one_of(new, PHASES)
    if old and seconds_in_old is not None:
        PHASE_SECONDS.labels(campaign, _one_of(old, PHASES)).observe(max(0.0, seconds_in_old))
    PHASE_ENTERED.labels(campaign, new).inc()


def experiment_finished(campaign: str, outcome: str) -> None:
    """`outcome`: adopted | rejected | failed | skipped."""
    EXPERIMENTS.labels(campaign, _one_of(outcome, OUTCOMES)).inc()


def measured(campaign: str, anchor: str, sequence: int, bd_rate: float | None, kbps: float,
             psnr_yuv: float) -> None:
    """The latest experiment's results: its score in percent (as reports print it), mean kbps
    and PSNR-YUV in dB over clips and levels (stored as a ratio and bits per second)."""
    if bd_rate is not None:
        LATEST_BD_RATE.labels(campaign, anchor).set(bd_rate / 100.0)
    LATEST_BITRATE.labels(campaign).set(kbps * 1000.0)
    LATEST_PSNR.labels(campaign).set(psnr_yuv)
    LATEST_SEQUENCE.labels(campaign).set(sequence)


def campaign_state(campaign: str, *, in_phase: Mapping[str, int], waiting: Mapping[str, float],
                   since_adoption: int, last_adoption: float | None, cost_usd: float,
                   paused: bool = False) -> None:
    """The campaign's state as its documents say now (set on every tick, see above)."""
    CAMPAIGN_PAUSED.labels(campaign).set(1 if paused else 0)
    for phase in PHASES:
        IN_PHASE.labels(campaign, phase).set(in_phase.get(phase, 0))
    needs_human(campaign, len(waiting), waiting)
    SINCE_ADOPTION.labels(campaign).set(since_adoption)
    if last_adoption is not None:
        LAST_ADOPTION.labels(campaign).set(last_adoption)
    CAMPAIGN_COST.labels(campaign).set(cost_usd)


def best_version(campaign: str, anchor: str, version: int, bd_rate: float | None, kbps: float,
                 psnr_yuv: float) -> None:
    """The best version vN and its mean RD point; units as for `measured`."""
    if bd_rate is not None:
        BEST_BD_RATE.labels(campaign, anchor).set(bd_rate / 100.0)
    BEST_BITRATE.labels(campaign).set(kbps * 1000.0)
    BEST_PSNR.labels(campaign).set(psnr_yuv)
    BEST_VERSION.labels(campaign).set(version)


def needs_human(campaign: str, count: int, waiting: Mapping[str, float] | None = None) -> None:
    """How many experiments wait for a person; `waiting` maps each one's name to the Unix
    time it began waiting and replaces the previous set (the board lists them)."""
    NEEDS_HUMAN.labels(campaign).set(count)
    if waiting is None:
        return
    with _lock:
        for labels in list(_waiting_series(campaign)):
            if labels[1] not in waiting:
                WAITING_SINCE.remove(*labels)
        for name, since in waiting.items():
            WAITING_SINCE.labels(campaign, name).set(since)


def _waiting_series(campaign: str) -> list[tuple[str, str]]:
    return [(c, e) for metric in WAITING_SINCE.collect() for s in metric.samples
            for c, e in [(s.labels["campaign"], s.labels["experiment"])] if c == campaign]


def sandbox_failed(campaign: str, stage: str, category: str) -> None:
    """Once per failed sandbox run (not per error record); `stage` validation | execution,
    `category` one of the results' ERROR_CATEGORIES."""
    SANDBOX_FAILURES.labels(campaign, _stage(stage), _one_of(category, SANDBOX_CATEGORIES)).inc()


INFRA_REASONS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError",
                 "CreateContainerError", "Unschedulable", "Evicted", "Preempted", "NodeLost",
                 "SlowStart", OTHER)


def infra_failed(campaign: str, stage: str, reason: str) -> None:
    """Once per sandbox Job the cluster could not run (`reason` as the cluster named it)."""
    INFRA_FAILURES.labels(campaign, _stage(stage), _one_of(reason, INFRA_REASONS)).inc()


def llm_call(model: str, outcome: str, tokens: dict[str, int], cost_usd: float) -> None:
    LLM_REQUESTS.labels(model, _one_of(outcome, LLM_OUTCOMES)).inc()
    for kind, n in tokens.items():
        if n:
            LLM_TOKENS.labels(model, _one_of(kind, TOKEN_KINDS)).inc(n)
    if cost_usd:
        LLM_COST.labels(model).inc(cost_usd)


def reconcile_error(kind: str) -> None:
    RECONCILE_ERRORS.labels(_one_of(kind, RECONCILED_KINDS)).inc()
