"""The operator rides out API conflicts and server errors without doubling or losing work.

Faults are injected into the emulator: some before a request takes effect, some after it
did (the response was lost, so the retry meets a 409 and must adopt what exists).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import kmock
import pytest

from aivc.kube.client import EXPERIMENTS
from aivc.testing.emulator import Fault
from tests.fakes.cluster import NAMESPACE, Cluster, campaign_manifest
from tests.fakes.scripted_planner import ScriptedPlanner

pytestmark = pytest.mark.slow
NAME = "faults-0000"


def _on(method: str, plural: str, sub: str | None = None) -> Any:
    def match(request: kmock.Request) -> bool:
        agent = str(request.headers.get("User-Agent", ""))
        return (request.method.value == method and request.resource is not None
                and request.resource.plural == plural and request.subresource == sub
                and agent.startswith("aivc-operator"))
    return match


async def _scenario(data_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with Cluster() as cluster:
        api = cluster.api
        faults: dict[str, Fault] = {
            "experiment created, reply lost (500)": api.fail(_on("POST", "experiments"), 500, applied=True),
            "job created, reply lost (500)": api.fail(_on("POST", "jobs"), 500, times=2, applied=True),
            "codec configmap refused (503)": api.fail(_on("POST", "configmaps"), 503),
            "status patch conflicts (409)": api.fail(_on("PATCH", "experiments", "status"), 409, times=3),
            "pod log unavailable (500)": api.fail(_on("GET", "pods", "log"), 500),
            "campaign status refused (500)": api.fail(_on("PATCH", "campaigns", "status"), 500),
        }
        memo = cluster.memo(data_dir, planner_factory=ScriptedPlanner({}).factory())
        async with cluster.operator(memo):
            await cluster.apply_campaign(campaign_manifest("faults", finishUp={"report": False}))
            out["done"] = await cluster.wait_phase(NAME, ("Succeeded", "Failed", "NeedsHuman"), 180)
            out["jobs"] = await cluster.jobs(NAME)
            out["experiments"] = await cluster.kubectl.list(EXPERIMENTS, NAMESPACE)
            out["runs"] = list(cluster.kubelet.runs)
        out["hits"] = {name: (f.hits, f.times) for name, f in faults.items()}
        out["uncovered"] = cluster.audit("faults", memo)
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return asyncio.run(_scenario(tmp_path_factory.mktemp("operator")))


def test_every_injected_fault_was_hit(run: dict[str, Any]) -> None:
    assert all(hits == times for hits, times in run["hits"].values()), run["hits"]


def test_the_experiment_still_succeeds_with_its_full_results(run: dict[str, Any]) -> None:
    status = run["done"]["status"]
    assert (status["phase"], status["verdict"]) == ("Succeeded", "Adopted")
    assert status["resultsSource"] == "log"
    assert status["attempts"] == {"design": 0, "validation": 0, "execution": 0}


def test_lost_replies_do_not_double_experiments_jobs_or_sandbox_runs(run: dict[str, Any]) -> None:
    assert [e["metadata"]["name"] for e in run["experiments"]] == [NAME]
    stages = sorted(j["metadata"]["labels"]["aivc.dev/stage"] for j in run["jobs"])
    assert stages == ["execution", "validation"]
    assert sorted(r.stage for r in run["runs"]) == ["execution", "validation"]


def test_every_api_call_is_covered_by_the_required_permissions(run: dict[str, Any]) -> None:
    assert run["uncovered"] == []
