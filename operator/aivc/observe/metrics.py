"""Every Prometheus metric AIVC exports, in one registry (DESIGN.md §5).

Both drivers (local mode's `aivc run --metrics-port` and the operator) record through the
small functions below, so the Grafana boards and alert rules in `grafana/` see the same
series from either. Conventions, checked by tests/unit/test_metrics.py:

- base units in the name (`_seconds`, `_bits_per_second`, `_ratio`, `_decibels`, `_usd`),
  counters end in `_total` (prometheus-client appends it);
- labels are few-valued: campaign_namespace and campaign (together they name a Campaign;
  `local` for `aivc run`), phase, outcome, stage, category, anchor, model, token kind,
  resource kind. Label values are normalised to closed sets (anything else
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
from collections.abc import Iterable, Mapping, Sequence

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
CAMPAIGN = ("campaign_namespace", "campaign")
"""Every per-campaign series carries both: a Campaign is named by its namespace and name
(two namespaces may each have a `quickstart`). The label is not `namespace`, which the
Prometheus Operator sets to the scraped pod's namespace (the operator's, not the Campaign's)."""
LOCAL_NAMESPACE = "local"
"""`campaign_namespace` of local mode's campaigns (`aivc run`), which live in no namespace."""
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
                       [*CAMPAIGN, "outcome"])
PHASE_ENTERED = _counter("aivc_experiment_phase_transitions", "Times an experiment entered a phase.",
                         [*CAMPAIGN, "phase"])
IN_PHASE = _gauge("aivc_experiments_in_phase", "Experiments currently in each phase.",
                  [*CAMPAIGN, "phase"])
PHASE_SECONDS = Histogram("aivc_phase_duration_seconds", "Time an experiment spent in a phase.",
                          [*CAMPAIGN, "phase"], buckets=PHASE_BUCKETS, registry=REGISTRY)
# the best version and the latest measured experiment
BEST_BD_RATE = _gauge("aivc_best_bd_rate_ratio",
                      "Score of the best version: BD-rate (PSNR-YUV 6:1:1) vs the anchor, "
                      "-0.1 = 10 % fewer bits.",
                      [*CAMPAIGN, "anchor"])
BEST_BITRATE = _gauge("aivc_best_bitrate_bits_per_second",
                      "Mean bitrate of the best version over clips and levels.", CAMPAIGN)
BEST_PSNR = _gauge("aivc_best_psnr_yuv_decibels", "Mean PSNR-YUV (6:1:1) of the best version.",
                   CAMPAIGN)
BEST_VERSION = _gauge("aivc_best_version", "Number N of the current best version vN.", CAMPAIGN)
LATEST_BD_RATE = _gauge("aivc_latest_bd_rate_ratio",
                        "Score (BD-rate, PSNR-YUV) of the latest measured experiment.",
                        [*CAMPAIGN, "anchor"])
LATEST_BITRATE = _gauge("aivc_latest_bitrate_bits_per_second",
                        "Mean bitrate of the latest measured experiment.", CAMPAIGN)
LATEST_PSNR = _gauge("aivc_latest_psnr_yuv_decibels",
                     "Mean PSNR-YUV (6:1:1) of the latest measured experiment.",
                     CAMPAIGN)
LATEST_SEQUENCE = _gauge("aivc_latest_experiment_sequence",
                         "Sequence number of the latest measured experiment.", CAMPAIGN)
# progress, people, failures
SINCE_ADOPTION = _gauge("aivc_experiments_since_adoption", "Finished experiments since the last adoption.",
                        CAMPAIGN)
LAST_ADOPTION = _gauge("aivc_last_adoption_timestamp_seconds", "Unix time of the last adoption.",
                       CAMPAIGN)
NEEDS_HUMAN = _gauge("aivc_needs_human_experiments", "Experiments waiting for a person.", CAMPAIGN)
WAITING_SINCE = _gauge("aivc_needs_human_since_timestamp_seconds",
                       "Unix time an experiment began waiting for a person; gone once decided.",
                       [*CAMPAIGN, "experiment"])
SANDBOX_FAILURES = _counter("aivc_sandbox_failures", "Failed sandbox runs of candidates by category.",
                            [*CAMPAIGN, "stage", "category"])
INFRA_FAILURES = _counter("aivc_infra_failures",
                          "Sandbox Jobs the cluster could not run (never the candidate's failure).",
                          [*CAMPAIGN, "stage", "reason"])
# LLM and budget
LLM_REQUESTS = _counter("aivc_llm_requests", "Messages API requests by outcome.", ["model", "outcome"])
LLM_TOKENS = _counter("aivc_llm_tokens", "Tokens by kind (input, output, cache_read, cache_write).",
                      ["model", "kind"])
