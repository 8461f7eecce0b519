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

from dataclasses import dataclass, field, replace
from enum import StrEnum


class Phase(StrEnum):
    PENDING = "Pending"
    DESIGNING = "Designing"
    VALIDATING = "Validating"
    EXECUTING = "Executing"
    ANALYZING = "Analyzing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    NEEDS_HUMAN = "NeedsHuman"


TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED})


class Verdict(StrEnum):
    ADOPTED = "Adopted"
    REJECTED = "Rejected"
    SKIPPED = "Skipped"


class Decision(StrEnum):
    """What a person may say about an experiment in NeedsHuman."""

    RETRY = "retry"
    SKIP = "skip"
    ADOPT = "adopt"
    REJECT = "reject"


class IllegalTransition(Exception):
    """An event arrived that the current phase cannot accept."""


@dataclass(frozen=True)
class Limits:
    """How many repairs each stage gets before a person is asked (Campaign `spec.retries`)."""

    design: int = 2
    validation: int = 2
    execution: int = 1


@dataclass(frozen=True)
class Failure:
    """The last thing that went wrong, short enough to hand to the planner."""

    stage: str  # design | validation | execution | analysis
    category: str
    message: str


@dataclass(frozen=True)
class Attempts:
    design: int = 0
    validation: int = 0
    execution: int = 0

    def bump(self, stage: str) -> Attempts:
        return replace(self, **{stage: getattr(self, stage) + 1})


@dataclass(frozen=True)
class ExperimentState:
    phase: Phase = Phase.PENDING
    attempts: Attempts = field(default_factory=Attempts)
    last_error: Failure | None = None
    verdict: Verdict | None = None
    human_reason: str | None = None
    human_note: str | None = None
    has_results: bool = False
    version: int | None = None

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES


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
class ValidationPassed:
    pass


@dataclass(frozen=True)
class ValidationFailed:
    category: str
    message: str


@dataclass(frozen=True)
class ExecutionFinished:
    """The evaluation ran on every clip × level and produced results."""


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
    Start | Designed | DesignFailed | ValidationPassed | ValidationFailed | ExecutionFinished
    | ExecutionFailed | Analyzed | HumanDecision
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
    state: ExperimentState
    actions: tuple[Action, ...] = ()


# ---- the machine ----------------------------------------------------------------------------

_EXPECTS: dict[Phase, tuple[type, ...]] = {
    Phase.PENDING: (Start,),
    Phase.DESIGNING: (Designed, DesignFailed),
    Phase.VALIDATING: (ValidationPassed, ValidationFailed),
    Phase.EXECUTING: (ExecutionFinished, ExecutionFailed),
    Phase.ANALYZING: (Analyzed,),
    Phase.NEEDS_HUMAN: (HumanDecision,),
    Phase.SUCCEEDED: (),
    Phase.FAILED: (),
}


def accepts(phase: Phase, event: Event) -> bool:
    return isinstance(event, _EXPECTS[phase])


def step(state: ExperimentState, event: Event, limits: Limits | None = None) -> Transition:
    """Advance `state` by one observed `event`; raise `IllegalTransition` if it does not fit."""
    limits = limits or Limits()
    if not accepts(state.phase, event):
        raise IllegalTransition(f"{type(event).__name__} is not accepted in phase {state.phase}")
    match event:
        case Start():
            return Transition(replace(state, phase=Phase.DESIGNING), (RequestDesign(),))
        case Designed():
            return Transition(replace(state, phase=Phase.VALIDATING), (RunValidation(),))
        case DesignFailed(category, message):
            return _failed(state, "design", category, message, limits.design)
        case ValidationPassed():
            return Transition(replace(state, phase=Phase.EXECUTING), (RunExecution(),))
        case ValidationFailed(category, message):
            return _failed(state, "validation", category, message, limits.validation)
        case ExecutionFinished():
            return Transition(replace(state, phase=Phase.ANALYZING, has_results=True), (RunAnalysis(),))
        case ExecutionFailed(category, message):
            return _failed(state, "execution", category, message, limits.execution)
        case Analyzed():
            return _analyzed(state, event)
        case HumanDecision():
            return _decided(state, event)
    raise IllegalTransition(f"unknown event {event!r}")  # pragma: no cover


def _failed(state: ExperimentState, stage: str, category: str, message: str, limit: int) -> Transition:
    """A stage failed: ask the planner to repair it, or a person once repairs are used up."""
    failure = Failure(stage, category, message)
    attempts = state.attempts.bump(stage)
    if getattr(attempts, stage) <= limit:
        nxt = replace(state, phase=Phase.DESIGNING, attempts=attempts, last_error=failure)
        return Transition(nxt, (RequestDesign(repair=failure, note=state.human_note),))
    reason = f"{stage} failed {getattr(attempts, stage)} times ({category}); last: {message[:300]}"
    nxt = replace(state, phase=Phase.NEEDS_HUMAN, attempts=attempts, last_error=failure,
                  human_reason=reason)
    return Transition(nxt, (NotifyHuman(reason),))


def _analyzed(state: ExperimentState, event: Analyzed) -> Transition:
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


def _decided(state: ExperimentState, event: HumanDecision) -> Transition:
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


def resume_action(state: ExperimentState) -> Action | None:
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
