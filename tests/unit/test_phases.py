"""Every transition of the experiment phase machine, legal and illegal, as tables."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aivc.api.documents import (
    Attempts,
    ExperimentStatus,
    Failure,
    experiment_status_json,
    parse_experiment_status,
)
from aivc.api.spec import Limits
from aivc.api.types import Decision, Phase, Verdict
from aivc.research.phases import (
    Analyzed,
    CommitVersion,
    Designed,
    DesignFailed,
    ExecutionFailed,
    ExecutionFinished,
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
    ValidationPassed,
    accepts,
    resume_action,
    step,
)

LIMITS = Limits(design=1, validation=2, execution=1)
ERR = Failure("validation", "crash", "boom")


def at(phase: Phase, **kw: object) -> ExperimentStatus:
    return replace(ExperimentStatus(phase=phase), **kw)  # type: ignore[arg-type]


# (name, state, event, next phase, action types, extra checks on the new state)
LEGAL = [
    ("start asks for a design", at(Phase.PENDING), Start(), Phase.DESIGNING, [RequestDesign], {}),
    ("a design goes to validation", at(Phase.DESIGNING), Designed(), Phase.VALIDATING,
     [RunValidation], {}),
    ("a planner failure asks for a repair", at(Phase.DESIGNING), DesignFailed("planner", "x"),
     Phase.DESIGNING, [RequestDesign], {"attempts": Attempts(design=1)}),
    ("planner failures past the limit need a person",
     at(Phase.DESIGNING, attempts=Attempts(design=1)), DesignFailed("planner", "x"),
     Phase.NEEDS_HUMAN, [NotifyHuman], {"attempts": Attempts(design=2)}),
    ("validation passing goes to execution", at(Phase.VALIDATING), ValidationPassed(),
     Phase.EXECUTING, [RunExecution], {}),
    ("a validation failure asks for a repair", at(Phase.VALIDATING), ValidationFailed("crash", "boom"),
     Phase.DESIGNING, [RequestDesign], {"last_error": ERR, "attempts": Attempts(validation=1)}),
    ("the second validation failure still asks for a repair",
     at(Phase.VALIDATING, attempts=Attempts(validation=1)), ValidationFailed("crash", "boom"),
     Phase.DESIGNING, [RequestDesign], {"attempts": Attempts(validation=2)}),
    ("validation failures past the limit need a person",
     at(Phase.VALIDATING, attempts=Attempts(validation=2)), ValidationFailed("crash", "boom"),
     Phase.NEEDS_HUMAN, [NotifyHuman], {"last_error": ERR}),
    ("finished execution goes to analysis", at(Phase.EXECUTING), ExecutionFinished(),
     Phase.ANALYZING, [RunAnalysis], {"has_results": True}),
    ("an execution failure asks for a repair", at(Phase.EXECUTING), ExecutionFailed("timeout", "slow"),
     Phase.DESIGNING, [RequestDesign], {"attempts": Attempts(execution=1)}),
    ("execution failures past the limit need a person",
     at(Phase.EXECUTING, attempts=Attempts(execution=1)), ExecutionFailed("timeout", "slow"),
     Phase.NEEDS_HUMAN, [NotifyHuman], {}),
    ("an adopted candidate is committed and learned from", at(Phase.ANALYZING, has_results=True),
     Analyzed(adopt=True, version=3), Phase.SUCCEEDED, [CommitVersion, RecordLesson],
     {"verdict": Verdict.ADOPTED, "version": 3}),
    ("a rejected candidate is learned from", at(Phase.ANALYZING, has_results=True),
     Analyzed(adopt=False), Phase.SUCCEEDED, [RecordLesson], {"verdict": Verdict.REJECTED}),
    ("suspicious results need a person", at(Phase.ANALYZING, has_results=True),
     Analyzed(adopt=True, version=1, suspicious="too good"), Phase.NEEDS_HUMAN, [NotifyHuman],
     {"verdict": None}),
    ("a person's retry redesigns with fresh attempts",
     at(Phase.NEEDS_HUMAN, attempts=Attempts(validation=3), last_error=ERR, human_reason="r"),
     HumanDecision(Decision.RETRY, note="try smaller blocks"), Phase.DESIGNING, [RequestDesign],
     {"attempts": Attempts(), "human_note": "try smaller blocks", "human_reason": None}),
    ("a person's skip ends it", at(Phase.NEEDS_HUMAN), HumanDecision(Decision.SKIP), Phase.FAILED,
     [], {"verdict": Verdict.SKIPPED}),
    ("a person's reject ends it and is learned from", at(Phase.NEEDS_HUMAN),
     HumanDecision(Decision.REJECT), Phase.FAILED, [RecordLesson], {"verdict": Verdict.REJECTED}),
    ("a person's adopt of measured results commits it", at(Phase.NEEDS_HUMAN, has_results=True),
     HumanDecision(Decision.ADOPT, version=2), Phase.SUCCEEDED, [CommitVersion, RecordLesson],
     {"verdict": Verdict.ADOPTED, "version": 2}),
]


@pytest.mark.parametrize(("state", "event", "phase", "actions", "checks"),
                         [row[1:] for row in LEGAL], ids=[row[0] for row in LEGAL])
def test_legal_transition(state, event, phase, actions, checks):
    result = step(state, event, LIMITS)
    assert result.state.phase is phase
    assert [type(a) for a in result.actions] == actions
    for name, want in checks.items():
        assert getattr(result.state, name) == want


def test_a_repair_request_carries_the_failure_and_the_persons_note():
    state = at(Phase.EXECUTING, human_note="keep it fast")
    action = step(state, ExecutionFailed("timeout", "took 900 s"), LIMITS).actions[0]
    assert action == RequestDesign(repair=Failure("execution", "timeout", "took 900 s"),
                                   note="keep it fast")


def test_a_retry_asks_for_a_repair_of_the_last_error_with_the_note():
    state = at(Phase.NEEDS_HUMAN, last_error=ERR)
    action = step(state, HumanDecision(Decision.RETRY, note="n"), LIMITS).actions[0]
    assert action == RequestDesign(repair=ERR, note="n")


def test_committing_an_adoption_names_its_version():
    result = step(at(Phase.ANALYZING, has_results=True), Analyzed(adopt=True, version=7), LIMITS)
    assert result.actions[0] == CommitVersion(7)


def test_the_human_reason_names_the_stage_and_the_last_error():
    state = at(Phase.VALIDATING, attempts=Attempts(validation=2))
    result = step(state, ValidationFailed("import", "No module named foo"), LIMITS)
    assert "validation failed 3 times (import)" in (result.state.human_reason or "")
    assert "No module named foo" in (result.state.human_reason or "")


ALL_EVENTS = [Start(), Designed(), DesignFailed("planner", "x"), ValidationPassed(),
              ValidationFailed("crash", "x"), ExecutionFinished(), ExecutionFailed("crash", "x"),
              Analyzed(adopt=False), HumanDecision(Decision.SKIP)]
ILLEGAL = [(phase, event) for phase in Phase for event in ALL_EVENTS if not accepts(phase, event)]


@pytest.mark.parametrize(("phase", "event"), ILLEGAL,
                         ids=[f"{p.value}-{type(e).__name__}" for p, e in ILLEGAL])
def test_illegal_transition_is_refused(phase, event):
    with pytest.raises(IllegalTransition):
        step(at(phase), event, LIMITS)


def test_every_phase_refuses_most_events():
    assert len(ILLEGAL) == len(Phase) * len(ALL_EVENTS) - 9  # the nine legal pairs above


@pytest.mark.parametrize("event", [Analyzed(adopt=True), HumanDecision(Decision.ADOPT)],
                         ids=["analysis", "human"])
def test_adopting_without_a_version_number_is_refused(event):
    phase = Phase.ANALYZING if isinstance(event, Analyzed) else Phase.NEEDS_HUMAN
    with pytest.raises(IllegalTransition, match="version"):
        step(at(phase, has_results=True), event, LIMITS)


def test_a_person_cannot_adopt_an_experiment_without_results():
    with pytest.raises(IllegalTransition, match="needs measured results"):
        step(at(Phase.NEEDS_HUMAN), HumanDecision(Decision.ADOPT, version=1), LIMITS)


RESUME = [
    (at(Phase.PENDING), None),
    (at(Phase.DESIGNING), RequestDesign()),
    (at(Phase.DESIGNING, last_error=ERR, human_note="n"), RequestDesign(repair=ERR, note="n")),
    (at(Phase.VALIDATING), RunValidation()),
    (at(Phase.EXECUTING), RunExecution()),
    (at(Phase.ANALYZING), RunAnalysis()),
    (at(Phase.SUCCEEDED), None),
    (at(Phase.FAILED), None),
    (at(Phase.NEEDS_HUMAN), None),
]


@pytest.mark.parametrize(("state", "action"), RESUME, ids=[str(i) for i in range(len(RESUME))])
def test_a_resumed_experiment_owes_the_action_of_its_persisted_phase(state, action):
    assert resume_action(state) == action


def test_state_survives_a_round_trip_through_the_status_document():
    state = at(Phase.NEEDS_HUMAN, attempts=Attempts(1, 2, 3), last_error=ERR, verdict=None,
               human_reason="why", human_note="note", has_results=True, version=None)
    assert parse_experiment_status(experiment_status_json(state)) == state