LLM_COST = _counter("aivc_llm_cost_usd", "Estimated LLM spend in US dollars.", ["model"])
CAMPAIGN_COST = _gauge("aivc_campaign_cost_usd", "LLM spend of a campaign so far.", CAMPAIGN)
CAMPAIGN_BUDGET = _gauge("aivc_campaign_budget_usd", "LLM budget (maxCostUSD) of a campaign.", CAMPAIGN)
CAMPAIGN_RUNNING = _gauge("aivc_campaign_running", "1 while a campaign is running, 0 once it stopped.",
                          CAMPAIGN)
CAMPAIGN_PAUSED = _gauge("aivc_campaign_paused",
                         "1 while a campaign is paused for a person: the planner's key is refused.",
                         CAMPAIGN)
CAMPAIGN_START = _gauge("aivc_campaign_start_time_seconds", "Unix time the campaign started.", CAMPAIGN)
CAMPAIGN_MODEL = _gauge("aivc_campaign_model_info",
                        "1 for the model an llm-planner campaign writes with: joins the per-model "
                        "LLM series to campaigns.", [*CAMPAIGN, "model"])
DESIGN_MODEL_PROGRAMS = _gauge("aivc_design_model_programs",
                               "Programs each design model wrote (hybrid planner's bandit pulls).",
                               [*CAMPAIGN, "model"])
DESIGN_MODEL_VALUE = _gauge("aivc_design_model_value_ratio",
                            "Hybrid planner's bandit: a model's mean reward, BD-rate points gained "
                            "per dollar scaled to the best seen (0..1).", [*CAMPAIGN, "model"])
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


def campaign_started(campaign: str, budget_usd: float, *, namespace: str,
                     started_at: float | None = None, llm_models: Sequence[str] = ()) -> None:
    """Create every campaign series at zero so dashboards and alerts never see gaps.

    `namespace` is the Campaign's (`LOCAL_NAMESPACE` in local mode). `started_at` (Unix
    time) lets a resumed campaign keep its original start, which the CampaignStalled alert
    counts hours from until the first adoption. `llm_models` (every role's model) creates
    the LLM series at zero too, so cost and token panels read 0 rather than "No data", and
    ties the campaign to its models (`aivc_campaign_model_info`): the LLM series are per
    model, not per campaign.
    """
    key = (namespace, campaign)
    CAMPAIGN_RUNNING.labels(*key).set(1)
    CAMPAIGN_BUDGET.labels(*key).set(budget_usd)
    CAMPAIGN_START.labels(*key).set(time.time() if started_at is None else started_at)
    CAMPAIGN_COST.labels(*key)
    CAMPAIGN_PAUSED.labels(*key)
    NEEDS_HUMAN.labels(*key)
    SINCE_ADOPTION.labels(*key)
    for outcome in OUTCOMES:
        EXPERIMENTS.labels(*key, outcome)
    for phase in PHASES:
        IN_PHASE.labels(*key, phase)
        PHASE_ENTERED.labels(*key, phase)
    for stage in SANDBOX_STAGES:
        for category in SANDBOX_CATEGORIES:
            SANDBOX_FAILURES.labels(*key, stage, category)
        for reason in INFRA_REASONS:
            INFRA_FAILURES.labels(*key, stage, reason)
    _models_of(key, llm_models)
    for model in llm_models:
        LLM_COST.labels(model)
        for kind in TOKEN_KINDS:
            LLM_TOKENS.labels(model, kind)
        for outcome in LLM_OUTCOMES:
            LLM_REQUESTS.labels(model, outcome)


def _models_of(key: tuple[str, str], models: Sequence[str]) -> None:
    """A model series per model the campaign uses: an edited `spec.llm` replaces the old."""
    with _lock:
        for metric in CAMPAIGN_MODEL.collect():
            for sample in metric.samples:
                labels = sample.labels
                if (labels["campaign_namespace"], labels["campaign"]) == key \
                        and labels["model"] not in models:
                    CAMPAIGN_MODEL.remove(*key, labels["model"])
        for model in models:
            CAMPAIGN_MODEL.labels(*key, model).set(1)


def campaign_stopped(campaign: str, *, namespace: str) -> None:
    CAMPAIGN_RUNNING.labels(namespace, campaign).set(0)


def phase_changed(campaign: str, old: str | None, new: str, seconds_in_old: float | None, *,
                  namespace: str) -> None:
    """Count an experiment entering `new`, and how long it spent in `old` (if known)."""
    new = _one_of(new, PHASES)
    if old and seconds_in_old is not None:
        PHASE_SECONDS.labels(namespace, campaign, _one_of(old, PHASES)).observe(max(0.0, seconds_in_old))
    PHASE_ENTERED.labels(namespace, campaign, new).inc()


def experiment_finished(campaign: str, outcome: str, *, namespace: str) -> None:
    """`outcome`: adopted | rejected | failed | skipped."""
    EXPERIMENTS.labels(namespace, campaign, _one_of(outcome, OUTCOMES)).inc()


