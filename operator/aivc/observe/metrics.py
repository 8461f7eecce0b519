"""Every Prometheus metric AIVC exports, in one registry (DESIGN.md §5).

Both drivers (local mode's `aivc run --metrics-port` and the operator) record through the
small functions at the bottom, so a Grafana board sees the same series from either. Labels
stay few-valued: campaign, phase, outcome, category, model, token kind — never experiment
names on counters.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

disable_created_metrics()  # *_created series only add noise to boards and alerts
REGISTRY = CollectorRegistry(auto_describe=True)

PHASE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)

EXPERIMENTS = Counter(
    "aivc_experiments_finished", "Experiments that reached a final outcome.",
    ["campaign", "outcome"], registry=REGISTRY)  # exported as aivc_experiments_finished_total
PHASE_ENTERED = Counter(
    "aivc_experiment_phase_transitions", "Times an experiment entered a phase.",
    ["campaign", "phase"], registry=REGISTRY)
IN_PHASE = Gauge(
    "aivc_experiments_in_phase", "Experiments currently in each phase.",
    ["campaign", "phase"], registry=REGISTRY)
PHASE_SECONDS = Histogram(
    "aivc_phase_duration_seconds", "Time an experiment spent in a phase.",
    ["campaign", "phase"], buckets=PHASE_BUCKETS, registry=REGISTRY)
BEST_BD_RATE = Gauge(
    "aivc_best_bd_rate_percent", "BD-rate (PSNR-Y) of the best version vs the anchor; lower is better.",
    ["campaign", "anchor"], registry=REGISTRY)
BEST_KBPS = Gauge("aivc_best_kbps", "Mean bitrate of the best version over clips and levels.",
                  ["campaign"], registry=REGISTRY)
BEST_PSNR = Gauge("aivc_best_psnr_y_db", "Mean PSNR-Y of the best version.", ["campaign"], registry=REGISTRY)
BEST_VERSION = Gauge("aivc_best_version", "Number N of the current best version vN.", ["campaign"],
                     registry=REGISTRY)
LATEST_BD_RATE = Gauge("aivc_latest_bd_rate_percent", "BD-rate of the latest measured experiment.",
                       ["campaign", "anchor"], registry=REGISTRY)
LATEST_KBPS = Gauge("aivc_latest_kbps", "Mean bitrate of the latest measured experiment.",
                    ["campaign"], registry=REGISTRY)
LATEST_PSNR = Gauge("aivc_latest_psnr_y_db", "Mean PSNR-Y of the latest measured experiment.",
                    ["campaign"], registry=REGISTRY)
LATEST_SEQUENCE = Gauge("aivc_latest_experiment_sequence", "Sequence number of the latest measured experiment.",
                        ["campaign"], registry=REGISTRY)
SINCE_ADOPTION = Gauge("aivc_experiments_since_adoption", "Finished experiments since the last adoption.",
                       ["campaign"], registry=REGISTRY)
LAST_ADOPTION = Gauge("aivc_last_adoption_timestamp_seconds", "Unix time of the last adoption.",
                      ["campaign"], registry=REGISTRY)
NEEDS_HUMAN = Gauge("aivc_needs_human_experiments", "Experiments waiting for a person.",
                    ["campaign"], registry=REGISTRY)
SANDBOX_FAILURES = Counter(
    "aivc_sandbox_failures", "Candidate failures in the sandbox by category.",
    ["campaign", "stage", "category"], registry=REGISTRY)
LLM_REQUESTS = Counter("aivc_llm_requests", "Messages API requests.", ["model", "outcome"], registry=REGISTRY)
LLM_TOKENS = Counter("aivc_llm_tokens", "Tokens by kind (input, output, cache_read, cache_write).",
                     ["model", "kind"], registry=REGISTRY)
LLM_COST = Counter("aivc_llm_cost_usd", "Estimated LLM spend in US dollars.", ["model"], registry=REGISTRY)
CAMPAIGN_COST = Gauge("aivc_campaign_cost_usd", "LLM spend of a campaign so far.", ["campaign"], registry=REGISTRY)
CAMPAIGN_BUDGET = Gauge("aivc_campaign_budget_usd", "LLM budget (maxCostUSD) of a campaign.", ["campaign"],
                        registry=REGISTRY)
CAMPAIGN_RUNNING = Gauge("aivc_campaign_running", "1 while a campaign is running, 0 once it stopped.",
                         ["campaign"], registry=REGISTRY)
RECONCILE_ERRORS = Counter("aivc_reconcile_errors", "Operator handler errors by resource kind.",
                           ["kind"], registry=REGISTRY)

OUTCOMES = ("adopted", "rejected", "failed", "skipped")


def serve(port: int, addr: str = "127.0.0.1") -> None:
    """Expose /metrics on `addr:port` in a daemon thread."""
    start_http_server(port, addr=addr, registry=REGISTRY)


def campaign_started(campaign: str, budget_usd: float) -> None:
    """Create every campaign series at zero so dashboards and alerts never see gaps."""
    CAMPAIGN_RUNNING.labels(campaign).set(1)
    CAMPAIGN_BUDGET.labels(campaign).set(budget_usd)
    CAMPAIGN_COST.labels(campaign)
    NEEDS_HUMAN.labels(campaign)
    SINCE_ADOPTION.labels(campaign)
    for outcome in OUTCOMES:
        EXPERIMENTS.labels(campaign, outcome)


def campaign_stopped(campaign: str) -> None:
    CAMPAIGN_RUNNING.labels(campaign).set(0)


def phase_changed(campaign: str, old: str | None, new: str, seconds_in_old: float | None) -> None:
    if old:
        IN_PHASE.labels(campaign, old).dec()
        if seconds_in_old is not None:
            PHASE_SECONDS.labels(campaign, old).observe(seconds_in_old)
    IN_PHASE.labels(campaign, new).inc()
    PHASE_ENTERED.labels(campaign, new).inc()


def experiment_finished(campaign: str, outcome: str, adopted_at: float | None = None) -> None:
    EXPERIMENTS.labels(campaign, outcome).inc()
    if outcome == "adopted":
        SINCE_ADOPTION.labels(campaign).set(0)
        if adopted_at is not None:
            LAST_ADOPTION.labels(campaign).set(adopted_at)
    else:
        SINCE_ADOPTION.labels(campaign).inc()


def measured(campaign: str, anchor: str, sequence: int, bd_rate: float | None, kbps: float,
             psnr_y: float) -> None:
    if bd_rate is not None:
        LATEST_BD_RATE.labels(campaign, anchor).set(bd_rate)
    LATEST_KBPS.labels(campaign).set(kbps)
    LATEST_PSNR.labels(campaign).set(psnr_y)
    LATEST_SEQUENCE.labels(campaign).set(sequence)


def best_changed(campaign: str, anchor: str, version: int, bd_rate: float | None, kbps: float,
                 psnr_y: float) -> None:
    if bd_rate is not None:
        BEST_BD_RATE.labels(campaign, anchor).set(bd_rate)
    BEST_KBPS.labels(campaign).set(kbps)
    BEST_PSNR.labels(campaign).set(psnr_y)
    BEST_VERSION.labels(campaign).set(version)


def needs_human(campaign: str, count: int) -> None:
    NEEDS_HUMAN.labels(campaign).set(count)


def sandbox_failed(campaign: str, stage: str, category: str) -> None:
    SANDBOX_FAILURES.labels(campaign, stage, category).inc()


def llm_call(model: str, outcome: str, tokens: dict[str, int], cost_usd: float) -> None:
    LLM_REQUESTS.labels(model, outcome).inc()
    for kind, n in tokens.items():
        if n:
            LLM_TOKENS.labels(model, kind).inc(n)
    if cost_usd:
        LLM_COST.labels(model).inc(cost_usd)


def campaign_cost(campaign: str, spent_usd: float) -> None:
    CAMPAIGN_COST.labels(campaign).set(spent_usd)


def reconcile_error(kind: str) -> None:
    RECONCILE_ERRORS.labels(kind).inc()
