"""Analysis: the metrics document, the adoption verdict with held-out clips, suspicion."""

from __future__ import annotations

import math

from aivc.api.spec import CampaignSpec
from aivc.evaluate.anchors import AnchorCurve, AnchorPoint
from aivc.evaluate.results import ClipInfo, ErrorRecord, EvaluationResult, LevelResult
from aivc.research.analysis import analyze

SPEC = CampaignSpec.from_manifest({"kind": "Campaign", "metadata": {"name": "c"}, "spec": {
    "dataset": {"clips": ["a:10", "b:10"], "heldOut": ["h:10"]},
    "evaluation": {"anchors": ["x264", "x265"], "heldOutTolerance": 2.0}}})
RATES = [100.0, 200.0, 400.0, 800.0]
PSNRS = [30.0, 33.0, 36.0, 39.0]


def curve(encoder: str, clip: str, scale: float) -> AnchorCurve:
    points = [AnchorPoint(kbps=r * scale, psnr_y=p, psnr_yuv=p, ssim_y=0.9, encode_seconds=0.1,
                          param=i) for i, (r, p) in enumerate(zip(RATES, PSNRS, strict=True))]
    return AnchorCurve(encoder, clip, points, "test", {}, frames=10)


ANCHORS = {c: {"x264": curve("x264", c, 1.0), "x265": curve("x265", c, 0.8)}
           for c in ("a:10", "b:10", "h:10")}


def result(scale: dict[str, float], errors: list[ErrorRecord] | None = None,
           shift: float = 0.0) -> EvaluationResult:
    """Levels at the anchor's PSNRs with rates scaled per clip: BD-rate = (scale - 1) * 100.

    `shift` moves every PSNR up by that many dB (far enough and the curves no longer overlap).
    """
    levels = [LevelResult(clip, i, 10, int(r * s * 10 / 8 / 25), r * s, p + shift, p, p, p, 0.9,
                          0.5, 0.25)
              for clip, s in scale.items() for i, (r, p) in enumerate(zip(RATES, PSNRS, strict=True))]
    clips = [ClipInfo(c, 64, 48, 10, 25.0) for c in scale]
    return EvaluationResult("evaluate", "sha", 4, clips, levels, errors or [])


def test_metrics_are_means_over_the_campaign_clips_with_per_clip_detail():
    found = analyze(result({"a:10": 1.5, "b:10": 1.1, "h:10": 1.0}), ANCHORS, None, SPEC)
    m = found.metrics
    assert m.bd_rate is not None and math.isclose(m.bd_rate, 30.0, abs_tol=1e-3)  # mean of +50 % and +10 %
    assert m.bd_rate == m.bd_rates["x264"]
    assert math.isclose(m.bd_rates["x265"], ((1.5 / 0.8 - 1) * 100 + (1.1 / 0.8 - 1) * 100) / 2, abs_tol=1e-3)
    assert math.isclose(m.per_clip["a:10"].bd_rate["x264"], 50.0, abs_tol=1e-3)
    assert m.per_clip["h:10"].held_out is True
    assert math.isclose(m.psnr_y, 34.5) and m.ssim_y == 0.9
    assert math.isclose(m.encode_fps, 20.0) and math.isclose(m.decode_fps, 40.0)
    assert m.bd_rate_vs_best is None


def test_the_first_correct_version_is_adopted_and_later_ones_must_beat_it():
    base = result({"a:10": 2.0, "b:10": 2.0, "h:10": 2.0})
    assert analyze(base, ANCHORS, None, SPEC).adopt
    better = analyze(result({"a:10": 1.6, "b:10": 1.6, "h:10": 2.0}), ANCHORS, base, SPEC)
    assert better.adopt and math.isclose(better.metrics.bd_rate_vs_best, -20.0, abs_tol=1e-3)
    worse = analyze(result({"a:10": 2.2, "b:10": 2.0, "h:10": 2.0}), ANCHORS, base, SPEC)
    assert not worse.adopt and "does not beat" in worse.reason


def test_a_candidate_that_overfits_and_loses_on_the_held_out_clip_is_rejected():
    base = result({"a:10": 2.0, "b:10": 2.0, "h:10": 1.5})
    found = analyze(result({"a:10": 1.2, "b:10": 1.2, "h:10": 1.6}), ANCHORS, base, SPEC)
    assert not found.adopt and "held-out clip h:10 regresses" in found.reason
    small = analyze(result({"a:10": 1.2, "b:10": 1.2, "h:10": 1.51}), ANCHORS, base, SPEC)
    assert small.adopt


def test_a_clip_that_cannot_be_scored_leaves_no_headline_number():
    found = analyze(result({"a:10": 1.0, "b:10": 100.0, "h:10": 1.0}, shift=20.0), ANCHORS,
                    result({"a:10": 2.0, "b:10": 2.0, "h:10": 2.0}), SPEC)
    assert found.metrics.bd_rate is None
    assert "do not overlap" in found.metrics.per_clip["b:10"].not_scored["x264"]
    assert not found.adopt


def test_an_implausibly_good_result_asks_a_person():
    found = analyze(result({"a:10": 0.2, "b:10": 0.2, "h:10": 1.0}), ANCHORS, None, SPEC)
    assert found.suspicious and "implausibly good" in found.suspicious


def test_a_failed_clip_is_not_scored():
    err = ErrorRecord("crash", "boom", stage="decode", clip="b:10", level=1)
    found = analyze(result({"a:10": 1.0, "b:10": 1.0, "h:10": 1.0}, [err]), ANCHORS, None, SPEC)
    assert found.metrics.bd_rate is None
    assert "candidate failed: crash" in found.metrics.per_clip["b:10"].not_scored["x264"]


def test_held_out_results_may_come_separately():
    main = result({"a:10": 1.5, "b:10": 1.5})
    held = result({"h:10": 1.2})
    found = analyze(main, ANCHORS, None, SPEC, held_out_result=held)
    assert math.isclose(found.metrics.per_clip["h:10"].bd_rate["x264"], 20.0, abs_tol=1e-3)
