"""The campaign rules of the driver core: what starts, when it stops, when it is complete."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from aivc.api.documents import CampaignDoc, Counts, ExperimentDoc
from aivc.api.types import CampaignPhase, Phase
from aivc.research.campaigning import (
    completed,
    count_outcomes,
    deadline_of,
    edit_reviewed,
    edited_since_completed,
    invalid,
    plan_campaign,
    still_stopped,
)

NOW = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)
START = "2026-01-10T12:00:00Z"


def campaign(status: dict[str, Any] | None = None, **spec: Any) -> CampaignDoc:
    extra = spec.pop("extra", {})
    body = {"dataset": {"clips": ["carphone:10"], "heldOut": ["bikes:10"]}, "budget": spec, **extra}
    return CampaignDoc.parse({"kind": "Campaign", "metadata": {"name": "c", "uid": "u", "generation": 3},
                              "spec": body, "status": {"startTime": START, **(status or {})}})


_seq = iter(range(10_000))


def exp(phase: str, verdict: str | None = None, bd: float | None = None, *, seq: int | None = None,
        cost: float = 0.0, version: int | None = None, since: str | None = None,
        done: str | None = None, committed: bool = True) -> ExperimentDoc:
    status: dict[str, Any] = {"phase": phase, "verdict": verdict, "costUSD": cost,
                              "phaseSince": since, "completionTime": done, "learned": True}
    if verdict == "Adopted":
        status["version"] = version if version is not None else 0
        if committed:
            status["commit"] = {"sha": "a", "tag": "v", "branch": "b", "repo": "r"}
    if bd is not None:
        status["metrics"] = {"bdRate": bd, "kbps": 100.0, "psnrY": 35.0}
    sequence = next(_seq) if seq is None else seq
    return ExperimentDoc.parse({"metadata": {"name": f"c-{sequence:04d}"},
                                "spec": {"campaign": "c", "sequence": sequence}, "status": status})


def test_outcomes_are_counted_by_kind():
    counts = count_outcomes([exp("Succeeded", "Adopted"), exp("Succeeded", "Rejected"),
                             exp("Failed", "Rejected"), exp("Failed", "Skipped"),
                             exp("NeedsHuman"), exp("Executing"), exp("Pending")])
    assert counts == Counts(total=7, adopted=1, rejected=2, failed=1, needs_human=1, running=2)


def test_a_fresh_campaign_starts_as_many_as_parallelism_allows_with_new_sequences():
    plan = plan_campaign(campaign(maxExperiments=5, extra={"parallelism": 3}), [], NOW)
    assert (plan.create, plan.stop_reason, plan.finished) == ((0, 1, 2), None, False)
    assert plan.status.next_sequence == 3 and plan.status_patch["nextSequence"] == 3
    assert plan.status_patch["phase"] == "Running"


def test_a_driver_may_ask_for_fewer_at_once():
    plan = plan_campaign(campaign(maxExperiments=5, extra={"parallelism": 3}), [], NOW, parallelism=1)
    assert plan.create == (0,)


def test_experiments_in_flight_and_waiting_for_a_person_hold_their_slots_unless_told_otherwise():
    c = campaign(maxExperiments=10, extra={"parallelism": 2})
    assert plan_campaign(c, [exp("Executing", seq=0), exp("Designing", seq=1)], NOW).create == ()
    assert plan_campaign(c, [exp("Executing", seq=0), exp("NeedsHuman", seq=1)], NOW).create == ()
    free = campaign(maxExperiments=10, extra={"parallelism": 2, "needsHumanHoldsSlot": False})
    assert plan_campaign(free, [exp("Executing", seq=0), exp("NeedsHuman", seq=1)], NOW).create == (2,)


def stuck(seq: int, category: str) -> ExperimentDoc:
    return ExperimentDoc.parse({"metadata": {"name": f"c-{seq:04d}"}, "spec": {"campaign": "c", "sequence": seq},
                                "status": {"phase": "NeedsHuman", "humanReason": "execution failed 2 times",
                                           "lastError": {"stage": "execution", "category": category,
                                                         "message": "x"}}})


def test_a_failure_budget_stops_a_campaign_whose_experiments_keep_failing():
    c = campaign(maxExperiments=50, maxFailedExperiments=2,
                 extra={"parallelism": 4, "needsHumanHoldsSlot": False})
    plan = plan_campaign(c, [exp("Succeeded", "Adopted", seq=0), stuck(1, "timeout"),
                             exp("Failed", "Skipped", seq=2)], NOW)
    assert plan.create == () and plan.stop_reason == "budget.maxFailedExperiments reached (2 of 2)"
    cond = next(x for x in plan.status.conditions if x.type == "Stopping")
    assert cond.reason == "WaitingForPeople"  # one of them still waits for a person


def test_consecutive_failures_of_one_kind_stop_it_but_mixed_ones_do_not():
    c = campaign(maxExperiments=50, maxConsecutiveFailures=3, extra={"needsHumanHoldsSlot": False})
    same = [exp("Succeeded", "Adopted", seq=0), stuck(1, "timeout"), stuck(2, "timeout"), stuck(3, "timeout")]
    assert "the last 3 experiments all failed with timeout" in (plan_campaign(c, same, NOW).stop_reason or "")
    mixed = [exp("Succeeded", "Adopted", seq=0), stuck(1, "timeout"), stuck(2, "memory"), stuck(3, "timeout")]
    assert plan_campaign(c, mixed, NOW).stop_reason is None


def test_the_last_slots_of_the_budget_are_not_overrun():
    c = campaign(maxExperiments=3, extra={"parallelism": 4})
    assert plan_campaign(c, [exp("Succeeded", "Adopted", seq=0)], NOW).create == (1, 2)


def test_a_deleted_experiment_is_not_refunded_and_its_sequence_not_reused():
    c = campaign({"nextSequence": 2}, maxExperiments=3, extra={"parallelism": 4})
    plan = plan_campaign(c, [exp("Succeeded", "Adopted", seq=0)], NOW)  # #1 was deleted
    assert plan.create == (2,)


STOPS = [
    ("experiment budget", campaign(maxExperiments=2),
     [exp("Succeeded", "Adopted", seq=0), exp("Succeeded", "Rejected", seq=1)], "budget.maxExperiments"),
    ("cost budget", campaign(maxCostUSD=1.5), [exp("Succeeded", "Rejected", cost=1.5)],
     "budget.maxCostUSD"),
    ("deadline", campaign(deadline="2026-01-10T11:00:00Z"), [], "deadline reached"),
    ("duration", campaign({"startTime": "2026-01-10T11:29:00Z"}, maxDurationMinutes=30), [],
     "deadline reached"),
    ("goal", campaign(extra={"goal": {"targetBDRate": -5}}), [exp("Succeeded", "Adopted", bd=-6.0)],
     "goal reached"),
]


@pytest.mark.parametrize(("c", "exps", "reason"), [r[1:] for r in STOPS], ids=[r[0] for r in STOPS])
def test_a_spent_budget_or_reached_goal_stops_new_experiments(c, exps, reason):
    plan = plan_campaign(c, exps, NOW)
    assert plan.create == ()
    assert plan.stop_reason is not None and plan.stop_reason.startswith(reason)


def test_a_search_campaign_with_no_spend_is_not_stopped_by_a_zero_cost_budget():
    assert plan_campaign(campaign(maxCostUSD=0), [], NOW).stop_reason is None


def test_a_stopped_campaign_is_complete_only_once_nothing_is_in_flight_or_waiting():
    c = campaign(maxExperiments=1)
    running = plan_campaign(c, [exp("Executing", seq=0)], NOW)
    waiting = plan_campaign(c, [exp("NeedsHuman", seq=0)], NOW)
    done = plan_campaign(c, [exp("Succeeded", "Rejected", seq=0)], NOW)
    assert (running.finished, waiting.finished, done.finished) == (False, False, True)
    assert waiting.status.phase is CampaignPhase.RUNNING
    stopping = next(cond for cond in waiting.status.conditions if cond.type == "Stopping")
    assert stopping.reason == "WaitingForPeople" and "1 experiment(s) wait for a person" in stopping.message


def test_a_finished_campaign_is_completed_after_its_report_in_one_patch():
    c = campaign(maxExperiments=1)
    plan = plan_campaign(c, [exp("Succeeded", "Adopted", bd=3.0, seq=0)], NOW)
    assert plan.finished and plan.status_patch == {}  # nothing is written before the report
    patch = completed(c, plan, NOW, "/reports/c/report.md")
    assert patch["phase"] == "Completed" and patch["completionTime"] == "2026-01-10T12:00:00Z"
    assert patch["report"] == "/reports/c/report.md" and patch["best"]["experiment"] == "c-0000"
    assert plan.report_clips == ("carphone:10", "bikes:10")
    running = next(cond for cond in CampaignDoc.parse(
        {**c.reference(), "spec": c.spec.raw["spec"], "status": {**patch}}).status.conditions
        if cond.type == "Running")
    assert (running.status.value, running.reason) == ("False", "Completed")


def test_an_idle_tick_writes_nothing():
    c = campaign(maxExperiments=5)
    first = plan_campaign(c, [exp("Executing", seq=0)], NOW)
    again = CampaignDoc.parse({**c.reference(), "spec": c.spec.raw["spec"],
                               "status": {"startTime": START, **first.status_patch}})
    later = NOW + dt.timedelta(minutes=1)
    assert plan_campaign(again, [exp("Executing", seq=0)], later, parallelism=1).status_patch == {}


def test_the_best_version_is_the_lowest_score_among_adopted_ones():
    plan = plan_campaign(campaign(), [exp("Succeeded", "Adopted", 9.0, version=0),
                                      exp("Succeeded", "Adopted", 4.0, version=1),
                                      exp("Succeeded", "Rejected", -50.0)], NOW)
    assert plan.status.best is not None and (plan.status.best.version, plan.status.best.bd_rate) == ("v1", 4.0)


def test_gauges_are_derived_from_the_documents():
    exps = [exp("Succeeded", "Adopted", 4.0, seq=0, version=0, done="2026-01-10T10:00:00Z"),
            exp("Succeeded", "Rejected", 5.0, seq=1), exp("Failed", "Skipped", seq=2),
            exp("NeedsHuman", seq=3, since="2026-01-10T11:00:00Z"), exp("Validating", seq=4, cost=0.25)]
    g = plan_campaign(campaign(), exps, NOW).gauges
    assert g.in_phase[Phase.VALIDATING] == 1 and g.in_phase[Phase.NEEDS_HUMAN] == 1
    assert g.waiting_since == {"c-0003": dt.datetime(2026, 1, 10, 11, tzinfo=dt.UTC).timestamp()}
    assert g.since_adoption == 2 and g.cost_usd == 0.25
    assert g.last_adoption == dt.datetime(2026, 1, 10, 10, tzinfo=dt.UTC).timestamp()
    assert g.best is not None and g.best.name == "c-0000"


def test_an_invalid_spec_fails_the_campaign_with_the_reason():
    patch = invalid(campaign().status, "spec.dataset.clips: is required", NOW)
    assert patch["phase"] == "Failed"
    assert patch["conditions"][0]["type"] == "SpecValid" and "is required" in patch["conditions"][0]["message"]


def test_the_deadline_is_the_earlier_of_both_limits():
    c = campaign(deadline="2026-01-10T12:10:00Z", maxDurationMinutes=5)
    assert deadline_of(c.spec, NOW) == NOW + dt.timedelta(minutes=5)


def test_a_campaign_waits_for_the_commit_and_the_lesson_of_its_last_experiment():
    c = campaign(maxExperiments=1)
    assert not plan_campaign(c, [exp("Succeeded", "Adopted", seq=0, committed=False)], NOW).finished
    unlearned = ExperimentDoc.parse({"metadata": {"name": "c-0000"}, "spec": {"campaign": "c", "sequence": 0},
                                     "status": {"phase": "Succeeded", "verdict": "Rejected"}})
    assert not plan_campaign(c, [unlearned], NOW).finished
    assert plan_campaign(c, [exp("Succeeded", "Adopted", seq=0)], NOW).finished


def test_a_refused_key_pauses_the_campaign_and_an_answer_resumes_it():
    c = campaign(maxExperiments=5, extra={"parallelism": 2})
    held = ExperimentDoc.parse({"metadata": {"name": "c-0001"}, "spec": {"campaign": "c", "sequence": 1},
                                "status": {"phase": "Designing", "hold": {
                                    "category": "auth", "message": "401", "until": START}}})
    plan = plan_campaign(c, [exp("Succeeded", "Adopted", seq=0), held], NOW)
    assert plan.create == () and plan.gauges.paused
    ready = next(cond for cond in plan.status.conditions if cond.type == "PlannerReady")
    assert (ready.status.value, ready.reason) == ("False", "PlannerKeyRefused") and "resumes" in ready.message
    free = plan_campaign(c, [exp("Succeeded", "Adopted", seq=0), exp("Designing", seq=1)], NOW)
    assert free.create == (2,) and not free.gauges.paused
    assert next(cond for cond in free.status.conditions if cond.type == "PlannerReady").status.value == "True"


def test_spend_only_grows_a_deleted_experiments_calls_stay_spent_and_new_calls_add():
    two = [exp("Succeeded", "Rejected", cost=0.75, seq=0), exp("Executing", cost=0.25, seq=1)]
    first = plan_campaign(campaign(maxCostUSD=1.5, maxExperiments=9), two, NOW)
    assert (first.status.cost_usd, first.status.cost_seen_usd) == (1.0, 1.0)
    assert first.status_patch["observedGeneration"] == 3
    after = {"costUSD": 1.0, "costSeenUSD": 1.0, "nextSequence": 2}
    # experiment 0 deleted, experiment 1 booked $0.30 more: $1.30 spent, not $0.55
    later = plan_campaign(campaign(after, maxCostUSD=1.5, maxExperiments=9),
                          [exp("Executing", cost=0.55, seq=1)], NOW)
    assert later.status.cost_usd == pytest.approx(1.0)  # the deletion hides this tick's booking
    again = plan_campaign(campaign({"costUSD": 1.0, "costSeenUSD": 0.55, "nextSequence": 2},
                                   maxCostUSD=1.5, maxExperiments=9),
                          [exp("Executing", cost=0.6, seq=1)], NOW)
    assert again.status.cost_usd == pytest.approx(1.05) and again.gauges.cost_usd == pytest.approx(1.05)
    spent = plan_campaign(campaign({"costUSD": 1.6, "costSeenUSD": 0.6, "nextSequence": 2},
                                   maxCostUSD=1.5, maxExperiments=9),
                          [exp("Executing", cost=0.6, seq=1)], NOW)
    assert spent.stop_reason is not None and "maxCostUSD" in spent.stop_reason and not spent.create


def test_a_status_from_before_the_counter_takes_its_cost_as_the_base():
    plan = plan_campaign(campaign({"costUSD": 0.5, "nextSequence": 1}, maxExperiments=9),
                         [exp("Executing", cost=0.5, seq=0)], NOW)
    assert plan.status.cost_usd == pytest.approx(0.5)


def test_a_completed_campaign_resumes_only_when_its_edited_budget_lets_it_go_on():
    done = [exp("Succeeded", "Rejected", seq=0), exp("Succeeded", "Rejected", seq=1)]
    status = {"phase": "Completed", "nextSequence": 2, "stopReason": "budget.maxExperiments reached"}
    assert still_stopped(campaign(status, maxExperiments=2), done, NOW) == \
        "budget.maxExperiments reached (2 of 2)"
    assert still_stopped(campaign(status, maxExperiments=4), done, NOW) is None


def test_an_edit_is_unreviewed_while_the_generation_is_ahead_of_the_completed_status():
    def edited(status: dict[str, Any]) -> bool:
        c = campaign(status)
        return edited_since_completed(c.meta.generation, c.status)

    status = {"phase": "Completed", "nextSequence": 2}
    assert edited({**status, "observedGeneration": 2})  # generation 3
    assert not edited({**status, "observedGeneration": 3})
    assert edited(status)  # a status from before the field existed
    assert not edited({"phase": "Running", "observedGeneration": 2})


def test_an_edit_that_lifts_nothing_is_recorded_as_seen_and_nothing_else_changes():
    c = campaign({"phase": "Completed", "nextSequence": 2, "observedGeneration": 2,
                  "stopReason": "budget.maxExperiments reached (2 of 2)"})
    assert edit_reviewed(c) == {"observedGeneration": 3}
