"""Deleting an Experiment mid-execution removes its Jobs, Pods and codec ConfigMap, and
refunds nothing: the campaign's started count (`status.nextSequence`) never goes down.

Cleanup is Kubernetes' garbage collector following owner references (the emulator plays
it), so it works even when the operator is down; kopf's finalizer exists only while the
experiment is in flight and is released as soon as its daemon stops.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aivc.kube.client import CAMPAIGNS, CONFIGMAPS, EXPERIMENTS, PODS, NotFound
from tests.fakes.cluster import NAMESPACE, Cluster, campaign_manifest
from tests.fakes.scripted_planner import ScriptedPlanner

pytestmark = pytest.mark.slow
NAME = "gone-0000"


async def _owned_by(cluster: Cluster, uid: str) -> list[str]:
    found = []
    for kind in (CONFIGMAPS, PODS):
        found += [f"{kind.kind}/{o['metadata']['name']}" for o in await cluster.kubectl.list(kind, NAMESPACE)
                  if o["metadata"].get("labels", {}).get("aivc.dev/experiment") == NAME]
    found += [f"Job/{j['metadata']['name']}" for j in await cluster.jobs(NAME)
              if j["metadata"]["ownerReferences"][0]["uid"] == uid]
    return found


async def _gone(cluster: Cluster) -> bool:
    try:
        await cluster.experiment(NAME)
    except NotFound:
        return True
    return False


async def _scenario(data_dir: Path) -> dict[str, Any]:
    manifest = campaign_manifest("gone", finishUp={"report": False})
    out: dict[str, Any] = {}
    async with Cluster() as cluster:
        memo = cluster.memo(data_dir, planner_factory=ScriptedPlanner({}).factory())
        cluster.kubelet.hold("execution")
        async with cluster.operator(memo):
            await cluster.apply_campaign(manifest)
            exp = await cluster.wait_phase(NAME, ("Executing",), 120)
            uid = exp["metadata"]["uid"]
            out["finalizers"] = exp["metadata"].get("finalizers")
            out["before"] = await cluster.wait_for(lambda: _running_pod(cluster, uid), 30, "the pod")
            await cluster.kubectl.delete(EXPERIMENTS, NAMESPACE, NAME)
            await cluster.wait_for(lambda: _gone(cluster), 30, "the experiment to go")
            await cluster.wait_for(lambda: _cleaned(cluster, uid), 30, "the garbage collector")
            out["after"] = await _owned_by(cluster, uid)
            out["campaign"] = await cluster.wait_for(lambda: _completed(cluster), 30,
                                                     "the campaign to complete")
            out["names"] = await _names(cluster)
        out["uncovered"] = cluster.audit("deletion", memo)
    return out


async def _completed(cluster: Cluster) -> dict[str, Any] | None:
    campaign = await cluster.get(CAMPAIGNS, "gone")
    return campaign if (campaign.get("status") or {}).get("phase") == "Completed" else None


async def _names(cluster: Cluster) -> list[str]:
    return [e["metadata"]["name"] for e in await cluster.kubectl.list(EXPERIMENTS, NAMESPACE)]


async def _cleaned(cluster: Cluster, uid: str) -> bool:
    return not await _owned_by(cluster, uid)


async def _running_pod(cluster: Cluster, uid: str) -> list[str]:
    owned = await _owned_by(cluster, uid)
    return owned if any(o.startswith("Pod/") and "run" in o for o in owned) else []


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return asyncio.run(_scenario(tmp_path_factory.mktemp("operator")))


def test_an_experiment_in_flight_carries_the_operators_finalizer(run: dict[str, Any]) -> None:
    assert run["finalizers"] == ["aivc.dev/daemon"]


def test_deleting_the_experiment_removes_its_jobs_pods_and_configmap(run: dict[str, Any]) -> None:
    assert {o.split("/")[0] for o in run["before"]} == {"ConfigMap", "Job", "Pod"}
    assert run["after"] == []


def test_a_deleted_experiment_still_counts_against_the_budget(run: dict[str, Any]) -> None:
    status = run["campaign"]["status"]
    assert run["names"] == []
    assert status["nextSequence"] == 1 and "maxExperiments reached (1 of 1)" in status["stopReason"]


def test_every_api_call_is_covered_by_the_required_permissions(run: dict[str, Any]) -> None:
    assert run["uncovered"] == []
