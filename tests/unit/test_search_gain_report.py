"""`make search-gain`'s report: every seed's defaults and best version, each gain against
the bar, and the mean, from the scores it is given (the campaigns themselves are too slow
for a test; `make search-gain` runs them)."""

from __future__ import annotations

from aivc.api.experiments import ExperimentDoc
from aivc.api.spec import CampaignSpec
from aivc.bench.search_gain import SeedRun, campaign_manifest, markdown
from aivc.codec import space

MANIFEST = {"apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": "q"},
            "spec": {"dataset": {"clips": ["carphone:16"], "heldOut": ["bbb720:12:320x180"]}}}


def doc(name: str, params: dict, version: int | None) -> ExperimentDoc:
    status = {"params": params, **({"version": version} if version is not None else {})}
    return ExperimentDoc.parse({"apiVersion": "aivc.dev/v1alpha1", "kind": "Experiment",
                                "metadata": {"name": name}, "spec": {"campaign": "q", "sequence": 1},
                                "status": status})


def scores(held: float, campaign: float) -> dict:
    return {"held": {"psnr_yuv mean": held, "psnr_y mean": held},
            "campaign": {"psnr_yuv mean": campaign, "psnr_y mean": campaign}}


def test_each_seed_is_reported_with_its_gain_and_the_mean_says_how_many_meet_the_bar():
    base = space.defaults()
    runs = [SeedRun(0, doc("a-0001", base, None), doc("a-0009", {**base, "LAMBDA": 0.694}, 3),
                    {"defaults": scores(18.2, 32.7), "best": scores(12.0, 28.0)}),
            SeedRun(1, doc("b-0001", base, None), doc("b-0004", {**base, "GOP": 16}, 1),
                    {"defaults": scores(18.2, 32.7), "best": scores(16.2, 30.0)})]
    text = markdown(runs, CampaignSpec.from_manifest(MANIFEST), 30)
    assert "| 0 | best adopted version | a-0009 (v3) | +12.0 % |" in text
    assert "- seed 0: +6.2 (meets the bar); it changed LAMBDA 1→0.694" in text
    assert "- seed 1: +2.0 (misses the bar); it changed GOP 8→16" in text
    assert "- mean over 2 seeds: +4.1 (1 of 2 seeds meet the bar)" in text


def test_the_manifest_is_the_quickstart_with_room_for_the_experiments_and_the_seed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("apiVersion: aivc.dev/v1alpha1\nkind: Campaign\nmetadata: {name: quickstart}\n"
                    "spec: {budget: {maxExperiments: 20}, seed: 0}\n")
    doc = campaign_manifest(path, 30, 2)
    assert doc["metadata"]["name"] == "search-gain" and doc["spec"]["seed"] == 2
    assert doc["spec"]["budget"]["maxExperiments"] == 31
