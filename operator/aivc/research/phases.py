"""The experiment phase machine: pure, no I/O (DESIGN.md §2).

`step(state, event, limits)` takes an experiment's state and one thing that was observed
(the planner's output, a sandbox result, an analysis, a person's decision) and returns the
next state plus the actions a driver must carry out. Local mode (`aivc.research.local`) and
the Kubernetes operator (`aivc.kube`) are two drivers of this one machine; neither decides
phases on its own.

Phases: Pending → Designing → Validating → Executing → Analyzing → Succeeded, with Failed and
NeedsHuman as exits. NeedsHuman is left only through a `HumanDecision`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from aivc.api.documents import Attempts, ExperimentStatus, Failure
from aivc.api.spec import Limits
from aivc.api.types import Decision, Phase, Stage, Verdict


class IllegalTransition(Exception):
    """An event arrived that the current phase cannot accept."""


# ---- events: what a driver observed -------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """The experiment was created and may begin."""


@dataclass(frozen=True)
class Designed:
    """The planner produced a candidate (full source; hypothesis is recorded by the driver)."""


@dataclass(frozen=True)
class DesignFailed:
    category: str
    message: str


@dataclass(frozen=True)
class Deferred:
    """The platform could not do the phase's work — the planner unreachable or its key
    refused, the cluster unable to run the sandbox. Not the candidate's doing: the work
    waits (`status.hold`) and is tried again, using no retry."""

    category: str
    message: str


@dataclass(frozen=True)
class ValidationPassed:
    pass


@dataclass(frozen=True)
class ValidationFailed:
    category: str
    message: str


@dataclass(frozen=True)
class ExecutionStageDone:
    """A stage of the evaluation cascade passed and another follows (`aivc.research.cascade`)."""


@dataclass(frozen=True)
class ExecutionFinished:
    """The evaluation produced its results: every stage the cascade asked for ran."""


@dataclass(frozen=True)
class ExecutionFailed:
    category: str
    message: str


@dataclass(frozen=True)
class Analyzed:
    """Scoring is done: adopt (as `version`) or reject; `suspicious` asks a person first."""

    adopt: bool
    version: int | None = None
    suspicious: str | None = None


@dataclass(frozen=True)
class HumanDecision:
    decision: Decision
    note: str | None = None
    version: int | None = None  # the version number to use when a person adopts


Event = (
    Start | Designed | DesignFailed | Deferred | ValidationPassed | ValidationFailed | ExecutionStageDone
    | ExecutionFinished | ExecutionFailed | Analyzed | HumanDecision
)

# ---- actions: what a driver must do next -----------------------------------------------


@dataclass(frozen=True)
class RequestDesign:
    """Ask the planner for a candidate; with `repair`, a fix of the failed one."""

    repair: Failure | None = None
    note: str | None = None


@dataclass(frozen=True)
class RunValidation:
    pass


@dataclass(frozen=True)
class RunExecution:
    pass


@dataclass(frozen=True)
class RunAnalysis:
    pass


@dataclass(frozen=True)
class CommitVersion:
    version: int


@dataclass(frozen=True)
class RecordLesson:
    """Let the planner learn from a finished experiment, adopted or not."""


@dataclass(frozen=True)
class NotifyHuman:
    reason: str


Action = RequestDesign | RunValidation | RunExecution | RunAnalysis | CommitVersion | RecordLesson | NotifyHuman


@dataclass(frozen=True)
class Transition:
    state: ExperimentStatus
    actions: tuple[Action, ...] = ()


# ---- the machine ----------------------------------------------------------------------------

_EXPECTS: dict[Phase, tuple[type, ...]] = {
    Phase.PENDING: (Start,),
    Phase.DESIGNING: (Designed, DesignFailed, Deferred),
    Phase.VALIDATING: (ValidationPassed, ValidationFailed, Deferred),
    Phase.EXECUTING: (ExecutionStageDone, ExecutionFinished, ExecutionFailed, Deferred),
    Phase.ANALYZING: (Analyzed,),
    Phase.NEEDS_HUMAN: (HumanDecision,),
    Phase.SUCCEEDED: (),
    Phase.FAILED: (),
}


def accepts(phase: Phase, event: Event) -> bool:
    return isinstance(event, _EXPECTS[phase])


_MOVES: dict[type, tuple[Phase, type]] = {
    Start: (Phase.DESIGNING, RequestDesign),
    Designed: (Phase.VALIDATING, RunValidation),
    ValidationPassed: (Phase.EXECUTING, RunExecution),
}
_FAILED_STAGE: dict[type, Stage] = {
    DesignFailed: Stage.DESIGN, ValidationFailed: Stage.VALIDATION, ExecutionFailed: Stage.EXECUTION,
}


def step(state: ExperimentStatus, event: Event, limits: Limits | None = None) -> Transition:
    """Advance `state` by one observed `event`; raise `IllegalTransition` if it does not fit.

    Only the machine's own fields change (phase, attempts, last error, verdict, version,
    the reason a person is needed and their note, whether results exist); the driving plan
    (`aivc.research.driving`) adds everything else a transition writes.
    """
    limits = limits or Limits()
    if not accepts(state.phase, event):
        raise IllegalTransition(f"{type(event).__name__} is not accepted in phase {state.phase}")
    match event:
        case Start() | Designed() | ValidationPassed():
            phase, action = _MOVES[type(event)]
            return Transition(replace(state, phase=phase), (action(),))
        case DesignFailed(category, message) | ValidationFailed(category, message) \
                | ExecutionFailed(category, message):
            stage = _FAILED_STAGE[type(event)]
            return _failed(state, stage, category, message, limits.of(stage.value))
        case Deferred():
            again = resume_action(state)
            return Transition(state, (again,) if again is not None else ())
        case ExecutionStageDone():
            return Transition(state, (RunExecution(),))
        case ExecutionFinished():
            return Transition(replace(state, phase=Phase.ANALYZING, has_results=True), (RunAnalysis(),))
        case Analyzed():
            return _analyzed(state, event)
        case HumanDecision():
            return _decided(state, event)
    raise IllegalTransition(f"unknown event {event!r}")  # pragma: no cover


def _failed(state: ExperimentStatus, stage: Stage, category: str, message: str,
            limit: int) -> Transition:
    """A stage failed: ask the planner to repair it, or a person once repairs are used up."""
    failure = Failure(stage.value, category, message)
    attempts = state.attempts.bump(stage.value)
    if attempts.of(stage.value) <= limit:
        nxt = replace(state, phase=Phase.DESIGNING, attempts=attempts, last_error=failure)
        return Transition(nxt, (RequestDesign(repair=failure, note=state.human_note),))
    reason = f"{stage.value} failed {attempts.of(stage.value)} times ({category}); last: {message[:300]}"
    nxt = replace(state, phase=Phase.NEEDS_HUMAN, attempts=attempts, last_error=failure,
                  human_reason=reason)
    return Transition(nxt, (NotifyHuman(reason),))


def _analyzed(state: ExperimentStatus, event: Analyzed) -> Transition:
    if event.suspicious:
        reason = f"results look suspicious: {event.suspicious}"
        nxt = replace(state, phase=Phase.NEEDS_HUMAN, human_reason=reason)
        return Transition(nxt, (NotifyHuman(reason),))
    if event.adopt:
        if event.version is None:
            raise IllegalTransition("an adopted experiment needs a version number")
        nxt = replace(state, phase=Phase.SUCCEEDED, verdict=Verdict.ADOPTED, version=event.version)
        return Transition(nxt, (CommitVersion(event.version), RecordLesson()))
    nxt = replace(state, phase=Phase.SUCCEEDED, verdict=Verdict.REJECTED)
    return Transition(nxt, (RecordLesson(),))


def _decided(state: ExperimentStatus, event: HumanDecision) -> Transition:
    cleared = replace(state, human_reason=None, human_note=event.note)
    match event.decision:
        case Decision.RETRY:
            nxt = replace(cleared, phase=Phase.DESIGNING, attempts=Attempts())
            return Transition(nxt, (RequestDesign(repair=state.last_error, note=event.note),))
        case Decision.SKIP:
            return Transition(replace(cleared, phase=Phase.FAILED, verdict=Verdict.SKIPPED))
        case Decision.REJECT:
            nxt = replace(cleared, phase=Phase.FAILED, verdict=Verdict.REJECTED)
            return Transition(nxt, (RecordLesson(),))
        case Decision.ADOPT:
            if not state.has_results:
                raise IllegalTransition("adopt needs measured results; this experiment has none")
            if event.version is None:
                raise IllegalTransition("an adopted experiment needs a version number")
            nxt = replace(cleared, phase=Phase.SUCCEEDED, verdict=Verdict.ADOPTED, version=event.version)
            return Transition(nxt, (CommitVersion(event.version), RecordLesson()))
    raise IllegalTransition(f"unknown decision {event.decision!r}")  # pragma: no cover


def resume_action(state: ExperimentStatus) -> Action | None:
    """The work a driver owes an experiment in `state`, derived from its persisted phase.

    Drivers persist each transition before acting, so after a restart (or on every
    reconcile) the next step is read from the phase alone: a killed validation or execution
    simply runs again, and a repair request is rebuilt from the stored last error and note.
    Pending needs a `Start` event and the final phases and NeedsHuman need nothing (None).
    """
    match state.phase:
        case Phase.DESIGNING:
            return RequestDesign(repair=state.last_error, note=state.human_note)
        case Phase.VALIDATING:
            return RunValidation()
        case Phase.EXECUTING:
            return RunExecution()
        case Phase.ANALYZING:
            return RunAnalysis()
    return None
