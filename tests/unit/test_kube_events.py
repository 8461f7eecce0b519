"""Event texts and conditions for phase changes (aivc.kube.events)."""

from __future__ import annotations

from dataclasses import replace

from aivc.kube.events import condition, phase_message, set_conditions, transition_conditions
from aivc.research.phases import Attempts, ExperimentState, Failure, Phase, Verdict


def test_a_stuck_experiment_tells_people_exactly_what_to_run() -> None:
    old = ExperimentState(Phase.VALIDATING)
    new = replace(old, phase=Phase.NEEDS_HUMAN, human_reason="validation failed 3 times (import)")
    text = phase_message(old, new, None, "demo-0004")
    assert text.startswith("Validating -> NeedsHuman: validation failed 3 times")
    assert "kubectl annotate experiment demo-0004 aivc.dev/decision=retry|skip|adopt|reject" in text


def test_a_repair_says_which_stage_failed_and_why() -> None:
    err = Failure("validation", "import", "No module named 'cv3'")
    old = ExperimentState(Phase.VALIDATING)
    new = replace(old, phase=Phase.DESIGNING, last_error=err, attempts=Attempts(validation=1))
    assert "validation failed (import): No module named 'cv3'; asking for a repair" in \
        phase_message(old, new, None)
    assert transition_conditions(old, new, None)[0] | {"lastTransitionTime": None} == {
        "type": "Validated", "status": "False", "reason": "Import",
        "message": "No module named 'cv3'", "lastTransitionTime": None}


def test_adoption_names_the_version_and_the_reason() -> None:
    old = ExperimentState(Phase.ANALYZING, has_results=True)
    new = replace(old, phase=Phase.SUCCEEDED, verdict=Verdict.ADOPTED, version=3)
    assert phase_message(old, new, "BD-rate -4.2% beats the best") == \
        "Analyzing -> Succeeded: Adopted as v3: BD-rate -4.2% beats the best"
    assert [(c["type"], c["reason"]) for c in transition_conditions(old, new, "x")] == [("Analyzed", "Adopted")]


def test_conditions_keep_one_per_type_and_their_transition_time_while_unchanged() -> None:
    first = condition("Validated", False, "Import", "m")
    first["lastTransitionTime"] = "2020-01-01T00:00:00Z"
    same = set_conditions([first], condition("Validated", False, "Import", "again"))
    assert len(same) == 1 and same[0]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    flipped = set_conditions(same, condition("Validated", True, "ValidationPassed", "ok"))
    assert flipped[0]["status"] == "True" and flipped[0]["lastTransitionTime"] != "2020-01-01T00:00:00Z"
