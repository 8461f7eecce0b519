"""The cascade's stages: what each measures, and that each gets its own sandbox Job."""

from __future__ import annotations

from aivc.api.spec import CampaignSpec
from aivc.research import cascade

SPEC = CampaignSpec.from_manifest({"kind": "Campaign", "metadata": {"name": "c"}, "spec": {
    "dataset": {"clips": ["a:10", "b:10"], "heldOut": ["h:10"]}}})


def test_without_a_best_or_a_cascade_everything_is_measured_at_once():
    assert cascade.first(SPEC, has_best=False) == cascade.FULL
    off = CampaignSpec.from_manifest({**SPEC.raw, "spec": {**SPEC.raw["spec"],
                                                           "evaluation": {"cascade": {"enabled": False}}}})
    assert cascade.first(off, has_best=True) == cascade.FULL
    full = cascade.stage(cascade.FULL, SPEC)
    assert (full.clips, full.levels, full.redecode) == (("a:10", "b:10", "h:10"), None, "all")


def test_each_stage_measures_what_it_is_for():
    screen = cascade.stage(cascade.SCREEN, SPEC)
    assert (screen.clips, screen.levels, screen.redecode) == (("a:10",), (0, -1), "sample")
    campaign = cascade.stage(cascade.CAMPAIGN, SPEC)
    assert (campaign.clips, campaign.levels, campaign.redecode) == (("a:10", "b:10"), None, "sample")
    confirm = cascade.stage(cascade.CONFIRM, SPEC)
    assert (confirm.clips, confirm.redecode) == (("a:10", "b:10", "h:10"), "all")


def test_every_stage_has_a_job_name_of_its_own():
    parts = [cascade.stage(n, SPEC).part for n in (cascade.SCREEN, cascade.CAMPAIGN, cascade.CONFIRM,
                                                    cascade.FULL)]
    assert len(set(parts)) == len(parts)
