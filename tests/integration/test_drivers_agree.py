"""Local mode and the operator are two drivers of one core: the same scripted campaign run
through both ends in the same Experiment and Campaign documents, field by field.

The script covers every path a campaign takes: the baseline is adopted, a better candidate
is adopted, a worse one rejected, a broken design repaired after its validation failure,
one stuck in NeedsHuman until a person says `retry` with a note, and the experiment budget
stops the campaign. What may differ is listed in `DRIVER_SPECIFIC` with the reason; every
other field must match exactly (numbers included: they come from the same real encodes).
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from aivc.api.documents import decision_annotations
from aivc.api.spec import CampaignSpec
from aivc.api.types import Decision
from aivc.kube.client import CAMPAIGNS, EXPERIMENTS
from aivc.research.local import run_campaign
from aivc.research.planning import Proposal
from aivc.settings import PathSettings, Settings
from aivc.store.local import LocalStore
from tests.fakes.cluster import NAMESPACE, Cluster, campaign_manifest
from tests.fakes.scripted_planner import ScriptedPlanner, proposal

pytestmark = pytest.mark.slow
NOTE = "predict each pixel from its left neighbour"
MANIFEST = campaign_manifest("agree", budget={"maxExperiments": 5}, finishUp={"report": False},
                             retries={"design": 0, "validation": 1, "execution": 0})


def script() -> dict[int, list[Proposal]]:
    return {1: [proposal("dpcm_quantize", "predict from the left neighbour")],
            2: [proposal("raw_quantize", "send the pixels as they are", parent=1)],
            3: [proposal("no_decoder", "forget the decoder"),
                proposal("dpcm_quantize", "the decoder again", parent=1)],
            4: [proposal("no_decoder", "no decoder, once"), proposal("no_decoder", "no decoder, twice"),
                proposal("quantize", "after the note: plain quantizer", parent=1)]}


DRIVER_SPECIFIC = {
    # when things happened: each run has its own clock
    ("status", "startTime"), ("status", "phaseSince"), ("status", "completionTime"),
    ("status", "decision", "at"), ("status", "decision", "appliedAt"),
    ("status", "conditions", "*", "lastTransitionTime"),
    # how long the sandbox took, and the speeds derived from it
    ("status", "validation", "wallSeconds"), ("status", "execution", "wallSeconds"),
    ("status", "metrics", "encodeFps"), ("status", "metrics", "decodeFps"),
    # the operator keeps the full results and its Jobs in the status; local mode keeps the
    # results on disk (compared separately below) and runs no Jobs
    ("status", "results"), ("status", "resultsSource"), ("status", "jobs"),
    # the candidate's source: a ConfigMap on a cluster, a file locally (the sha256 must match)
    ("spec", "codec", "configMapRef"),
    # git: the commit hash covers its time, the repository lives in each driver's data dir
    ("status", "commit", "sha"), ("status", "commit", "repo"),
    ("status", "conditions", "Committed", "message"),
}


def comparable(value: Any, path: tuple[str, ...] = ()) -> Any:
    """`value` without the driver-specific fields (conditions keyed by type)."""
    if isinstance(value, dict):
        return {k: comparable(v, (*path, k)) for k, v in sorted(value.items())
                if (*path, k) not in DRIVER_SPECIFIC}
    if isinstance(value, list) and path == ("status", "conditions"):
        by_type = {}
        for cond in value:
            kept = {k: v for k, v in cond.items()
                    if (*path, "*", k) not in DRIVER_SPECIFIC
                    and (*path, cond.get("type"), k) not in DRIVER_SPECIFIC}
            by_type[cond.get("type")] = kept
        return by_type
    return value


def settings(cache: Path) -> Settings:
    return Settings(paths=PathSettings(cache_dir=cache))


def run_locally(run_dir: Path, cache: Path) -> dict[str, Any]:
    spec = CampaignSpec.from_manifest(copy.deepcopy(MANIFEST))
    planner = ScriptedPlanner(script())
    first = run_campaign(spec, run_dir, planner=planner.factory()(spec, settings(cache)),
                         settings=settings(cache), progress=False)
    store = LocalStore(run_dir)
    store.patch("Experiment", "agree-0004", decision_annotations(
        Decision.RETRY, NOTE, manager="kubectl-annotate", at="2026-01-01T00:00:00Z"))
    run_campaign(spec, run_dir, planner=planner, settings=settings(cache), progress=False)
    return {"waiting": first.needs_human, "campaign": store.get("Campaign", "agree"),
            "experiments": store.list("Experiment", campaign="agree"),
            "results": {e["metadata"]["name"]: store.get_results(e["metadata"]["name"])
                        for e in store.list("Experiment", campaign="agree")},
            "notes": [r.note for r in planner.requests]}


async def run_on_a_cluster(data_dir: Path, cache: Path) -> dict[str, Any]:
    planner = ScriptedPlanner(script())
    async with Cluster() as cluster:
        memo = cluster.memo(data_dir, planner_factory=planner.factory(), settings=settings(cache))
        async with cluster.operator(memo):
            await cluster.apply_campaign(copy.deepcopy(MANIFEST))
            await cluster.wait_phase("agree-0004", ("NeedsHuman",), 300)
            await cluster.annotate("agree-0004", {"aivc.dev/decision": "retry", "aivc.dev/note": NOTE})
            campaign = await cluster.wait_for(lambda: _completed(cluster), 300, "the campaign")
            experiments = await cluster.kubectl.list(EXPERIMENTS, NAMESPACE)
    return {"campaign": campaign, "experiments": experiments,
            "notes": [r.note for r in planner.requests]}


async def _completed(cluster: Cluster) -> dict[str, Any] | None:
    campaign = await cluster.get(CAMPAIGNS, "agree")
    return campaign if (campaign.get("status") or {}).get("phase") == "Completed" else None


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    cache = tmp_path_factory.mktemp("cache")
    local = run_locally(tmp_path_factory.mktemp("local"), cache)
    cluster = asyncio.run(run_on_a_cluster(tmp_path_factory.mktemp("operator"), cache))
    return local, cluster


def by_name(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs}


def test_the_scenario_takes_every_path(runs):
    local, _ = runs
    status = {n: d["status"] for n, d in by_name(local["experiments"]).items()}
    assert local["waiting"] == ("agree-0004",)
    assert [status[f"agree-000{i}"].get("verdict") for i in range(5)] == \
        ["Adopted", "Adopted", "Rejected", "Rejected", "Rejected"]
    assert [d["error"]["category"] for d in status["agree-0003"]["failedDesigns"]] == ["contract"]
    assert status["agree-0004"]["decision"]["decision"] == "retry"
    assert local["notes"][-1] == NOTE
    assert local["campaign"]["status"]["stopReason"].startswith("budget.maxExperiments")


def test_both_drivers_write_the_same_experiments(runs):
    local, cluster = runs
    mine, theirs = by_name(local["experiments"]), by_name(cluster["experiments"])
    assert sorted(mine) == sorted(theirs)
    for name in mine:
        for part in ("spec", "status"):
            assert comparable(mine[name][part], (part,)) == comparable(theirs[name][part], (part,)), \
                f"{name}.{part}"


def test_both_drivers_measure_the_same_results(runs):
    local, cluster = runs
    # the parent's clocks, and which level the sampled determinism check happened to draw
    timing = ("encode_seconds", "decode_seconds", "encode_import_seconds", "decode_import_seconds",
              "redecoded")
    for name, doc in by_name(cluster["experiments"]).items():
        theirs = doc["status"].get("results")
        mine = local["results"][name]
        if theirs is None:
            assert mine is None
            continue
        assert [{k: v for k, v in lv.items() if k not in timing} for lv in mine["levels"]] == \
            [{k: v for k, v in lv.items() if k not in timing} for lv in theirs["levels"]]


def test_both_drivers_write_the_same_campaign(runs):
    local, cluster = runs
    assert comparable(local["campaign"]["status"], ("status",)) == \
        comparable(cluster["campaign"]["status"], ("status",))
    assert local["notes"] == cluster["notes"]
