"""The hybrid planner runs the same in local mode and in the operator: the same scripted
model (the real SDK against `aivc.testing.messages`), the same campaign, and both drivers
record the same origins and choose the same search points (search experiments are ordinary
Experiments; every choice is seeded by the campaign and the sequence)."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from aivc.api.spec import CampaignSpec
from aivc.bench import hybrid
from aivc.kube.client import CAMPAIGNS, EXPERIMENTS
from aivc.research.local import run_campaign
from aivc.settings import LLMSettings, PathSettings, Settings
from aivc.store.local import LocalStore
from aivc.testing.messages import FakeMessagesServer
from tests.fakes.cluster import NAMESPACE, Cluster, campaign_manifest

pytestmark = pytest.mark.slow
MANIFEST = campaign_manifest("hyb", planner="hybrid", budget={"maxExperiments": 4},
                             hybrid={"searchPerDesign": 2}, finishUp={"report": False},
                             llm={"model": hybrid.MODEL, "reviewEvery": 0,
                                  "apiKeySecret": {"name": "anthropic"}})
PROGRAM = ({"QSTEP": 12.0, "QSTEP_RATIO": 1.4, "DEADZONE": 0.1, "CHROMA_QP_OFFSET": 6},)


def seen(docs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    out = []
    for doc in sorted(docs, key=lambda d: d["spec"]["sequence"]):
        status = doc["status"]
        origin = status.get("origin") or {}
        metrics = status.get("metrics") or {}
        out.append((doc["spec"]["sequence"], status.get("phase"), origin.get("planner"),
                    origin.get("family"), status.get("params"), metrics.get("bdRate")))
    return out


def run_locally(run_dir: Path, cache: Path) -> list[tuple[Any, ...]]:
    spec = CampaignSpec.from_manifest(copy.deepcopy(MANIFEST))
    with FakeMessagesServer(api_key=hybrid.KEY) as server:
        hybrid.script(server, PROGRAM)
        planner = hybrid.make_planner(spec, server)
        run_campaign(spec, run_dir, planner=planner, progress=False,
                     settings=Settings(paths=PathSettings(cache_dir=cache),
                                       llm=LLMSettings(api_key=hybrid.KEY, base_url=server.url)))
    return seen(LocalStore(run_dir).list("Experiment", campaign="hyb"))


async def run_on_a_cluster(data_dir: Path, cache: Path) -> list[tuple[Any, ...]]:
    with FakeMessagesServer(api_key=hybrid.KEY) as server:
        hybrid.script(server, PROGRAM)
        keys: list[str | None] = []

        def factory(spec: CampaignSpec, settings: Settings) -> Any:
            keys.append(settings.llm.api_key)  # read from the Campaign's Secret
            return hybrid.make_planner(spec, server)

        async with Cluster() as cluster:
            await cluster.create_secret("anthropic", {"api-key": hybrid.KEY})
            memo = cluster.memo(data_dir, planner_factory=factory,
                                settings=Settings(paths=PathSettings(cache_dir=cache)))
            async with cluster.operator(memo):
                await cluster.apply_campaign(copy.deepcopy(MANIFEST))
                await cluster.wait_for(lambda: _completed(cluster), 400, "the campaign")
                docs = await cluster.kubectl.list(EXPERIMENTS, NAMESPACE)
        assert keys and all(k == hybrid.KEY for k in keys)
    return seen(docs)


async def _completed(cluster: Cluster) -> dict[str, Any] | None:
    campaign = await cluster.get(CAMPAIGNS, "hyb")
    return campaign if (campaign.get("status") or {}).get("phase") == "Completed" else None


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], list[Any]]:
    cache = tmp_path_factory.mktemp("cache")
    local = run_locally(tmp_path_factory.mktemp("local"), cache)
    cluster = asyncio.run(run_on_a_cluster(tmp_path_factory.mktemp("operator"), cache))
    return local, cluster


def test_the_llm_program_is_followed_by_searches_over_its_parameters(runs) -> None:
    local, _ = runs
    assert [(s, phase, planner, family) for s, phase, planner, family, _, _ in local] == [
        (0, "Succeeded", "base", None), (1, "Succeeded", "llm", 1),
        (2, "Succeeded", "search", 1), (3, "Succeeded", "search", 1)]
    assert local[1][4] == PROGRAM[0] and local[2][4] != local[3][4] != PROGRAM[0]


def test_both_drivers_record_the_same_origins_and_search_points(runs) -> None:
    local, cluster = runs
    assert local == cluster
