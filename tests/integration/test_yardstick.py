"""The yardstick cannot be gamed: real encodes of reference-codec variants against real x264
anchors, judged by the one adoption rule.

The variants are the parametric reference codec with one design choice changed, evaluated in
this process (trusted code) on real frames; every number comes from a real encode and decode.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from aivc.api.spec import CampaignSpec
from aivc.codec.reference import reference_source
from aivc.evaluate.anchors import anchor_curves
from aivc.evaluate.clips import ClipSpec
from aivc.evaluate.inprocess import evaluate_in_process
from aivc.evaluate.results import EvaluationResult
from aivc.research import cascade
from aivc.research.analysis import analyze

pytestmark = pytest.mark.slow
CLIPS = ["carphone:10", "bikes:10:176x144"]
SPEC = CampaignSpec.from_manifest({"kind": "Campaign", "metadata": {"name": "yardstick"}, "spec": {
    "dataset": {"clips": CLIPS}, "evaluation": {"anchors": ["x264"]}}})


def variant(**params: Any) -> str:
    """The parametric reference codec with some parameter lines rewritten."""
    source = reference_source("inter-dct")
    for name, value in params.items():
        source, n = re.subn(rf"^{name}\s*=\s*[^#\n]*?(\s*#)", f"{name} = {value!r}\\1", source,
                            count=1, flags=re.M)
        assert n == 1, name
    return source


@pytest.fixture(scope="module")
def measure(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    cache = tmp_path_factory.mktemp("cache")
    anchors = {c: anchor_curves(ClipSpec.parse(c), ["x264"], cache_dir=cache) for c in CLIPS}
    done: dict[str, EvaluationResult] = {}

    def run(**params: Any) -> tuple[EvaluationResult, dict[str, Any]]:
        key = repr(sorted(params.items()))
        if key not in done:
            path = cache / f"codec{len(done)}.py"
            path.write_text(variant(**params))
            done[key] = evaluate_in_process(path, [ClipSpec.parse(c) for c in CLIPS], cache)
        return done[key], anchors
    return run


def test_a_candidate_that_buys_luma_with_chroma_is_not_adopted(measure):
    best, anchors = measure(HALF_PEL=False)
    starved, _ = measure(CHROMA_QP_OFFSET=4)  # half-pel on (better luma), chroma steps doubled
    found = analyze(starved, anchors, best, SPEC)
    assert found.metrics.bd_rate_vs_best is not None and found.metrics.bd_rate_vs_best < -5
    assert not found.adopt and "luma bought with chroma" in found.reason
    fair = analyze(measure()[0], anchors, best, SPEC)  # the same luma gain, chroma kept
    assert fair.adopt


def test_moving_the_rate_points_does_not_win(measure):
    best, anchors = measure()
    shifted, _ = measure(QSTEP=5.0)  # the same codec, its levels moved up the rate axis
    best_score = analyze(best, anchors, None, SPEC).metrics.bd_rate
    found = analyze(shifted, anchors, best, SPEC)
    assert found.metrics.bd_rate is not None and best_score is not None
    assert found.metrics.bd_rate < best_score  # two scores side by side would have adopted it
    assert not found.adopt and "vs the best is" in found.reason
    assert abs(found.metrics.bd_rate_vs_best or 99) < 1.0  # on the shared range: sampling noise


def test_a_curve_sharing_too_little_of_the_anchors_range_gets_the_reason_and_no_adoption(measure):
    best, anchors = measure()
    narrow, _ = measure(QSTEP_RATIO=1.3)  # four levels crowded at the top of the quality range
    found = analyze(narrow, anchors, best, SPEC)
    assert found.metrics.bd_rate is None and not found.adopt
    why = found.metrics.per_clip["carphone:10"].not_scored["x264"]
    assert why.startswith("insufficient overlap") and "reference" in why and "candidate" in why
    assert "insufficient overlap" in found.reason


CANDIDATES = [{}, {"HALF_PEL": False}, {"DEBLOCK": 0}, {"MOTION_BLOCK": 8}, {"SEARCH": "diamond"},
              {"INTRA_PRED": "none"}, {"ENTROPY_CONTEXT": "single"}, {"INTER_QSCALE": 1.0},
              {"QSTEP": 8.0}, {"CHROMA_QP_OFFSET": 0}]


@pytest.mark.parametrize("best_params", [{"HALF_PEL": False}, {"DEBLOCK": 0}])
def test_the_cascade_never_stops_a_candidate_the_full_evaluation_would_adopt(measure, best_params):
    best, anchors = measure(**best_params)
    adopted = 0
    for params in CANDIDATES:
        full, _ = measure(**params)
        would_adopt = analyze(full, anchors, best, SPEC).adopt
        screened = _screen_of(full)  # the codec is deterministic: the screen's levels are these
        verdict = cascade.after(cascade.SCREEN, SPEC, screened, best, anchors)
        if would_adopt:
            adopted += 1
            assert not isinstance(verdict, cascade.Done), (params, verdict)
    assert adopted >= 1  # the check saw at least one adoption


def _screen_of(full: EvaluationResult) -> EvaluationResult:
    first, last = 0, full.levels_declared - 1
    keep = [r for r in full.levels if r.clip == CLIPS[0] and r.level in (first, last)]
    return EvaluationResult(full.mode, full.codec_sha256, full.levels_declared,
                            [c for c in full.clips if c.name == CLIPS[0]], keep, [])


def test_the_screen_does_stop_a_hopeless_candidate(measure):
    best, anchors = measure()
    hopeless, _ = measure(INTER=False)
    verdict = cascade.after(cascade.SCREEN, SPEC, _screen_of(hopeless), best, anchors)
    assert isinstance(verdict, cascade.Done) and "screening stage" in (verdict.stopped_early or "")

