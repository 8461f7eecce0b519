"""Reading a person's decision from an Experiment's annotations (aivc.kube.annotations)."""

from __future__ import annotations

from aivc.kube.annotations import DecisionRequest, InvalidDecision, clearing_patch, read_decision
from aivc.research.phases import Decision

WRITER = {"manager": "kubectl-annotate", "operation": "Update", "time": "2026-01-02T03:04:05Z",
          "fieldsV1": {"f:metadata": {"f:annotations": {"f:aivc.dev/decision": {}}}}}


def test_no_annotation_means_no_decision() -> None:
    assert read_decision({"annotations": {"other": "x"}}) is None


def test_a_decision_records_the_note_and_who_wrote_it_when() -> None:
    found = read_decision({"annotations": {"aivc.dev/decision": "Retry", "aivc.dev/note": "smaller blocks"},
                           "managedFields": [{"manager": "kopf", "fieldsV1": {}}, WRITER]})
    assert found == DecisionRequest(Decision.RETRY, "smaller blocks", "kubectl-annotate", "2026-01-02T03:04:05Z")
    assert found.record("later")["at"] == "2026-01-02T03:04:05Z"


def test_without_managed_fields_the_decision_is_dated_when_applied() -> None:
    found = read_decision({"annotations": {"aivc.dev/decision": "skip"}})
    assert isinstance(found, DecisionRequest)
    assert found.record("2026-05-05T00:00:00Z") | {"appliedAt": None} == {
        "decision": "skip", "note": None, "by": "unknown", "at": "2026-05-05T00:00:00Z", "appliedAt": None}


def test_an_invalid_value_lists_the_valid_choices() -> None:
    found = read_decision({"annotations": {"aivc.dev/decision": "yes please"}})
    assert isinstance(found, InvalidDecision)
    assert all(word in found.message for word in ("retry", "skip", "adopt", "reject"))


def test_handling_a_decision_removes_both_annotations() -> None:
    assert clearing_patch() == {"metadata": {"annotations": {"aivc.dev/decision": None,
                                                             "aivc.dev/note": None}}}
