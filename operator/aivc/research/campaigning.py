"""The one driver core for campaigns: what to start, what the status says, when it is done.

Both drivers call `plan_campaign` on every tick and carry out its result: create the
experiments it names, write the status patch when it is not empty, publish its gauges, and
once `finished`, write the finish-up report (`report`) and then `completed(...)`. The rules:

- a campaign stops starting experiments when a budget is spent (experiment count, LLM cost,
  deadline or duration) or its goal is reached (`stop_reason`); experiments in flight finish;
- an experiment waiting for a person keeps its parallelism slot unless the campaign says
  otherwise (`needsHumanHoldsSlot`), so a campaign does not run past failures nobody read;
- a failure budget stops it too: `maxFailedExperiments` experiments that used up their
  repairs (or were skipped by a person), or `maxConsecutiveFailures` in a row that failed
  the same way — the campaign's trouble, not one candidate's;
- it is Completed only once it has stopped *and* no experiment is in flight, waiting for a
  person or owed an action (the git commit of its adoption, the planner's lesson): a person's `retry` may still lead to an
  adoption, so until then it stays Running, with a `Stopping` condition that says who is
  waited for (DESIGN.md §2, the CRD's phases);
- sequence numbers are never reused (`status.nextSequence`), even after a deletion.

Pure: documents in, plan out, `now` an argument.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from aivc.api.documents import (
    BestSummary,
    CampaignDoc,
    CampaignStatus,
    Condition,
    Counts,
    ExperimentDoc,
    Hold,
    Json,
    campaign_status_json,
    condition,
    set_conditions,
    status_patch,
    without_times,
)
from aivc.api.spec import CampaignSpec
from aivc.api.times import iso, parse_time
from aivc.api.types import CampaignPhase, ConditionType, Phase, Reason, Verdict
from aivc.research import archive, bandit, history
from aivc.research.driving import owed
from aivc.research.planning import AUTH


@dataclass(frozen=True)
class Gauges:
    """State a board charts, derived from the documents on every tick (never kept as deltas,
    so a restarted driver reports the truth at once)."""

    in_phase: dict[Phase, int]
    waiting_since: dict[str, float]
    """Experiments waiting for a person: name → Unix time they began waiting."""
    since_adoption: int
    last_adoption: float | None
    best: ExperimentDoc | None
    cost_usd: float
    paused: bool = False
    """The planner's key is refused: the campaign waits for a person to fix it."""
    arms: tuple[bandit.Arm, ...] = ()
    """The hybrid planner's design models, as its bandit sees them."""


@dataclass(frozen=True)
class CampaignPlan:
    create: tuple[int, ...]
    """Sequence numbers of the experiments to create now."""
    status: CampaignStatus
    status_patch: Json
    """What to write now (empty when nothing changed but condition times)."""
    stop_reason: str | None
    finished: bool
    """Stopped, nothing in flight, nobody waited for: write the report, then `completed`."""
    gauges: Gauges
    report_clips: tuple[str, ...] = field(default=())
    """The clips whose anchor curves the finish-up report draws (campaign, then held out)."""


def count_outcomes(experiments: Iterable[ExperimentDoc]) -> Counts:
    total = adopted = rejected = failed = waiting = running = 0
    for exp in experiments:
        status = exp.status
        total += 1
        if status.verdict is Verdict.ADOPTED:
            adopted += 1
        elif status.verdict is Verdict.REJECTED:
            rejected += 1
        elif status.phase is Phase.FAILED:
            failed += 1
        elif status.phase is Phase.NEEDS_HUMAN:
            waiting += 1
        elif status.phase is not Phase.SUCCEEDED:
            running += 1
    return Counts(total, adopted, rejected, failed, waiting, running)


def best_summary(experiments: Iterable[ExperimentDoc]) -> BestSummary | None:
    best = archive.best_experiment(experiments)
    if best is None:
        return None
    m = best.status.metrics
    return BestSummary(best.status.version_name, best.name, m.bd_rate if m else None,
                       m.kbps if m else None, m.psnr_yuv if m else None)


