"""A Campaign's identity and edits on a cluster (the emulator):

- a Completed campaign whose budget is raised goes on (Running, new experiments), and its
  status says which generation the operator acted on;
- a Campaign deleted and created again under its name starts clean: its evolution
  repository and tags are keyed by its UID, so the new v0 is a new commit;
- `dataset.volumeClaim` is refused with SpecValid=False until it works end to end.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import git
import pytest

from aivc.kube.client import CAMPAIGNS, EXPERIMENTS, MERGE_PATCH, NotFound
from tests.fakes.cluster import NAMESPACE, Cluster, campaign_manifest
from tests.fakes.scripted_planner import ScriptedPlanner, proposal

pytestmark = pytest.mark.slow


async def _phase(cluster: Cluster, name: str, phase: str) -> dict[str, Any] | None:
    try:
        campaign = await cluster.get(CAMPAIGNS, name)
    except NotFound:
        return None
    return campaign if (campaign.get("status") or {}).get("phase") == phase else None


async def _gone(cluster: Cluster, kind: Any, name: str) -> bool:
    try:
        await cluster.get(kind, name)
    except NotFound:
        return True
    return False


async def _scenario(data_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with Cluster() as cluster:
        memo = cluster.memo(data_dir, planner_factory=ScriptedPlanner({1: [proposal("dpcm_quantize")]}).factory())
        async with cluster.operator(memo):
            first = await cluster.apply_campaign(campaign_manifest("ident", finishUp={"report": False}))
            out["first_uid"] = first["metadata"]["uid"]
            out["completed"] = await cluster.wait_for(lambda: _phase(cluster, "ident", "Completed"),
                                                      180, "the campaign to complete")
            await cluster.kubectl.request(
                "PATCH", CAMPAIGNS.url(NAMESPACE, "ident"),
                body={"spec": {"budget": {"maxExperiments": 2}}}, content_type=MERGE_PATCH)
            out["second"] = await cluster.wait_phase("ident-0001", ("Succeeded", "Failed", "NeedsHuman"), 180)
            out["resumed"] = await cluster.wait_for(lambda: _phase(cluster, "ident", "Completed"),
                                                    60, "the resumed campaign to complete")
            out["events"] = [e.get("reason") for e in await cluster.events("ident")]

            await cluster.kubectl.delete(CAMPAIGNS, NAMESPACE, "ident")
            await cluster.wait_for(lambda: _gone(cluster, CAMPAIGNS, "ident"), 30, "the campaign to go")
            for name in ("ident-0000", "ident-0001"):
                await cluster.wait_for(lambda n=name: _gone(cluster, EXPERIMENTS, n), 30, "the collector")
            again = await cluster.apply_campaign(campaign_manifest("ident", finishUp={"report": False}))
            out["again_uid"] = again["metadata"]["uid"]
            out["again"] = await cluster.wait_for(lambda: _phase(cluster, "ident", "Completed"),
                                                  180, "the new campaign to complete")

            await cluster.apply_campaign(campaign_manifest(
                "claimed", dataset={"clips": ["clips/a.y4m:4"], "volumeClaim": "clips"}))
            out["claimed"] = await cluster.wait_for(lambda: _phase(cluster, "claimed", "Failed"),
                                                    30, "the volumeClaim campaign to be refused")
        repos = sorted((data_dir / NAMESPACE / "evolution").iterdir())
        out["repos"] = [p.name for p in repos]
        out["v0"] = {p.name: git.Repo(p).tags["v0"].commit.hexsha for p in repos}
        out["uncovered"] = cluster.audit("identity", memo)
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return asyncio.run(_scenario(tmp_path_factory.mktemp("operator")))


def test_a_raised_budget_resumes_a_completed_campaign(run: dict[str, Any]) -> None:
    assert run["completed"]["status"]["nextSequence"] == 1
    assert run["second"]["status"]["phase"] == "Succeeded"
    status = run["resumed"]["status"]
    assert status["nextSequence"] == 2 and status["experiments"]["total"] == 2
    assert "Resumed" in run["events"]


def test_the_status_names_the_generation_acted_on(run: dict[str, Any]) -> None:
    assert run["completed"]["status"]["observedGeneration"] == 1
    assert run["resumed"]["status"]["observedGeneration"] == run["resumed"]["metadata"]["generation"] == 2


def test_a_campaign_created_again_under_its_name_gets_its_own_repository(run: dict[str, Any]) -> None:
    first, again = run["first_uid"][:8], run["again_uid"][:8]
    assert first != again
    assert run["repos"] == sorted([f"ident-{first}.git", f"ident-{again}.git"])
    assert run["again"]["status"]["nextSequence"] == 1


def test_the_new_v0_is_a_new_commit_not_the_old_ones(run: dict[str, Any]) -> None:
    assert len(set(run["v0"].values())) == 2, run["v0"]


def test_a_volume_claim_is_refused_with_a_clear_condition(run: dict[str, Any]) -> None:
    status = run["claimed"]["status"]
    spec_valid = next(c for c in status["conditions"] if c["type"] == "SpecValid")
    assert spec_valid["status"] == "False" and "volumeClaim" in spec_valid["message"]
    assert "not supported yet" in spec_valid["message"]


def test_every_api_call_is_covered_by_the_required_permissions(run: dict[str, Any]) -> None:
    assert run["uncovered"] == []