def measured(campaign: str, anchor: str, sequence: int, bd_rate: float | None, kbps: float,
             psnr_yuv: float, *, namespace: str) -> None:
    """The latest experiment's results: its score in percent (as reports print it), mean kbps
    and PSNR-YUV in dB over clips and levels (stored as a ratio and bits per second)."""
    key = (namespace, campaign)
    if bd_rate is not None:
        LATEST_BD_RATE.labels(*key, anchor).set(bd_rate / 100.0)
    LATEST_BITRATE.labels(*key).set(kbps * 1000.0)
    LATEST_PSNR.labels(*key).set(psnr_yuv)
    LATEST_SEQUENCE.labels(*key).set(sequence)


def campaign_state(campaign: str, *, namespace: str, in_phase: Mapping[str, int],
                   waiting: Mapping[str, float], since_adoption: int, last_adoption: float | None,
                   cost_usd: float, paused: bool = False) -> None:
    """The campaign's state as its documents say now (set on every tick, see above)."""
    key = (namespace, campaign)
    CAMPAIGN_PAUSED.labels(*key).set(1 if paused else 0)
    for phase in PHASES:
        IN_PHASE.labels(*key, phase).set(in_phase.get(phase, 0))
    needs_human(campaign, len(waiting), waiting, namespace=namespace)
    SINCE_ADOPTION.labels(*key).set(since_adoption)
    if last_adoption is not None:
        LAST_ADOPTION.labels(*key).set(last_adoption)
    CAMPAIGN_COST.labels(*key).set(cost_usd)


def design_models(campaign: str, arms: Iterable[tuple[str, int, float]], *, namespace: str) -> None:
    """The bandit's state, (model, programs, value) per design model, as the documents say."""
    key = (namespace, campaign)
    for model, programs, value in arms:
        DESIGN_MODEL_PROGRAMS.labels(*key, model).set(programs)
        DESIGN_MODEL_VALUE.labels(*key, model).set(value)


def best_version(campaign: str, anchor: str, version: int, bd_rate: float | None, kbps: float,
                 psnr_yuv: float, *, namespace: str) -> None:
    """The best version vN and its mean RD point; units as for `measured`."""
    key = (namespace, campaign)
    if bd_rate is not None:
        BEST_BD_RATE.labels(*key, anchor).set(bd_rate / 100.0)
    BEST_BITRATE.labels(*key).set(kbps * 1000.0)
    BEST_PSNR.labels(*key).set(psnr_yuv)
    BEST_VERSION.labels(*key).set(version)


def needs_human(campaign: str, count: int, waiting: Mapping[str, float] | None = None, *,
                namespace: str) -> None:
    """How many experiments wait for a person; `waiting` maps each one's name to the Unix
    time it began waiting and replaces the previous set (the board lists them)."""
    key = (namespace, campaign)
    NEEDS_HUMAN.labels(*key).set(count)
    if waiting is None:
        return
    with _lock:
        for experiment in _waiting_experiments(key):
            if experiment not in waiting:
                WAITING_SINCE.remove(*key, experiment)
        for name, since in waiting.items():
            WAITING_SINCE.labels(*key, name).set(since)


def _waiting_experiments(key: tuple[str, str]) -> list[str]:
    return [s.labels["experiment"] for metric in WAITING_SINCE.collect() for s in metric.samples
            if (s.labels["campaign_namespace"], s.labels["campaign"]) == key]


def sandbox_failed(campaign: str, stage: str, category: str, *, namespace: str) -> None:
    """Once per failed sandbox run (not per error record); `stage` validation | execution,
    `category` one of the results' ERROR_CATEGORIES."""
    SANDBOX_FAILURES.labels(namespace, campaign, _stage(stage),
                            _one_of(category, SANDBOX_CATEGORIES)).inc()


INFRA_REASONS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError",
                 "CreateContainerError", "Unschedulable", "Evicted", "Preempted", "NodeLost",
                 "SlowStart", OTHER)


def infra_failed(campaign: str, stage: str, reason: str, *, namespace: str) -> None:
    """Once per sandbox Job the cluster could not run (`reason` as the cluster named it)."""
    INFRA_FAILURES.labels(namespace, campaign, _stage(stage), _one_of(reason, INFRA_REASONS)).inc()


def llm_call(model: str, outcome: str, tokens: dict[str, int], cost_usd: float) -> None:
    LLM_REQUESTS.labels(model, _one_of(outcome, LLM_OUTCOMES)).inc()
    for kind, n in tokens.items():
        if n:
            LLM_TOKENS.labels(model, _one_of(kind, TOKEN_KINDS)).inc(n)
    if cost_usd:
        LLM_COST.labels(model).inc(cost_usd)


def reconcile_error(kind: str) -> None:
    RECONCILE_ERRORS.labels(_one_of(kind, RECONCILED_KINDS)).inc()
