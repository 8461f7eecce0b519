"""An operator restarted while a sandbox Job runs carries on: no second Job, no lost result.

Two operator instances take turns under kopf peering (cluster-wide), as during a rolling
update: the first creates the execution Job and stops while it runs; the second adopts the
Job by its deterministic name and reads the result when the pod finishes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.cluster import Cluster, campaign_manifest, fast_config
from tests.fakes.scripted_planner import ScriptedPlanner

pytestmark = pytest.mark.slow
NAME = "restart-0000"


async def _scenario(data_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with Cluster() as cluster:
        cluster.add_peering()
        cluster.kubelet.hold("execution")
        config = fast_config(data_dir, peering="aivc")
        first = cluster.memo(data_dir, planner_factory=ScriptedPlanner({}).factory(), config=config)
        async with cluster.operator(first):
            await cluster.apply_campaign(campaign_manifest("restart", finishUp={"report": False}))
            out["executing"] = await cluster.wait_phase(NAME, ("Executing",), 120)
            await cluster.wait_for(lambda: _execution_job(cluster), 30, "the execution Job")
        out["stopped"] = await cluster.experiment(NAME)
        second = cluster.memo(data_dir, planner_factory=ScriptedPlanner({}).factory(), config=config)
        async with cluster.operator(second):
            cluster.kubelet.release("execution")
            out["done"] = await cluster.wait_phase(NAME, ("Succeeded", "Failed", "NeedsHuman"), 120)
            out["jobs"] = await cluster.jobs(NAME)
        out["runs"] = list(cluster.kubelet.runs)
        out["creates"] = [c.path for c in cluster.operator_calls()
                          if c.method == "POST" and c.path.endswith("/jobs")]
        out["uncovered"] = cluster.audit("restart", second)
    return out


async def _execution_job(cluster: Cluster) -> bool:
    return any(j["metadata"]["labels"]["aivc.dev/stage"] == "execution" for j in await cluster.jobs(NAME))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return asyncio.run(_scenario(tmp_path_factory.mktemp("operator")))


def test_the_restarted_operator_finishes_the_experiment_with_its_results(run: dict[str, Any]) -> None:
    assert run["stopped"]["status"]["phase"] == "Executing"
    status = run["done"]["status"]
    assert (status["phase"], status["verdict"], status["versionName"]) == ("Succeeded", "Adopted", "v0")
    assert len(status["results"]["levels"]) == 4 and status["resultsSource"] == "log"


def test_the_running_job_is_adopted_not_created_again(run: dict[str, Any]) -> None:
    stages = sorted(j["metadata"]["labels"]["aivc.dev/stage"] for j in run["jobs"])
    assert stages == ["execution", "validation"]
    assert sorted(r.stage for r in run["runs"]) == ["execution", "validation"]
    assert len(run["creates"]) == 3  # validation, execution, and the second operator's 409


def test_every_api_call_is_covered_by_the_required_permissions(run: dict[str, Any]) -> None:
    assert run["uncovered"] == []
