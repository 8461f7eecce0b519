"""The cluster's failures are not the candidate's: an image that cannot be pulled, a pod no
node takes, a lost node, an eviction and a preemption, played by the test kubelet.

Each one is recognised from the pod and the Job, costs the candidate nothing (no retry
used, the planner never hears of it), is told as a Warning Event and an `Infrastructure`
condition, counted in `aivc_infra_failures_total`, and the Job runs again after a back-off
until the experiment goes through as if nothing had happened.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aivc.kube.settings import JobSettings, LoopSettings
from aivc.observe import metrics
from tests.fakes.cluster import NAMESPACE, Cluster, campaign_manifest, fast_config
from tests.fakes.scripted_planner import ScriptedPlanner

pytestmark = pytest.mark.slow
NAME = "infra-0000"


def infra_count(stage: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "aivc_infra_failures_total", {"campaign_namespace": NAMESPACE, "campaign": "infra",
                                      "stage": stage, "reason": reason})
    return value or 0.0


async def _scenario(data_dir: Path) -> dict[str, Any]:
    planner = ScriptedPlanner({})
    config = fast_config(data_dir, loops=LoopSettings(poll_seconds=0.1, resync_seconds=0.5,
                                                      retry_seconds=0.3),
                         jobs=JobSettings(ttl_seconds=600, unschedulable_grace_seconds=1,
                                          infra_backoff_seconds=0.5))
    before = {(s, r): infra_count(s, r) for s in ("validation", "execution")
              for r in ("Unschedulable", "ImagePullBackOff", "NodeLost")}
    async with Cluster() as cluster:
        cluster.kubelet.trouble("validation", "Unschedulable")
        cluster.kubelet.trouble("execution", "ImagePullBackOff", "Evicted", "NodeLost", "Preempted")
        memo = cluster.memo(data_dir, planner_factory=planner.factory(), config=config)
        async with cluster.operator(memo):
            await cluster.apply_campaign(campaign_manifest("infra", finishUp={"report": False}))
            done = await cluster.wait_phase(NAME, ("Succeeded", "Failed", "NeedsHuman"), 240)
            events = await cluster.events(NAME)
            jobs = await cluster.jobs(NAME)
    after = {k: infra_count(*k) - v for k, v in before.items()}
    return {"done": done, "events": events, "jobs": jobs, "planner": planner, "counted": after,
            "runs": list(cluster.kubelet.runs)}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return asyncio.run(_scenario(tmp_path_factory.mktemp("operator")))


def test_the_experiment_goes_through_as_if_nothing_happened(run: dict[str, Any]) -> None:
    status = run["done"]["status"]
    assert (status["phase"], status.get("verdict")) == ("Succeeded", "Adopted")
    assert status["attempts"] == {"design": 0, "validation": 0, "execution": 0}
    assert "lastError" not in status and "hold" not in status
    infra = next(c for c in status["conditions"] if c["type"] == "Infrastructure")
    assert (infra["status"], infra["reason"]) == ("True", "SandboxRan")


def test_the_candidate_and_the_planner_never_hear_of_it(run: dict[str, Any]) -> None:
    assert all(r.repair is None for r in run["planner"].requests)
    assert all("Infrastructure" not in (o.error.category if o.error else "")
               for o in run["planner"].learned)


def test_each_fault_is_a_warning_that_names_its_cause(run: dict[str, Any]) -> None:
    warnings = [e["message"] for e in run["events"]
                if e["reason"] == "Infrastructure" and e["type"] == "Warning"]
    for cause in ("Unschedulable", "ImagePullBackOff", "NodeLost"):
        assert any(f"({cause})" in w for w in warnings), (cause, warnings)


def test_each_fault_is_counted_by_stage_and_reason(run: dict[str, Any]) -> None:
    assert run["counted"][("validation", "Unschedulable")] == 1
    assert run["counted"][("execution", "ImagePullBackOff")] == 1
    assert run["counted"][("execution", "NodeLost")] == 1


def test_disruptions_are_left_to_the_job_controller(run: dict[str, Any]) -> None:
    # eviction and preemption: the pod is replaced within its Job (podFailurePolicy Ignore),
    # so no Job was deleted for them; the retried Jobs carry the retry in their names
    names = sorted(j["metadata"]["name"] for j in run["jobs"])
    assert any(n.endswith("-r2") for n in names) and not any(n.endswith("-r3") for n in names)
