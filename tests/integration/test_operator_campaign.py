"""A Campaign of three experiments through every phase, against the API emulator.

kopf runs the real handlers; the fake kubelet runs every sandbox Job's command — the real
`python -m aivc.sandbox` — on the real candidate. The scripted planner proposes, in order:
a codec without a decoder (validation fails, the planner is asked for a repair), a worse
codec (rejected), and a better one (adopted as v1). The base codec becomes v0.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import git
import pytest

from aivc.kube.client import CAMPAIGNS, CONFIGMAPS
from aivc.research.planning import PlannerError
from tests.fakes.cluster import NAMESPACE, Cluster, campaign_manifest
from tests.fakes.scripted_planner import ScriptedPlanner, proposal

pytestmark = pytest.mark.slow
EXPERIMENTS = ("demo-0000", "demo-0001", "demo-0002")
GPU = "example.com/gpu"


async def _scenario(data_dir: Path) -> dict[str, Any]:
    planner = ScriptedPlanner({
        1: [proposal("no_decoder", cost_usd=0.01), proposal("raw_quantize", cost_usd=0.02)],
        2: [proposal("dpcm_quantize", "predict each pixel from its left neighbour", cost_usd=0.04),
            PlannerError("the script has nothing more")],
    })
    manifest = campaign_manifest(
        "demo", budget={"maxExperiments": 3}, planner="llm",
        llm={"apiKeySecret": {"name": "anthropic"}},
        sandbox={"gpus": 1, "gpuResourceName": GPU, "nodeSelector": {"pool": "gpu"},
                 "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
                 "runtimeClassName": "gvisor"})
    async with Cluster() as cluster:
        await cluster.create_secret("anthropic", {"api-key": "sk-test-key"})
        memo = cluster.memo(data_dir, planner_factory=planner.factory())
        async with cluster.operator(memo):
            await cluster.apply_campaign(manifest)
            await cluster.wait_for(lambda: _campaign_done(cluster), 240, "the campaign to complete")
            snapshot = {
                "campaign": await cluster.get(CAMPAIGNS, "demo"),
                "experiments": {n: await cluster.experiment(n) for n in EXPERIMENTS},
                "events": {n: await cluster.events(n) for n in EXPERIMENTS},
                "jobs": await cluster.jobs(),
                "configmaps": await cluster.kubectl.list(CONFIGMAPS, NAMESPACE),
                "runs": list(cluster.kubelet.runs),
                "planner": planner,
            }
        snapshot["uncovered"] = cluster.audit("campaign", memo)
    return snapshot


async def _campaign_done(cluster: Cluster) -> bool:
    status = (await cluster.get(CAMPAIGNS, "demo")).get("status") or {}
    return status.get("phase") == "Completed" and bool(status.get("report"))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data_dir = tmp_path_factory.mktemp("operator")
    snapshot = asyncio.run(_scenario(data_dir))
    snapshot["data_dir"] = data_dir
    return snapshot


def status(run: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(run["experiments"][name]["status"])


def test_base_codec_becomes_v0_and_a_better_candidate_v1(run: dict[str, Any]) -> None:
    assert (status(run, "demo-0000")["verdict"], status(run, "demo-0000")["versionName"]) == ("Adopted", "v0")
    assert (status(run, "demo-0002")["verdict"], status(run, "demo-0002")["versionName"]) == ("Adopted", "v1")
    assert run["experiments"]["demo-0002"]["spec"]["parentVersion"] == "v0"
    assert status(run, "demo-0002")["metrics"]["bdRateVsBest"] < 0


def test_a_worse_candidate_is_rejected_after_its_repair(run: dict[str, Any]) -> None:
    st = status(run, "demo-0001")
    assert (st["phase"], st["verdict"]) == ("Succeeded", "Rejected")
    assert st["attempts"]["validation"] == 1
    assert st["metrics"]["bdRate"] > status(run, "demo-0000")["metrics"]["bdRate"]
    repairs = [r for r in run["planner"].requests if r.sequence == 1 and r.repair is not None]
    assert [r.repair.category for r in repairs] == ["contract"]
    assert "def encode" in (repairs[0].failed_source or "")


def test_every_phase_change_posts_an_event(run: dict[str, Any]) -> None:
    wanted = {"Designing", "Validating", "Executing", "Analyzing", "Succeeded"}
    for name in EXPERIMENTS:
        assert wanted <= {e["reason"] for e in run["events"][name]}, name
    repaired = [(e["type"], e["reason"]) for e in run["events"]["demo-0001"]]
    assert repaired[:6] == [("Normal", "Designing"), ("Normal", "Validating"),
                            ("Warning", "Designing"), ("Normal", "Validating"),
                            ("Normal", "Executing"), ("Normal", "Analyzing")]


def test_full_results_and_metrics_land_in_the_experiment_status(run: dict[str, Any]) -> None:
    st = status(run, "demo-0002")
    results = st["results"]
    assert st["resultsSource"] == "log"
    assert {(lv["clip"], lv["level"]) for lv in results["levels"]} == {("carphone:4", i) for i in range(4)}
    assert all(lv["bytes"] > 0 and lv["encode_seconds"] > 0 for lv in results["levels"])
    assert st["metrics"]["kbps"] > 0 and st["metrics"]["encodeFps"] > 0
    conditions = {c["type"]: c["status"] for c in st["conditions"]}
    assert conditions | {"Committed": "True"} == {"Designed": "True", "Validated": "True",
                                                  "Executed": "True", "Analyzed": "True",
                                                  "Committed": "True"}


def test_validation_runs_on_cpu_and_execution_gets_the_gpu_node(run: dict[str, Any]) -> None:
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for job in run["jobs"]:
        by_stage.setdefault(job["metadata"]["labels"]["aivc.dev/stage"], []).append(job)
    for job in by_stage["validation"]:
        pod = job["spec"]["template"]["spec"]
        assert all(GPU not in c["resources"]["limits"]
                   for c in [*pod["initContainers"], *pod["containers"]])
        assert "nodeSelector" not in pod and "tolerations" not in pod
    for job in by_stage["execution"]:
        pod = job["spec"]["template"]["spec"]  # candidate steps get the GPU, measuring does not
        assert [c["resources"]["limits"].get(GPU) for c in pod["initContainers"]] == ["1", "1"]
        assert GPU not in pod["containers"][0]["resources"]["limits"]
        assert pod["nodeSelector"] == {"pool": "gpu"} and pod["runtimeClassName"] == "gvisor"
    stages = [e["status"]["cascade"]["stages"] for e in run["experiments"].values()]
    assert stages[0] == ["full"] and stages[2] == ["screen", "campaign", "confirm"]
    assert len(by_stage["validation"]) == 4 and len(by_stage["execution"]) == sum(map(len, stages))


def test_each_job_and_codec_is_owned_by_its_experiment(run: dict[str, Any]) -> None:
    uids = {n: e["metadata"]["uid"] for n, e in run["experiments"].items()}
    for obj in [*run["jobs"], *run["configmaps"]]:
        if obj["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") != "aivc":
            continue
        owner = obj["metadata"]["ownerReferences"][0]
        assert owner["uid"] == uids[obj["metadata"]["labels"]["aivc.dev/experiment"]]
    campaign_uid = run["campaign"]["metadata"]["uid"]
    assert all(e["metadata"]["ownerReferences"][0]["uid"] == campaign_uid
               for e in run["experiments"].values())
    stages = sum(len(e["status"]["cascade"]["stages"]) for e in run["experiments"].values())
    assert len({r.job for r in run["runs"]}) == len(run["runs"]) == 4 + stages


def test_campaign_status_counts_best_and_cost(run: dict[str, Any]) -> None:
    st = run["campaign"]["status"]
    assert st["phase"] == "Completed"
    assert st["experiments"] | {"total": 3} == {"total": 3, "adopted": 2, "rejected": 1,
                                                 "failed": 0, "needsHuman": 0, "running": 0}
    assert (st["best"]["version"], st["best"]["experiment"]) == ("v1", "demo-0002")
    assert st["costUSD"] == pytest.approx(0.07)
    assert "maxExperiments" in st["stopReason"]


def test_the_llm_key_comes_from_the_campaigns_secret(run: dict[str, Any]) -> None:
    assert run["planner"].api_keys == ["sk-test-key"]


def test_adopted_versions_are_committed_to_the_evolution_branch(run: dict[str, Any]) -> None:
    uid = run["campaign"]["metadata"]["uid"]  # the repository is the Campaign's, by UID
    repo = git.Repo(run["data_dir"] / NAMESPACE / "evolution" / f"demo-{uid[:8]}.git")
    assert sorted(t.name for t in repo.tags) == ["v0", "v1"]
    assert status(run, "demo-0002")["commit"]["tag"] == "v1"


def test_every_api_call_is_covered_by_the_required_permissions(run: dict[str, Any]) -> None:
    assert run["uncovered"] == []