def deadline_of(spec: CampaignSpec, started_at: dt.datetime) -> dt.datetime | None:
    """The earlier of `budget.deadline` and start + `budget.maxDurationMinutes`."""
    ends = []
    if spec.budget.deadline:
        ends.append(parse_time(spec.budget.deadline))
    if spec.budget.max_duration_minutes:
        ends.append(started_at + dt.timedelta(minutes=spec.budget.max_duration_minutes))
    return min(ends) if ends else None


def failed(exp: ExperimentDoc) -> bool:
    """Used up its repairs (waiting for a person because of them), or skipped by a person."""
    status = exp.status
    return (status.phase is Phase.NEEDS_HUMAN and status.last_error is not None
            and not status.has_results) or status.verdict is Verdict.SKIPPED


def failure_reason(spec: CampaignSpec, experiments: Sequence[ExperimentDoc]) -> str | None:
    """Why the failure budget stops the campaign (None while it allows more)."""
    fails = [e for e in sorted(experiments, key=lambda e: e.sequence) if failed(e)]
    limit = spec.budget.max_failed
    if limit is not None and len(fails) >= limit:
        return f"budget.maxFailedExperiments reached ({len(fails)} of {limit})"
    run = spec.budget.max_consecutive_failures
    done = [e for e in sorted(experiments, key=lambda e: e.sequence)
            if e.status.finished or e.status.phase is Phase.NEEDS_HUMAN]
    tail = done[-run:] if run else []
    kinds = {e.status.last_error.category for e in tail if failed(e) and e.status.last_error}
    if run and len(tail) == run and all(failed(e) for e in tail) and len(kinds) == 1:
        return (f"budget.maxConsecutiveFailures reached: the last {run} experiments all failed "
                f"with {kinds.pop()}")
    return None


def stop_reason(spec: CampaignSpec, experiments: Sequence[ExperimentDoc], now: dt.datetime,
                started_at: dt.datetime, started: int, spent: float | None = None) -> str | None:
    """Why no more experiments start (None while the campaign goes on). `spent` is the
    campaign's monotonic cost (`spent_so_far`); without it, what the experiments booked."""
    if started >= spec.budget.max_experiments:
        return f"budget.maxExperiments reached ({started} of {spec.budget.max_experiments})"
    failing = failure_reason(spec, experiments)
    if failing is not None:
        return failing
    spent = history.spent_usd(experiments) if spent is None else spent
    if spent > 0 and spent >= spec.budget.max_cost_usd:
        return f"budget.maxCostUSD reached (${spent:.2f} of ${spec.budget.max_cost_usd:.2f})"
    end = deadline_of(spec, started_at)
    if end is not None and now >= end:
        return f"deadline reached ({iso(end)})"
    best = best_summary(experiments)
    target = spec.target_bd_rate
    if target is not None and best is not None and best.bd_rate is not None and best.bd_rate <= target:
        return f"goal reached (best BD-rate {best.bd_rate:.2f}% <= target {target:.2f}%)"
    return None


def design_arms(spec: CampaignSpec, experiments: Sequence[ExperimentDoc]) -> tuple[bandit.Arm, ...]:
    """The hybrid planner's design models as its bandit sees them (none for other planners)."""
    if spec.planner != "hybrid":
        return ()
    models = spec.llm.design_models or (spec.llm.model_for("design"),)
    pending = [e.status.origin.model for e in experiments if not e.status.finished
               and e.status.origin is not None and e.status.origin.planner == "llm"
               and e.status.origin.model]
    return tuple(bandit.arms(models, history.outcomes(experiments), [m for m in pending if m]))


