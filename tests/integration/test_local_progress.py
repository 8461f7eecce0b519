"""The search planner makes measurable progress on real clips in a short campaign.

Twenty experiments on short excerpts of the bundled carphone and bikes clips, measured in
the sandbox against real x264 encodes: the best version must beat the intra-only baseline
(v0) by at least ten BD-rate points, as `make run` does at full size.
"""

from __future__ import annotations

import localcamp
import pytest
from localcamp import settings

from aivc.api.spec import CampaignSpec
from aivc.research.local import run_campaign
from aivc.store.local import LocalStore

pytestmark = pytest.mark.slow
cache_dir = localcamp.cache_dir


def test_twenty_search_experiments_beat_the_baseline_by_ten_points(tmp_path, cache_dir):
    spec = CampaignSpec.from_manifest({
        "kind": "Campaign", "metadata": {"name": "progress"},
        "spec": {"budget": {"maxExperiments": 20}, "planner": "search", "baseCodec": "intra-dct",
                 "dataset": {"clips": ["carphone:10", "bikes:10:176x144"]},
                 "evaluation": {"anchors": ["x264"]}, "finishUp": {"report": False}}})
    summary = run_campaign(spec, tmp_path, settings=settings(cache_dir), progress=False)
    experiments = LocalStore(tmp_path).list("Experiment")
    v0 = experiments[0]["status"]
    assert summary.counts.total == 20
    assert v0["versionName"] == "v0"
    best = summary.best
    assert best is not None and best.version != "v0" and best.bd_rate is not None
    assert v0["metrics"]["bdRate"] - best.bd_rate >= 10.0, (v0["metrics"]["bdRate"], best)
