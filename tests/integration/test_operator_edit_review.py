"""An edit to a Completed campaign is reviewed whatever order kopf sees it in:

- an edit that reaches kopf together with the Completed status (one batch, or while the
  operator was down, with no spec stored by kopf) still resumes the campaign when it raises
  the budget: the operator compares the generation with `observedGeneration`, not the spec
  kopf stored;
- an edit that lifts nothing is recorded as seen (`observedGeneration`), the campaign stays
  Completed, and an Event says what still stops it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aivc.kube.client import CAMPAIGNS, MERGE_PATCH
from tests.fakes.cluster import NAMESPACE, Cluster, campaign_manifest
from tests.fakes.scripted_planner import ScriptedPlanner, proposal

pytestmark = pytest.mark.slow

KOPF_DIFFBASE = "kopf.zalando.org/last-handled-configuration"


async def _campaign(cluster: Cluster, name: str, *, phase: str, total: int | None = None,
                    reviewed: bool = False) -> dict[str, Any] | None:
    doc = await cluster.get(CAMPAIGNS, name)
    status = doc.get("status") or {}
    if status.get("phase") != phase:
        return None
    if total is not None and (status.get("experiments") or {}).get("total") != total:
        return None
    if reviewed and status.get("observedGeneration") != doc["metadata"].get("generation"):
        return None
    return doc


async def _edit(cluster: Cluster, name: str, spec: dict[str, Any], **metadata: Any) -> None:
    await cluster.kubectl.request("PATCH", CAMPAIGNS.url(NAMESPACE, name),
                                  body={"spec": spec, "metadata": metadata}, content_type=MERGE_PATCH)


async def _scenario(data_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    planner = ScriptedPlanner({1: [proposal("dpcm_quantize")]})
    async with Cluster() as cluster:
        async with cluster.operator(cluster.memo(data_dir, planner_factory=planner.factory())):
            await cluster.apply_campaign(campaign_manifest("edit", finishUp={"report": False}))
            out["completed"] = await cluster.wait_for(
                lambda: _campaign(cluster, "edit", phase="Completed"), 180, "the campaign to complete")

        # The state a batched "Completed + raised budget" leaves kopf in: no spec of its own
        # to diff against, so a change handler would take the edit as the object's creation.
        await _edit(cluster, "edit", {"budget": {"maxExperiments": 2}},
                    annotations={KOPF_DIFFBASE: None})
        async with cluster.operator(cluster.memo(data_dir, planner_factory=planner.factory())):
            out["second"] = await cluster.wait_phase("edit-0001", ("Succeeded", "Failed", "NeedsHuman"), 180)
            out["resumed"] = await cluster.wait_for(
                lambda: _campaign(cluster, "edit", phase="Completed", total=2), 60,
                "the resumed campaign to complete")

            await _edit(cluster, "edit", {"parallelism": 2})  # the budget still stops it
            out["reviewed"] = await cluster.wait_for(
                lambda: _campaign(cluster, "edit", phase="Completed", reviewed=True), 30,
                "the edit to be recorded as seen")
            await asyncio.sleep(1.0)  # nothing else may follow: no experiment, no restart
            out["after"] = await cluster.get(CAMPAIGNS, "edit")
            out["events"] = [(e.get("reason"), e.get("message")) for e in await cluster.events("edit")]
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return asyncio.run(_scenario(tmp_path_factory.mktemp("operator")))


def test_a_budget_raised_with_the_completed_status_still_resumes(run: dict[str, Any]) -> None:
    assert run["completed"]["status"]["observedGeneration"] == 1
    assert run["second"]["status"]["phase"] == "Succeeded"
    status = run["resumed"]["status"]
    assert status["nextSequence"] == 2
    assert status["observedGeneration"] == run["resumed"]["metadata"]["generation"] == 2
    assert ("Resumed", "the edited spec lets the campaign go on: Running again") in run["events"]


def test_an_edit_that_lifts_nothing_is_recorded_and_says_why(run: dict[str, Any]) -> None:
    after = run["after"]
    assert after["metadata"]["generation"] == 3
    assert after["status"]["phase"] == "Completed" and after["status"]["observedGeneration"] == 3
    assert after["status"]["nextSequence"] == 2 and after["status"]["experiments"]["total"] == 2
    still = [m for r, m in run["events"] if r == "Completed" and m.startswith("the edited spec still")]
    assert still == ["the edited spec still stops the campaign: budget.maxExperiments reached (2 of 2)"]
    assert [r for r, _ in run["events"]].count("Resumed") == 1
