"""How many experiments a campaign may start now, and why it stops: pure, shared by both drivers.

A campaign stops starting experiments when any budget is spent (experiment count, LLM cost,
deadline or duration) or its goal is reached; experiments already in flight still finish.
Experiments waiting for a person do not hold a parallelism slot, so the campaign goes on
with others while one waits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from aivc.research.phases import Phase, Verdict
from aivc.research.spec import CampaignSpec
from aivc.store.base import parse_time


@dataclass(frozen=True)
class CampaignPlan:
    create: int
    """New experiments to start now."""
    stop_reason: str | None
    """Why no more experiments start (None while the campaign goes on)."""
    counts: dict[str, int] = field(default_factory=dict)
    """Campaign `status.experiments`: total, adopted, rejected, failed, needsHuman, running."""

    @property
    def finished(self) -> bool:
        """Stopped and nothing left in flight (experiments waiting for a person may remain)."""
        return self.stop_reason is not None and self.counts.get("running", 0) == 0


def count_outcomes(experiments: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"total": len(experiments), "adopted": 0, "rejected": 0, "failed": 0,
              "needsHuman": 0, "running": 0}
    for exp in experiments:
        status = exp.get("status") or {}
        phase, verdict = status.get("phase") or Phase.PENDING.value, status.get("verdict")
        if verdict == Verdict.ADOPTED:
            counts["adopted"] += 1
        elif verdict == Verdict.REJECTED:
            counts["rejected"] += 1
        elif phase == Phase.FAILED:
            counts["failed"] += 1
        elif phase == Phase.NEEDS_HUMAN:
            counts["needsHuman"] += 1
        elif phase != Phase.SUCCEEDED:
            counts["running"] += 1
    return counts


def best_bd_rate(experiments: list[dict[str, Any]]) -> float | None:
    rates = [m["bdRate"] for e in experiments
             if (e.get("status") or {}).get("verdict") == Verdict.ADOPTED
             and isinstance(m := (e.get("status") or {}).get("metrics") or {}, dict)
             and isinstance(m.get("bdRate"), (int, float))]
    return min(rates) if rates else None


def deadline_of(spec: CampaignSpec, started_at: dt.datetime) -> dt.datetime | None:
    """The earlier of `budget.deadline` and start + `budget.maxDurationMinutes`."""
    ends = []
    if spec.budget.deadline:
        ends.append(parse_time(spec.budget.deadline))
    if spec.budget.max_duration_minutes:
        ends.append(started_at + dt.timedelta(minutes=spec.budget.max_duration_minutes))
    return min(ends) if ends else None


def stop_reason(spec: CampaignSpec, experiments: list[dict[str, Any]], now: dt.datetime,
                started_at: dt.datetime, spent_usd: float) -> str | None:
    total = len(experiments)
    if total >= spec.budget.max_experiments:
        return f"budget.maxExperiments reached ({total} of {spec.budget.max_experiments})"
    if spent_usd > 0 and spent_usd >= spec.budget.max_cost_usd:
        return f"budget.maxCostUSD reached (${spent_usd:.2f} of ${spec.budget.max_cost_usd:.2f})"
    end = deadline_of(spec, started_at)
    if end is not None and now >= end:
        return f"deadline reached ({end.strftime('%Y-%m-%dT%H:%M:%SZ')})"
    best = best_bd_rate(experiments)
    if spec.target_bd_rate is not None and best is not None and best <= spec.target_bd_rate:
        return f"goal reached (best BD-rate {best:.2f}% <= target {spec.target_bd_rate:.2f}%)"
    return None


def plan_campaign(spec: CampaignSpec, experiments: list[dict[str, Any]], now: dt.datetime,
                  started_at: dt.datetime, spent_usd: float) -> CampaignPlan:
    """How many experiments to create now, and the counts for the Campaign's status."""
    counts = count_outcomes(experiments)
    reason = stop_reason(spec, experiments, now, started_at, spent_usd)
    if reason is not None:
        return CampaignPlan(0, reason, counts)
    free = spec.parallelism - counts["running"]
    left = spec.budget.max_experiments - counts["total"]
    return CampaignPlan(max(0, min(free, left)), None, counts)
