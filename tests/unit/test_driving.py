"""The experiment rules of the driver core: owed work, what a transition writes, does and
tells, and people's decisions, as tables. Both drivers carry out exactly these plans."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from aivc.api.documents import AnalysisNote, CodecRef, ExperimentDoc, Hold, Metrics, RunSummary
from aivc.api.measurements import Quality
from aivc.api.spec import Limits
from aivc.api.types import DECISION_ANNOTATION, NOTE_ANNOTATION, Outcome, Phase
from aivc.research.driving import (
    Finished,
    Measured,
    PhaseChanged,
    Said,
    SandboxFailed,
    Work,
    decide,
    needs_driving,
    owed,
    transition,
)
from aivc.research.phases import (
    Analyzed,
    CommitVersion,
    Deferred,
    Designed,
    DesignFailed,
    ExecutionFailed,
    ExecutionFinished,
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
)

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
STAMP = "2026-03-01T12:00:00Z"
EARLIER = "2026-03-01T11:59:00Z"
LIMITS = Limits(design=1, validation=1, execution=1)
ERROR = {"stage": "validation", "category": "crash", "message": "boom"}


def doc(phase: str = "Pending", meta: dict[str, Any] | None = None, **status: Any) -> ExperimentDoc:
    body = {"phase": phase, "phaseSince": EARLIER, **status}
    return ExperimentDoc.parse({"metadata": {"name": "c-0001", "uid": "u1", **(meta or {})},
                                "spec": {"campaign": "c", "sequence": 1}, "status": body})


# ---- owed work --------------------------------------------------------------------------------

OWED = [
    ("pending begins", doc("Pending"), Start()),
    ("designing asks for a design", doc("Designing"), RequestDesign()),
    ("a repair carries the error and the note", doc("Designing", lastError=ERROR, humanNote="n"),
     RequestDesign(repair=doc(lastError=ERROR).status.last_error, note="n")),
    ("validating", doc("Validating"), RunValidation()),
    ("executing", doc("Executing"), RunExecution()),
    ("analyzing", doc("Analyzing"), RunAnalysis()),
    ("an adoption not yet committed", doc("Succeeded", verdict="Adopted", version=2), CommitVersion(2)),
    ("a committed adoption owes its lesson", doc("Succeeded", verdict="Adopted", version=2,
                                                 commit={"sha": "abc", "tag": "v2", "branch": "b",
                                                         "repo": "r"}), RecordLesson()),
    ("a committed adoption learned from", doc("Succeeded", verdict="Adopted", version=2, learned=True,
                                              commit={"sha": "abc", "tag": "v2", "branch": "b",
                                                      "repo": "r"}), None),
    ("a commit that failed in this run is not retried until the next",
     doc("Succeeded", verdict="Adopted", version=2, learned=True,
         conditions=[{"type": "Committed", "status": "False", "reason": "CommitFailed"}]), None),
    ("a rejection owes its lesson", doc("Succeeded", verdict="Rejected"), RecordLesson()),
    ("a rejection learned from", doc("Succeeded", verdict="Rejected", learned=True), None),
    ("a skipped one teaches nothing", doc("Failed", verdict="Skipped"), None),
    ("waiting for a person", doc("NeedsHuman"), None),
]


@pytest.mark.parametrize(("d", "action"), [r[1:] for r in OWED], ids=[r[0] for r in OWED])
def test_the_work_owed_is_read_from_the_persisted_status(d, action):
    found = owed(d)
    assert (found.action if found else None) == action


def test_an_experiment_waiting_for_a_person_is_still_watched():
    assert needs_driving(doc("NeedsHuman"))
    assert not needs_driving(doc("Succeeded", verdict="Rejected", learned=True))


# ---- transitions --------------------------------------------------------------------------------


def test_start_records_the_start_and_asks_for_a_design():
    plan = transition(doc("Pending"), Work(Start()), LIMITS, NOW)
    assert plan.status_patch["phase"] == "Designing"
    assert plan.status_patch["startTime"] == STAMP == plan.status_patch["phaseSince"]
    assert plan.status_patch["attempts"] == {"design": 0, "validation": 0, "execution": 0}
    assert PhaseChanged("c", Phase.PENDING, Phase.DESIGNING, 60.0) in plan.observations


def test_a_design_bumps_the_generation_and_writes_the_spec_and_a_condition():
    work = Work(Designed(), {"params": {"BLOCK": 8}, "cost_usd": 0.5},
                {"hypothesis": "smaller blocks", "parent_version": "v0", "codec": CodecRef("abc")})
    plan = transition(doc("Designing", generation=1), work, LIMITS, NOW)
    assert plan.spec_patch == {"parentVersion": "v0", "hypothesis": "smaller blocks",
                               "codec": {"sha256": "abc"}}
    assert plan.status_patch["generation"] == 2 and plan.status_patch["costUSD"] == 0.5
    designed = plan.after.status.conditions[0]
    assert (designed.type, designed.status.value, designed.reason) == ("Designed", "True", "CandidateReady")
    assert designed.message == "smaller blocks" and designed.last_transition_time == STAMP


def test_a_failure_with_retries_left_asks_for_a_repair_and_says_so():
    work = Work(ValidationFailed("crash", "boom"), {"validation": RunSummary(False, 1.0)})
    plan = transition(doc("Validating"), work, LIMITS, NOW)
    status = plan.after.status
    assert status.phase is Phase.DESIGNING and status.attempts.validation == 1
    assert plan.status_patch["validation"] == {"ok": False, "wallSeconds": 1.0}
    cond = next(c for c in status.conditions if c.type == "Validated")
    assert (cond.status.value, cond.reason, cond.message) == ("False", "Crash", "boom")
    assert SandboxFailed("c", "validation", "crash") in plan.observations
    said = [o for o in plan.observations if isinstance(o, Said)]
    assert said[0].warning and "asking for a repair" in said[0].message
    assert plan.actions == (RequestDesign(repair=status.last_error),)


def test_a_design_failure_stays_in_its_phase_without_a_phase_change():
    plan = transition(doc("Designing"), Work(DesignFailed("planner", "no idea")), Limits(design=3), NOW)
    assert plan.after.status.phase is Phase.DESIGNING and plan.after.status.phase_since == EARLIER
    assert "phaseSince" not in plan.status_patch
    assert not any(isinstance(o, PhaseChanged) for o in plan.observations)


def test_repairs_used_up_ask_a_person_with_the_reason():
    plan = transition(doc("Executing", attempts={"execution": 1}),
                      Work(ExecutionFailed("timeout", "too slow")), LIMITS, NOW)
    status = plan.after.status
    assert status.phase is Phase.NEEDS_HUMAN and "execution failed 2 times (timeout)" in status.human_reason
    assert isinstance(plan.actions[0], NotifyHuman)
    waiting = next(c for c in status.conditions if c.type == "NeedsHuman")
    assert (waiting.status.value, waiting.reason) == ("True", "WaitingForDecision")
    assert [o.warning for o in plan.observations if isinstance(o, Said)] == [True]


def test_measured_results_go_to_analysis():
    plan = transition(doc("Executing"), Work(ExecutionFinished(), {"results_source": "log"}), LIMITS, NOW)
    assert plan.status_patch["hasResults"] is True and plan.status_patch["resultsSource"] == "log"
    assert plan.actions == (RunAnalysis(),)


METRICS = Metrics(bd_rate=12.0, bd_rates={"x264": 12.0}, kbps=300.0, quality=Quality(psnr_yuv=36.0))


def test_an_adoption_is_versioned_completed_then_committed_before_anything_is_learned():
    work = Work(Analyzed(adopt=True, version=3), {"metrics": METRICS,
                                                  "analysis": AnalysisNote("beats the best")})
    plan = transition(doc("Analyzing"), work, LIMITS, NOW)
    assert (plan.status_patch["verdict"], plan.status_patch["version"]) == ("Adopted", 3)
    assert plan.status_patch["versionName"] == "v3" and plan.status_patch["completionTime"] == STAMP
    assert plan.status_patch["metrics"]["bdRate"] == 12.0
    assert plan.actions == (CommitVersion(3), RecordLesson())
    assert Measured("c", 1, METRICS) in plan.observations
    assert Finished("c", Outcome.ADOPTED) in plan.observations
    analyzed = next(c for c in plan.after.status.conditions if c.type == "Analyzed")
    assert (analyzed.reason, analyzed.message) == ("Adopted", "beats the best")


def test_a_rejection_only_teaches():
    plan = transition(doc("Analyzing"), Work(Analyzed(adopt=False), {"metrics": METRICS}), LIMITS, NOW)
    assert plan.after.status.verdict.value == "Rejected" and plan.actions == (RecordLesson(),)
    assert Finished("c", Outcome.REJECTED) in plan.observations


def test_suspicious_numbers_ask_a_person_first():
    plan = transition(doc("Analyzing"), Work(Analyzed(adopt=True, version=1, suspicious="too good")),
                      LIMITS, NOW)
    assert plan.after.status.phase is Phase.NEEDS_HUMAN
    assert next(c for c in plan.after.status.conditions if c.type == "Analyzed").reason == "Suspicious"


def test_a_condition_restated_with_the_same_status_keeps_its_transition_time():
    first = transition(doc("Validating"), Work(ValidationFailed("crash", "a")), Limits(validation=5), NOW)
    later = NOW + dt.timedelta(minutes=5)
    again = transition(ExperimentDoc.parse({"metadata": {"name": "c-0001"}, "spec": {"campaign": "c",
                                            "sequence": 1}, "status": {**first.after.stored,
                                                                       "phase": "Validating"}}),
                       Work(ValidationFailed("crash", "b")), Limits(validation=5), later)
    cond = next(c for c in again.after.status.conditions if c.type == "Validated")
    assert cond.message == "b" and cond.last_transition_time == STAMP


def test_an_event_the_phase_cannot_take_is_refused():
    with pytest.raises(IllegalTransition):
        transition(doc("Executing"), Work(ValidationPassed()), LIMITS, NOW)


# ---- people's decisions ---------------------------------------------------------------------


def decided(phase: str, word: str, note: str | None = None, **status: Any) -> ExperimentDoc:
    fields = [{"manager": "kubectl-annotate", "time": "2026-03-01T11:00:00Z",
               "fieldsV1": {"f:metadata": {"f:annotations": {f"f:{DECISION_ANNOTATION}": {}}}}}]
    meta = {"annotations": {DECISION_ANNOTATION: word, NOTE_ANNOTATION: note}, "managedFields": fields}
    return doc(phase, meta, **status)


def apply(d: ExperimentDoc, version: int = 4) -> Any:
    return decide(d, version, LIMITS, NOW, by=d.meta.decision_by, at=d.meta.decision_at)


def test_no_annotation_no_decision():
    assert decide(doc("NeedsHuman"), 0, LIMITS, NOW) is None


def test_a_retry_redesigns_with_the_note_and_fresh_attempts_and_records_who_decided():
    found = apply(decided("NeedsHuman", "Retry", "smaller blocks", lastError=ERROR,
                          attempts={"validation": 2}, humanReason="stuck"))
    status = found.applied.after.status
    assert status.phase is Phase.DESIGNING and status.attempts.validation == 0
    assert status.human_note == "smaller blocks" and status.human_reason is None
    assert found.applied.actions == (RequestDesign(repair=status.last_error, note="smaller blocks"),)
    record = status.decision
    assert (record.decision.value, record.by, record.at, record.applied_at) == \
        ("retry", "kubectl-annotate", "2026-03-01T11:00:00Z", STAMP)
    assert found.clear["metadata"]["annotations"] == {DECISION_ANNOTATION: None, NOTE_ANNOTATION: None}
    assert found.observations[0].reason == "DecisionApplied"
    assert next(c for c in status.conditions if c.type == "NeedsHuman").status.value == "False"


def test_adopting_takes_the_next_version_and_commits():
    found = apply(decided("NeedsHuman", "adopt", hasResults=True), version=7)
    assert found.applied.after.status.version == 7 and found.applied.actions[0] == CommitVersion(7)


REFUSED = [
    ("a word that is no decision", decided("NeedsHuman", "maybe"), "InvalidDecision"),
    ("an experiment not waiting", decided("Executing", "retry"), "DecisionIgnored"),
    ("adopting without results", decided("NeedsHuman", "adopt"), "DecisionRefused"),
]


@pytest.mark.parametrize(("d", "reason"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_a_decision_that_cannot_apply_is_cleared_with_a_warning(d, reason):
    found = apply(d)
    assert found.applied is None and found.clear["metadata"]["annotations"][DECISION_ANNOTATION] is None
    assert [(o.reason, o.warning) for o in found.observations] == [(reason, True)]


# ---- designs held by the platform ------------------------------------------------------------


def test_a_refused_key_holds_the_design_without_using_a_retry_or_telling_the_model():
    later = "2026-03-01T12:01:00Z"
    plan = transition(doc("Designing", lastError=ERROR),
                      Work(Deferred("auth", "401 invalid x-api-key"),
                           {"hold": Hold("auth", "401 invalid x-api-key", later)}), LIMITS, NOW)
    status = plan.after.status
    assert status.phase is Phase.DESIGNING and status.attempts.design == 0
    assert status.last_error == doc(lastError=ERROR).status.last_error  # no new error for the model
    assert plan.status_patch["hold"] == {"category": "auth", "message": "401 invalid x-api-key",
                                         "until": later, "count": 1}
    assert [o.reason for o in plan.observations if isinstance(o, Said)] == ["PlannerKeyRefused"]
    assert owed(plan.after, NOW) is None and needs_driving(plan.after)
    assert owed(plan.after, NOW + dt.timedelta(minutes=2)) == owed(doc("Designing", lastError=ERROR))


def test_an_answer_from_the_planner_clears_the_hold():
    held_doc = doc("Designing", hold={"category": "unavailable", "message": "529",
                                            "until": STAMP})
    plan = transition(held_doc, Work(Designed(), {}, {"hypothesis": "h"}), LIMITS, NOW)
    assert plan.after.status.hold is None and plan.status_patch["hold"] is None