def gauges(experiments: Sequence[ExperimentDoc], fallback_since: dt.datetime) -> Gauges:
    in_phase = Counter(e.status.phase for e in experiments if not e.status.finished)
    waiting = {e.name: parse_time(e.status.phase_since).timestamp() if e.status.phase_since
               else fallback_since.timestamp()
               for e in experiments if e.status.phase is Phase.NEEDS_HUMAN}
    ordered = sorted(experiments, key=lambda e: e.sequence)
    adopted = [e for e in ordered if e.status.adopted]
    last = adopted[-1] if adopted else None
    since = sum(1 for e in ordered if e.status.finished and not e.status.adopted
                and (last is None or e.sequence > last.sequence))
    last_at = parse_time(last.status.completion_time).timestamp() \
        if last is not None and last.status.completion_time else None
    return Gauges({p: in_phase.get(p, 0) for p in Phase if p not in (Phase.SUCCEEDED, Phase.FAILED)},
                  waiting, since, last_at, archive.best_experiment(experiments),
                  history.spent_usd(experiments))


def spent_so_far(old: CampaignStatus, experiments: Sequence[ExperimentDoc]) -> tuple[float, float]:
    """(cost, seen): the campaign's LLM spend as a counter that only grows.

    Each tick adds what the live experiments booked since the last (`costSeenUSD`), so a
    deleted experiment's calls stay spent. A status written before `costSeenUSD` existed
    counted the live experiments: that figure is the base. (Spend booked in the same tick as
    a deletion can hide behind the deleted cost until the next booking: at most one tick.)
    """
    live = history.spent_usd(experiments)
    seen = old.cost_seen_usd if old.cost_seen_usd or not old.cost_usd else old.cost_usd
    return old.cost_usd + max(0.0, live - seen), live


def edited_since_completed(generation: int | None, status: CampaignStatus) -> bool:
    """A Completed campaign whose spec changed after the status that completed it was planned
    (its `generation` is ahead of `observedGeneration`): the edit is not reviewed yet. Needs
    no spec, so it can be asked of every event cheaply."""
    return (status.phase is CampaignPhase.COMPLETED and generation is not None
            and generation != status.observed_generation)


def still_stopped(campaign: CampaignDoc, experiments: Sequence[ExperimentDoc],
                  now: dt.datetime) -> str | None:
    """Why a Completed campaign stays stopped under its spec as it is now; None when nothing
    stops it any more (a raised budget, a later deadline) and it goes on."""
    old = campaign.status
    started_at = parse_time(old.start_time) if old.start_time else now
    started = max([e.sequence + 1 for e in experiments] + [old.next_sequence])
    return stop_reason(campaign.spec, experiments, now, started_at, started,
                       spent_so_far(old, experiments)[0])


def edit_reviewed(campaign: CampaignDoc) -> Json:
    """The status patch that records an edit seen on a campaign that stays Completed."""
    old = campaign.status
    return _patch(old, replace(old, observed_generation=campaign.meta.generation))


def plan_campaign(campaign: CampaignDoc, experiments: Sequence[ExperimentDoc], now: dt.datetime,
                  *, parallelism: int | None = None) -> CampaignPlan:
    """The next step of `campaign` given its experiments (see the module docstring).

    `parallelism` overrides the spec's (a driver that can run fewer at once says so).
    """
    spec, old = campaign.spec, campaign.status
    started_at = parse_time(old.start_time) if old.start_time else now
    counts = count_outcomes(experiments)
    next_seq = max([e.sequence + 1 for e in experiments] + [old.next_sequence])
    cost, seen = spent_so_far(old, experiments)
    reason = stop_reason(spec, experiments, now, started_at, max(next_seq, counts.total), cost)
    hold = planner_hold(experiments)
    create: tuple[int, ...] = ()
    if reason is None and hold is None:  # no new experiment while the planner cannot answer
        held = counts.needs_human if spec.needs_human_holds_slot else 0
        free = (parallelism or spec.parallelism) - counts.running - held
        left = spec.budget.max_experiments - max(next_seq, counts.total)
        create = tuple(range(next_seq, next_seq + max(0, min(free, left))))
    owing = any(owed(e) is not None for e in experiments)
    finished = reason is not None and counts.running == 0 and counts.needs_human == 0 \
        and not create and not owing
    stamp = iso(now)
    status = replace(
        old, phase=CampaignPhase.RUNNING, stop_reason=reason, start_time=old.start_time or stamp,
        completion_time=None, next_sequence=next_seq + len(create), counts=counts,
        best=best_summary(experiments), cost_usd=cost, cost_seen_usd=seen,
        observed_generation=campaign.meta.generation or old.observed_generation,
        conditions=set_conditions(old.conditions,
                                  [*_conditions(reason, counts, finished,
                                                failing=reason == failure_reason(spec, experiments)),
                                   _planner_condition(hold)],
                                  stamp))
    patch = {} if finished else _patch(old, status)  # a finished one writes `completed` instead
    state = replace(gauges(experiments, started_at), cost_usd=cost,
                    paused=hold is not None and hold.category == AUTH,
                    arms=design_arms(spec, experiments))
    return CampaignPlan(create, status, patch, reason, finished, state, (*spec.clips, *spec.held_out))


