"""The one driver core for experiments: what a transition writes, does and tells (pure).

Local mode (`aivc.research.local`) and the operator (`aivc.kube.experiment`) are two drivers
of the phase machine. They differ only in their I/O — a run directory and local sandbox
processes, or the Kubernetes API, Jobs and Events — so every decision around `phases.step`
lives here, and both carry out the same plan:

- `owed(doc)`: the work an experiment is owed, read from its persisted phase (so a driver
  restarted at any point carries on);
- `transition(doc, work, limits, now)`: the status and spec to persist for one observed
  event, the actions to carry out afterwards in order (commit, lesson, notify) and the
  observations to publish (metrics, Events, terminal lines);
- `decide(doc, next_version, now)`: a person's decision annotation, applied, ignored or
  refused, always cleared.

Nothing here does I/O or reads a clock: `now` is an argument, documents are typed
(`aivc.api.documents`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aivc.api.documents import (
    AnalysisNote,
    Condition,
    DecisionRecord,
    ExperimentDoc,
    ExperimentSpec,
    ExperimentStatus,
    Hold,
    Json,
    Metrics,
    clearing_annotations,
    condition,
    experiment_status_json,
    set_conditions,
    status_patch,
)
from aivc.api.spec import Limits
from aivc.api.times import iso, parse_time
from aivc.api.types import ConditionType, Decision, Outcome, Phase, Reason, Verdict, camel
from aivc.research.phases import (
    Action,
    CommitVersion,
    Deferred,
    Designed,
    Event,
    ExecutionFailed,
    HumanDecision,
    IllegalTransition,
    NotifyHuman,
    RecordLesson,
    RequestDesign,
    RunAnalysis,
    RunExecution,
    RunValidation,
    Start,
    ValidationFailed,
    resume_action,
    step,
)

# ---- what a driver observed and what it is told -------------------------------------------


@dataclass(frozen=True)
class Work:
    """What doing an experiment's owed work observed: the event for the machine, plus the
    status and spec fields (by their Python names) the work produced."""

    event: Event
    status: Mapping[str, Any] = field(default_factory=dict)
    spec: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PhaseChanged:
    campaign: str
    old: Phase
    new: Phase
    seconds_in_old: float | None


@dataclass(frozen=True)
class SandboxFailed:
    campaign: str
    stage: str
    category: str


@dataclass(frozen=True)
class Measured:
    campaign: str
    sequence: int
    metrics: Metrics


@dataclass(frozen=True)
class Finished:
    campaign: str
    outcome: Outcome


@dataclass(frozen=True)
class InfraTrouble:
    """The cluster could not run a sandbox Job (counted by reason, never the candidate's)."""

    campaign: str
    phase: str
    reason: str


@dataclass(frozen=True)
class Said:
    """Something to tell people: an Event on a cluster, a terminal line locally."""

    reason: str
    message: str
    warning: bool = False


Observation = PhaseChanged | SandboxFailed | Measured | Finished | InfraTrouble | Said

INFRA = "infra"
"""The hold category of work the cluster could not run (see `api.experiments.Hold`)."""


@dataclass(frozen=True)
class ExperimentPlan:
    """One transition, decided: persist the patches, then carry out `actions` in order."""

    after: ExperimentDoc
    spec_patch: Json | None
    status_patch: Json
    actions: tuple[Action, ...] = ()
    observations: tuple[Observation, ...] = ()


@dataclass(frozen=True)
class Owed:
    """Work owed to an experiment: `Start` (nothing to do but begin), a phase's work from
    `phases.resume_action`, or a finished one's actions not yet carried out — the git commit
    of an adopted version, then the planner's lesson — so a driver stopped between persisting
    a transition and acting on it (a restart, a daemon kopf cancels) finishes the job."""

    action: (Start | RequestDesign | RunValidation | RunExecution | RunAnalysis | CommitVersion
             | RecordLesson)


def owed(doc: ExperimentDoc, now: dt.datetime | None = None) -> Owed | None:
    """The work `doc` is owed now; None when it is finished, waits for a person, or its
    design is held until later (`status.hold`; without `now`, a hold is not waited
    for)."""
    status = doc.status
    if status.phase is Phase.PENDING:
        return Owed(Start())
    if held(doc, now):
        return None
    action = resume_action(status)
    if action is not None:
        return Owed(action)  # type: ignore[arg-type]
    if status.owes_commit and status.version is not None:
        return Owed(CommitVersion(status.version))
    if status.owes_lesson:
        return Owed(RecordLesson())
    return None


HOLDABLE = (Phase.DESIGNING, Phase.VALIDATING, Phase.EXECUTING)


def held(doc: ExperimentDoc, now: dt.datetime | None) -> bool:
    """Whether the phase's work is held at `now`: the planner or the cluster could not do
    it and it waits before trying again (`status.hold`)."""
    hold = doc.status.hold
    return hold is not None and doc.status.phase in HOLDABLE and now is not None \
        and now < parse_time(hold.until)


def needs_driving(doc: ExperimentDoc) -> bool:
    """Whether a driver must keep watching `doc`: work is owed (held designs included), or a
    person's decision is."""
    return owed(doc) is not None or doc.status.phase is Phase.NEEDS_HUMAN


# ---- one transition ------------------------------------------------------------------------


def transition(doc: ExperimentDoc, work: Work, limits: Limits, now: dt.datetime) -> ExperimentPlan:
    """Feed `work.event` to the machine and decide everything the transition writes and does.

    Raises `IllegalTransition` when the event does not fit the persisted phase.
    """
    old = doc.status
    result = step(old, work.event, limits)
    new = replace(result.state, **dict(work.status))
    stamp = iso(now)
    if isinstance(work.event, Start):
        new = replace(new, start_time=stamp)
    if isinstance(work.event, Designed):
        new = replace(new, generation=old.generation + 1)
    if not isinstance(work.event, Deferred):
        new = replace(new, hold=None)  # the planner answered, the sandbox ran
    if new.phase is not old.phase:
        new = replace(new, phase_since=stamp)
    if new.terminal and not old.terminal:
        new = replace(new, completion_time=stamp)
    detail = _detail(work)
    new = replace(new, conditions=set_conditions(
        old.conditions, transition_conditions(old, new, detail), stamp))
    spec = replace(doc.spec, **dict(work.spec)) if work.spec else doc.spec
    after = replace(doc, spec=spec, status=new, stored=experiment_status_json(new))
    spec_patch = _spec_patch(doc.spec, spec)
    patch = status_patch(doc.stored or experiment_status_json(old), experiment_status_json(new))
    return ExperimentPlan(after, spec_patch, patch, _ordered(result.actions),
                          _observations(doc, old, new, work, detail, now))


def _ordered(actions: tuple[Action, ...]) -> tuple[Action, ...]:
    """Commit before learning: an adoption is made durable before anything else happens."""
    rank = {CommitVersion: 0, RecordLesson: 1, NotifyHuman: 2}
    return tuple(sorted(actions, key=lambda a: rank.get(type(a), 3)))


def _spec_patch(old: ExperimentSpec, new: ExperimentSpec) -> Json | None:
    if old == new:
        return None
    before, after = old.to_json(), new.to_json()
    return {k: v for k, v in after.items() if before.get(k) != v} or None


def _detail(work: Work) -> str | None:
    if isinstance(work.event, HumanDecision):
        note = work.event.note
        return f"a person decided {work.event.decision.value}" + (f" ({note})" if note else "")
    analysis = work.status.get("analysis")
    if isinstance(analysis, AnalysisNote) and analysis.reason:
        return analysis.reason
    hypothesis = work.spec.get("hypothesis")
    return str(hypothesis)[:300] if hypothesis else None


def _observations(doc: ExperimentDoc, old: ExperimentStatus, new: ExperimentStatus, work: Work,
                  detail: str | None, now: dt.datetime) -> tuple[Observation, ...]:
    campaign = doc.campaign
    out: list[Observation] = []
    if isinstance(work.event, (ValidationFailed, ExecutionFailed)):
        stage = "validation" if isinstance(work.event, ValidationFailed) else "execution"
        out.append(SandboxFailed(campaign, stage, work.event.category))
    if isinstance(work.event, Deferred) and new.hold is not None:
        out += _held_observations(campaign, old, new, new.hold)
    if new.phase is not old.phase:
        since = parse_time(old.phase_since) if old.phase_since else None
        seconds = (now - since).total_seconds() if since else None
        out.append(PhaseChanged(campaign, old.phase, new.phase, seconds))
        warning = new.phase in (Phase.NEEDS_HUMAN, Phase.FAILED) or _repairing(old, new)
        out.append(Said(new.phase.value, phase_message(old, new, detail, doc.name), warning))
    if old.phase is Phase.ANALYZING and new.metrics is not None and new.metrics.measured:
        out.append(Measured(campaign, doc.sequence, new.metrics))
    if new.terminal and not old.terminal:
        out.append(Finished(campaign, outcome_of_verdict(new.verdict)))
    return tuple(out)


def _held_observations(campaign: str, old: ExperimentStatus, new: ExperimentStatus,
                       hold: Hold) -> list[Observation]:
    """The cluster's trouble is told every time (each is a retry); the planner's once per
    kind of trouble (it is tried every minute or so)."""
    if hold.category == INFRA:
        return [InfraTrouble(campaign, new.phase.value, hold.reason or "Other"),
                Said(Reason.INFRASTRUCTURE, f"the cluster could not run the sandbox "
                     f"({hold.reason}): {hold.message}; trying again at {hold.until} "
                     f"(attempt {hold.count + 1})", warning=True)]
    if old.hold is not None and old.hold.category == hold.category:
        return []
    reason = Reason.PLANNER_UNAVAILABLE if hold.category == "unavailable" else Reason.PLANNER_KEY_REFUSED
    return [Said(reason, f"the design waits until {hold.until}: {hold.message}", warning=True)]


def outcome_of_verdict(verdict: Verdict | None) -> Outcome:
    return {Verdict.ADOPTED: Outcome.ADOPTED, Verdict.REJECTED: Outcome.REJECTED,
            Verdict.SKIPPED: Outcome.SKIPPED}.get(verdict, Outcome.FAILED) \
        if verdict is not None else Outcome.FAILED


def _failed_now(old: ExperimentStatus, new: ExperimentStatus) -> bool:
    """This transition recorded a failure (one more attempt of a stage used up)."""
    return new.last_error is not None and any(
        new.attempts.of(stage) > old.attempts.of(stage)
        for stage in ("design", "validation", "execution"))


def _repairing(old: ExperimentStatus, new: ExperimentStatus) -> bool:
    return new.phase is Phase.DESIGNING and _failed_now(old, new)


def phase_message(old: ExperimentStatus, new: ExperimentStatus, detail: str | None,
                  name: str) -> str:
    """One line for a phase change: from where to where, and why."""
    why = detail or ""
    if new.phase is Phase.NEEDS_HUMAN:
        why = f"{new.human_reason}; decide with kubectl annotate experiment {name} " \
              "aivc.dev/decision=retry|skip|adopt|reject (locally: aivc approve)"
    elif _repairing(old, new) and new.last_error is not None:
        err = new.last_error
        why = f"{err.stage} failed ({err.category}): {err.message[:300]}; asking for a repair"
    elif new.phase is Phase.SUCCEEDED and new.verdict is not None:
        version = f" as v{new.version}" if new.version is not None else ""
        why = f"{new.verdict.value}{version}" + (f": {detail}" if detail else "")
    text = f"{old.phase.value} -> {new.phase.value}"
    return f"{text}: {why}" if why else text


_STAGE_CONDITION = {"design": ConditionType.DESIGNED, "validation": ConditionType.VALIDATED,
                    "execution": ConditionType.EXECUTED}


def transition_conditions(old: ExperimentStatus, new: ExperimentStatus,
                          detail: str | None) -> list[Condition]:
    """The conditions a transition settles, one per type."""
    conds: list[Condition] = []
    err = new.last_error
    if err is not None and _failed_now(old, new):
        kind = _STAGE_CONDITION.get(err.stage, ConditionType.ANALYZED)
        conds.append(condition(kind, False, camel(err.category) or Reason.FAILED, err.message))
    moves = (old.phase, new.phase)
    if moves == (Phase.DESIGNING, Phase.VALIDATING):
        conds.append(condition(ConditionType.DESIGNED, True, Reason.CANDIDATE_READY,
                               detail or "the planner proposed a candidate"))
    elif moves == (Phase.VALIDATING, Phase.EXECUTING):
        conds.append(condition(ConditionType.VALIDATED, True, Reason.VALIDATION_PASSED,
                               "the candidate runs and meets the contract"))
    elif moves == (Phase.EXECUTING, Phase.ANALYZING):
        conds.append(condition(ConditionType.EXECUTED, True, Reason.MEASURED,
                               "every clip and level was measured"))
    if old.phase is Phase.ANALYZING and new.phase is not Phase.ANALYZING:
        reason = Reason.ADOPTED if new.verdict is Verdict.ADOPTED else (
            Reason.SUSPICIOUS if new.phase is Phase.NEEDS_HUMAN else Reason.REJECTED)
        conds.append(condition(ConditionType.ANALYZED, True, reason, detail or reason.value))
    if new.hold is not None and new.hold.category == INFRA:
        conds.append(condition(ConditionType.INFRASTRUCTURE, False, new.hold.reason or Reason.FAILED,
                               new.hold.message))
    elif old.hold is not None and old.hold.category == INFRA:
        conds.append(condition(ConditionType.INFRASTRUCTURE, True, Reason.SANDBOX_RAN,
                               "the cluster ran the sandbox"))
    if new.phase is Phase.NEEDS_HUMAN:
        conds.append(condition(ConditionType.NEEDS_HUMAN, True, Reason.WAITING_FOR_DECISION,
                               new.human_reason or ""))
    elif old.phase is Phase.NEEDS_HUMAN:
        conds.append(condition(ConditionType.NEEDS_HUMAN, False, Reason.DECIDED,
                               detail or "a person decided"))
    return conds


# ---- people's decisions ------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionPlan:
    """What to do with a decision annotation: always clear it; maybe apply it."""

    clear: Json
    applied: ExperimentPlan | None
    observations: tuple[Said, ...]


def decide(doc: ExperimentDoc, next_version: int, limits: Limits, now: dt.datetime, *,
           by: str | None = None, at: str | None = None) -> DecisionPlan | None:
    """The plan for the decision a person left on `doc` (None when there is none).

    `by` and `at` say who wrote the annotation and when, where the store knows (the field
    manager and time of the write in `metadata.managedFields`).
    """
    raw = doc.meta.decision
    if raw is None:
        return None
    clear = clearing_annotations()
    word = raw.strip().lower()
    choices = [d.value for d in Decision]
    if word not in choices:
        return DecisionPlan(clear, None, (Said(
            Reason.INVALID_DECISION, f"aivc.dev/decision={raw!r} is not a decision; use one of "
            f"{', '.join(choices)} (kubectl annotate experiment {doc.name} aivc.dev/decision=retry "
            "--overwrite, or aivc approve)", warning=True),))
    decision, note = Decision(word), doc.meta.note
    if doc.status.phase is not Phase.NEEDS_HUMAN:
        return DecisionPlan(clear, None, (Said(
            Reason.DECISION_IGNORED, f"{doc.name} is {doc.status.phase.value}, not NeedsHuman: "
            f"ignored aivc.dev/decision={decision.value}", warning=True),))
    stamp = iso(now)
    record = DecisionRecord(decision, note, by or "unknown", at or stamp, stamp)
    version = next_version if decision is Decision.ADOPT else None
    event = HumanDecision(decision, note=note, version=version)
    try:
        plan = transition(doc, Work(event, {"decision": record}), limits, now)
    except IllegalTransition as exc:
        return DecisionPlan(clear, None, (Said(
            Reason.DECISION_REFUSED, f"cannot {decision.value}: {exc}", warning=True),))
    said = Said(Reason.DECISION_APPLIED, f"{record.by} decided {decision.value}"
                + (f" ({note})" if note else ""))
    return DecisionPlan(clear, plan, (said,))
