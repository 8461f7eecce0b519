"""A person moves a stuck Experiment on with `kubectl annotate` (namespaced operator, peering).

The planner's first candidate has no decoder and the campaign allows no repair, so the
experiment stops in NeedsHuman. A wrong decision value gets a Warning Event listing the
valid ones; `aivc.dev/decision=retry` with a note sends the note to the planner, whose next
candidate is adopted. The operator records who decided and when, and removes the annotation.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.cluster import NAMESPACE, Cluster, campaign_manifest, fast_config
from tests.fakes.scripted_planner import ScriptedPlanner, proposal

pytestmark = pytest.mark.slow
NAME = "human-0001"
NOTE = "predict each pixel from its left neighbour"


async def _event(cluster: Cluster, reason: str) -> dict[str, Any] | None:
    return next((e for e in await cluster.events(NAME) if e["reason"] == reason), None)


async def _annotations(cluster: Cluster) -> dict[str, str]:
    return dict((await cluster.experiment(NAME))["metadata"].get("annotations") or {})


async def _scenario(data_dir: Path) -> dict[str, Any]:
    planner = ScriptedPlanner({1: [proposal("no_decoder"), proposal("dpcm_quantize")]})
    manifest = campaign_manifest("human", budget={"maxExperiments": 2}, finishUp={"report": False},
                                 retries={"design": 0, "validation": 0, "execution": 0})
    out: dict[str, Any] = {"planner": planner}
    async with Cluster() as cluster:
        cluster.add_peering()
        config = fast_config(data_dir, namespaces=(NAMESPACE,), peering="aivc")
        memo = cluster.memo(data_dir, planner_factory=planner.factory(), config=config)
        async with cluster.operator(memo):
            await cluster.apply_campaign(manifest)
            out["stuck"] = await cluster.wait_phase(NAME, ("NeedsHuman",), 180)
            await cluster.annotate(NAME, {"aivc.dev/decision": "maybe"})
            out["invalid"] = await cluster.wait_for(lambda: _event(cluster, "InvalidDecision"), 30)
            await cluster.wait_for(lambda: _no_decision(cluster), 30, "the annotation to go")
            out["still"] = await cluster.experiment(NAME)
            await cluster.annotate(NAME, {"aivc.dev/decision": "retry", "aivc.dev/note": NOTE})
            out["done"] = await cluster.wait_phase(NAME, ("Succeeded", "Failed"), 180)
            out["applied"] = await cluster.wait_for(lambda: _event(cluster, "DecisionApplied"), 30)
            out["annotations"] = await _annotations(cluster)
        out["uncovered"] = cluster.audit("decisions", memo)
    return out


async def _no_decision(cluster: Cluster) -> bool:
    return "aivc.dev/decision" not in await _annotations(cluster)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return asyncio.run(_scenario(tmp_path_factory.mktemp("operator")))


def test_an_experiment_out_of_repairs_waits_for_a_person(run: dict[str, Any]) -> None:
    status = run["stuck"]["status"]
    assert "validation failed" in status["humanReason"]
    assert {c["type"]: c["status"] for c in status["conditions"]}["NeedsHuman"] == "True"


def test_an_invalid_decision_gets_a_warning_listing_the_choices(run: dict[str, Any]) -> None:
    event = run["invalid"]
    assert event["type"] == "Warning"
    assert all(word in event["message"] for word in ("retry", "skip", "adopt", "reject"))
    assert run["still"]["status"]["phase"] == "NeedsHuman"


def test_retry_with_a_note_reaches_the_planner_and_the_experiment_finishes(run: dict[str, Any]) -> None:
    status = run["done"]["status"]
    assert (status["phase"], status["verdict"], status["versionName"]) == ("Succeeded", "Adopted", "v1")
    last = [r for r in run["planner"].requests if r.sequence == 1][-1]
    assert last.note == NOTE and last.repair is not None and last.repair.category == "contract"


def test_the_decision_is_recorded_with_who_and_when_and_the_annotation_removed(run: dict[str, Any]) -> None:
    decision = run["done"]["status"]["decision"]
    assert (decision["decision"], decision["note"], decision["by"]) == ("retry", NOTE, "kubectl-annotate")
    assert decision["at"] and decision["appliedAt"]
    assert "kubectl-annotate decided retry" in run["applied"]["message"]
    assert not {"aivc.dev/decision", "aivc.dev/note"} & set(run["annotations"])


def test_every_api_call_is_covered_by_the_required_permissions(run: dict[str, Any]) -> None:
    assert run["uncovered"] == []