def completed(campaign: CampaignDoc, plan: CampaignPlan, now: dt.datetime,
              report: str | None) -> Json:
    """The status patch that completes a finished campaign (after its report was written)."""
    status = replace(plan.status, phase=CampaignPhase.COMPLETED, completion_time=iso(now),
                     report=report or plan.status.report)
    return _patch(campaign.status, status)


def restarted(campaign: CampaignDoc, now: dt.datetime) -> Json:
    """A campaign taken up again (local `aivc run` on an existing run): Running, same start."""
    old = campaign.status
    status = replace(old, phase=CampaignPhase.RUNNING, start_time=old.start_time or iso(now),
                     stop_reason=None, completion_time=None)
    return status_patch(campaign_status_json(old), campaign_status_json(status))


def invalid(status: CampaignStatus, message: str, now: dt.datetime) -> Json:
    """The status of a Campaign whose spec is invalid: Failed, SpecValid=False with why."""
    new = replace(status, phase=CampaignPhase.FAILED, conditions=set_conditions(
        status.conditions, [condition(ConditionType.SPEC_VALID, False, Reason.INVALID_SPEC, message)],
        iso(now)))
    return status_patch(campaign_status_json(status), campaign_status_json(new))


def planner_hold(experiments: Sequence[ExperimentDoc]) -> Hold | None:
    """The hold of a design waiting on the planner (a refused key first), if any."""
    holds = [e.status.hold for e in experiments
             if e.status.hold is not None and e.status.phase is Phase.DESIGNING]
    return next((h for h in holds if h.category == AUTH), holds[0] if holds else None)


def _planner_condition(hold: Hold | None) -> Condition:
    if hold is None:
        return condition(ConditionType.PLANNER_READY, True, Reason.PLANNER_READY,
                         "the planner answers")
    if hold.category == AUTH:
        return condition(ConditionType.PLANNER_READY, False, Reason.PLANNER_KEY_REFUSED,
                         f"paused: the planner's key is refused ({hold.message}); fix the key "
                         "(the Secret the campaign names, or ANTHROPIC_API_KEY locally) and the "
                         "campaign resumes by itself")
    return condition(ConditionType.PLANNER_READY, False, Reason.PLANNER_UNAVAILABLE,
                     f"waiting for the planner's service ({hold.message}); designs are tried "
                     f"again from {hold.until}, without using their retries")


def _conditions(reason: str | None, counts: Counts, finished: bool,
                failing: bool = False) -> list[Condition]:
    conds = [condition(ConditionType.RUNNING, not finished,
                       Reason.COMPLETED if finished else Reason.RUNNING,
                       reason or "starting experiments as the budget allows")]
    if reason:
        waiting = counts.needs_human
        conds.append(condition(
            ConditionType.STOPPING, True,
            Reason.WAITING_FOR_PEOPLE if waiting else (
                Reason.FAILURE_BUDGET if failing else Reason.BUDGET_OR_GOAL),
            reason + (f"; {waiting} experiment(s) wait for a person" if waiting else "")))
    return conds


def _patch(old: CampaignStatus, new: CampaignStatus) -> Json:
    before, after = campaign_status_json(old), campaign_status_json(new)
    if without_times(before) == without_times(after):
        return {}
    return status_patch(before, after)
