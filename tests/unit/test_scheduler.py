"""How many experiments a campaign starts, when it stops, and the counts it reports."""

from __future__ import annotations

import datetime as dt

import pytest

from aivc.research.scheduler import count_outcomes, deadline_of, plan_campaign
from aivc.research.spec import CampaignSpec

NOW = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)


def spec(**budget: object) -> CampaignSpec:
    extra = budget.pop("extra", {})
    body = {"dataset": {"clips": ["carphone:10"]}, "budget": budget, **extra}  # type: ignore[dict-item]
    return CampaignSpec.from_manifest({"kind": "Campaign", "metadata": {"name": "c"}, "spec": body})


def exp(phase: str, verdict: str | None = None, bd: float | None = None) -> dict:
    status: dict = {"phase": phase, "verdict": verdict}
    if bd is not None:
        status["metrics"] = {"bdRate": bd}
    return {"metadata": {"name": "x"}, "status": status}


def test_outcomes_are_counted_by_kind():
    counts = count_outcomes([exp("Succeeded", "Adopted"), exp("Succeeded", "Rejected"),
                             exp("Failed", "Rejected"), exp("Failed", "Skipped"),
                             exp("NeedsHuman"), exp("Executing"), exp("Pending")])
    assert counts == {"total": 7, "adopted": 1, "rejected": 2, "failed": 1, "needsHuman": 1,
                      "running": 2}


def test_a_fresh_campaign_starts_as_many_as_parallelism_allows():
    plan = plan_campaign(spec(maxExperiments=5, extra={"parallelism": 3}), [], NOW, NOW, 0.0)
    assert (plan.create, plan.stop_reason) == (3, None)


def test_experiments_in_flight_hold_their_slots_but_people_do_not():
    s = spec(maxExperiments=10, extra={"parallelism": 2})
    assert plan_campaign(s, [exp("Executing"), exp("Designing")], NOW, NOW, 0).create == 0
    assert plan_campaign(s, [exp("Executing"), exp("NeedsHuman")], NOW, NOW, 0).create == 1


def test_the_last_slots_of_the_budget_are_not_overrun():
    s = spec(maxExperiments=3, extra={"parallelism": 4})
    assert plan_campaign(s, [exp("Succeeded", "Adopted")], NOW, NOW, 0).create == 2


STOPS = [
    ("experiment budget", spec(maxExperiments=2), [exp("Succeeded", "Adopted")] * 2, 0.0, NOW,
     "budget.maxExperiments"),
    ("cost budget", spec(maxCostUSD=1.5), [], 1.5, NOW, "budget.maxCostUSD"),
    ("deadline", spec(deadline="2026-01-10T11:00:00Z"), [], 0.0, NOW, "deadline reached"),
    ("duration", spec(maxDurationMinutes=30), [], 0.0, NOW - dt.timedelta(minutes=31),
     "deadline reached"),
    ("goal", spec(extra={"goal": {"targetBDRate": -5}}), [exp("Succeeded", "Adopted", bd=-6.0)],
     0.0, NOW, "goal reached"),
]


@pytest.mark.parametrize(("s", "exps", "spent", "started", "reason"), [r[1:] for r in STOPS],
                         ids=[r[0] for r in STOPS])
def test_a_spent_budget_or_reached_goal_stops_new_experiments(s, exps, spent, started, reason):
    plan = plan_campaign(s, exps, NOW, started, spent)
    assert plan.create == 0
    assert plan.stop_reason is not None and plan.stop_reason.startswith(reason)


def test_a_search_campaign_with_no_spend_is_not_stopped_by_a_zero_cost_budget():
    assert plan_campaign(spec(maxCostUSD=0), [], NOW, NOW, 0.0).stop_reason is None


def test_a_stopped_campaign_is_finished_only_once_nothing_is_in_flight():
    s = spec(maxExperiments=1)
    assert not plan_campaign(s, [exp("Executing")], NOW, NOW, 0).finished
    assert plan_campaign(s, [exp("Succeeded", "Rejected")], NOW, NOW, 0).finished


def test_the_deadline_is_the_earlier_of_both_limits():
    s = spec(deadline="2026-01-10T12:10:00Z", maxDurationMinutes=5)
    assert deadline_of(s, NOW) == NOW + dt.timedelta(minutes=5)
