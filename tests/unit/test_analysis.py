"""Analysis: the metrics document (the score on PSNR-YUV, every metric, every reference) and
the adoption verdict from direct comparisons with the best, held-out clips included."""

from __future__ import annotations

import math

from aivc.api.spec import CampaignSpec
from aivc.evaluate.anchors import AnchorCurve, AnchorPoint
from aivc.evaluate.results import ClipInfo, ErrorRecord, EvaluationResult, LevelResult
from aivc.research.analysis import analyze

SPEC = CampaignSpec.from_manifest({"kind": "Campaign", "metadata": {"name": "c"}, "spec": {
    "dataset": {"clips": ["a:10", "b:10"], "heldOut": ["h:10"]},
    "evaluation": {"anchors": ["x264", "x265"]}}})
RATES = [800.0, 400.0, 200.0, 100.0]
PSNRS = [39.0, 36.0, 33.0, 30.0]


def curve(encoder: str, clip: str, scale: float) -> AnchorCurve:
    points = [AnchorPoint(kbps=r * scale, psnr_y=p, psnr_u=p + 2, psnr_v=p + 2,
                          psnr_yuv=p + 0.5, ssim_y=0.95 - i * 0.01, encode_seconds=0.1, param=i)
              for i, (r, p) in enumerate(zip(RATES, PSNRS, strict=True))]
    return AnchorCurve(encoder, clip, points, "test", {}, frames=10)


ANCHORS = {c: {"x264": curve("x264", c, 1.0), "x265": curve("x265", c, 0.8)}
           for c in ("a:10", "b:10", "h:10")}


def result(scale: dict[str, float], errors: list[ErrorRecord] | None = None, chroma: float = 0.0,
           shifted: tuple[str, ...] = (), luma: float = 0.0) -> EvaluationResult:
    """Levels at the anchor's qualities with rates scaled per clip: BD-rate = (scale - 1) * 100.

    `chroma` moves both chroma planes and `luma` the luma plane (dB, PSNR-YUV with them 6:1:1);
    the `shifted` clips sit 7.5 dB higher, sharing a quarter of the anchor's quality range.
    """
    levels = []
    for clip, s in scale.items():
        shift = 7.5 if clip in shifted else 0.0
        for i, (r, p) in enumerate(zip(RATES, PSNRS, strict=True)):
            y, c = p + shift + luma, p + 2 + chroma + shift
            yuv = p + 0.5 + shift + chroma / 4 + luma * 6 / 8
            levels.append(LevelResult(clip, i, 10, int(r * s * 10 / 8 / 25), r * s, y, c, c,
                                      yuv, 0.95 - i * 0.01, 0.5, 0.25))
    clips = [ClipInfo(c, 64, 48, 10, 25.0) for c in scale]
    return EvaluationResult("evaluate", "sha", 4, clips, levels, errors or [])


def test_metrics_are_means_over_the_campaign_clips_with_per_clip_detail():
    m = analyze(result({"a:10": 1.5, "b:10": 1.1, "h:10": 1.0}), ANCHORS, None, SPEC).metrics
    assert m.bd_rate is not None and math.isclose(m.bd_rate, 30.0, abs_tol=1e-3)  # +50 % and +10 %
    assert m.bd_rate == m.bd_rates["x264"]
    assert math.isclose(m.bd_rates["x265"], ((1.5 / 0.8 - 1) * 100 + (1.1 / 0.8 - 1) * 100) / 2,
                        abs_tol=1e-3)
    assert set(m.by_metric) == {"psnr_yuv", "psnr_y", "psnr_u", "psnr_v", "ssim_y"}
    assert math.isclose(m.by_metric["psnr_y"], 30.0, abs_tol=1e-3)
    assert math.isclose(m.per_clip["a:10"].bd_rate["x264"], 50.0, abs_tol=1e-3)
    assert m.per_clip["h:10"].held_out is True and not m.per_clip["a:10"].held_out
    assert math.isclose(m.quality.psnr_yuv or 0, 35.0) and math.isclose(m.quality.psnr_u or 0, 36.5)
    assert math.isclose(m.encode_fps or 0, 20.0) and math.isclose(m.decode_fps or 0, 40.0)
    assert m.bd_rate_vs_best is None


def test_the_first_correct_version_is_adopted_and_later_ones_must_beat_it_directly():
    base = result({"a:10": 2.0, "b:10": 2.0, "h:10": 2.0})
    assert analyze(base, ANCHORS, None, SPEC).adopt
    better = analyze(result({"a:10": 1.6, "b:10": 1.6, "h:10": 1.9}), ANCHORS, base, SPEC)
    assert better.adopt and math.isclose(better.metrics.bd_rate_vs_best or 0, -20.0, abs_tol=1e-3)
    assert "vs the best -20.00%" in better.reason
    worse = analyze(result({"a:10": 2.2, "b:10": 2.0, "h:10": 2.0}), ANCHORS, base, SPEC)
    assert not worse.adopt and "adoption needs -1.00% or better" in worse.reason


def test_a_candidate_that_overfits_and_loses_on_the_held_out_clip_is_rejected():
    base = result({"a:10": 2.0, "b:10": 2.0, "h:10": 1.5})
    found = analyze(result({"a:10": 1.2, "b:10": 1.2, "h:10": 1.6}), ANCHORS, base, SPEC)
    assert not found.adopt and "held-out clip h:10 regresses" in found.reason


def test_a_candidate_that_starves_chroma_is_rejected_though_luma_gains():
    base = result({"a:10": 2.0, "b:10": 2.0, "h:10": 2.0})
    found = analyze(result({"a:10": 1.5, "b:10": 1.5, "h:10": 1.5}, chroma=-2.0), ANCHORS, base, SPEC)
    assert found.metrics.bd_rate_vs_best is not None and found.metrics.bd_rate_vs_best < -10
    assert not found.adopt and "PSNR-U is -0.75 dB vs the best at equal rate" in found.reason
    assert math.isclose(found.metrics.chroma_vs_best["psnr_u"], -2 + 3 * math.log2(2 / 1.5), abs_tol=1e-3)


def test_a_candidate_that_buys_chroma_with_luma_is_rejected_though_psnr_yuv_gains():
    base = result({"a:10": 2.0, "b:10": 2.0, "h:10": 2.0})
    found = analyze(result({"a:10": 1.96, "b:10": 1.96, "h:10": 1.96}, chroma=2.0, luma=-0.3),
                    ANCHORS, base, SPEC)
    assert found.metrics.bd_rate_vs_best is not None and found.metrics.bd_rate_vs_best < -5
    # 0.3 dB of luma is 2^(0.3/3) more bits on these curves (3 dB per doubling), less the 2 %
    luma = (0.98 * 2 ** (0.3 / 3) - 1) * 100
    assert found.metrics.luma_vs_best is not None
    assert math.isclose(found.metrics.luma_vs_best, luma, abs_tol=0.05)
    assert not found.adopt and "chroma bought with luma" in found.reason
    assert f"BD-rate (PSNR-Y) vs the best is {found.metrics.luma_vs_best:+.2f}%" in found.reason
    within = analyze(result({"a:10": 1.9, "b:10": 1.9, "h:10": 1.9}, chroma=1.0, luma=-0.05),
                     ANCHORS, base, SPEC)
    assert within.adopt and "PSNR-Y " in within.reason, within.reason


def test_a_clip_that_cannot_be_scored_leaves_no_score_and_the_reason_with_both_ranges():
    found = analyze(result({"a:10": 1.0, "b:10": 1.0, "h:10": 1.0}, shifted=("b:10",)), ANCHORS,
                    result({"a:10": 2.0, "b:10": 2.0, "h:10": 2.0}), SPEC)
    assert found.metrics.bd_rate is None and not found.adopt
    why = found.metrics.per_clip["b:10"].not_scored["x264"]
    assert why.startswith("insufficient overlap") and "reference 100.0–800.0 kbps, 30.50–39.50 dB" in why
    assert "no score against the anchor: b:10: insufficient overlap" in found.reason


def test_an_implausibly_good_result_asks_a_person():
    found = analyze(result({"a:10": 0.3, "b:10": 0.3, "h:10": 1.0}), ANCHORS, None, SPEC)
    assert found.suspicious and "implausibly good" in found.suspicious


def test_a_failed_clip_is_not_scored():
    err = ErrorRecord("crash", "boom", stage="decode", clip="b:10", level=1)
    found = analyze(result({"a:10": 1.0, "b:10": 1.0, "h:10": 1.0}, [err]), ANCHORS, None, SPEC)
    assert found.metrics.bd_rate is None
    assert "candidate failed: crash" in found.metrics.per_clip["b:10"].not_scored["x264"]


def test_held_out_results_may_come_separately_and_are_needed_against_a_best():
    main = result({"a:10": 1.5, "b:10": 1.5})
    best = result({"a:10": 2.0, "b:10": 2.0, "h:10": 2.0})
    found = analyze(main, ANCHORS, best, SPEC, held_out_result=result({"h:10": 1.2}))
    assert math.isclose(found.metrics.per_clip["h:10"].bd_rate["x264"], 20.0, abs_tol=1e-3)
    assert found.adopt
    without = analyze(main, ANCHORS, best, SPEC)
    assert not without.adopt and "held-out clip h:10 cannot be compared" in without.reason


def test_a_held_out_clip_too_far_ahead_for_a_bd_rate_passes_only_by_dominating_the_best():
    best = result({"a:10": 2.0, "b:10": 2.0, "h:10": 2.0})
    # 7.5 dB higher on the held-out clip: the curves share too little quality for a BD-rate
    ahead = analyze(result({"a:10": 1.5, "b:10": 1.5, "h:10": 1.0}, shifted=("h:10",)), ANCHORS,
                    best, SPEC)
    assert ahead.metrics.per_clip["h:10"].not_scored["best"].startswith("insufficient overlap")
    assert ahead.adopt and "h:10 dominates every rate point of the best" in ahead.reason
    # as far ahead in quality, but only at ten times the rate: the best's cheap points stand
    costly = analyze(result({"a:10": 1.5, "b:10": 1.5, "h:10": 20.0}, shifted=("h:10",)), ANCHORS,
                     best, SPEC)
    assert not costly.adopt and "held-out clip h:10 cannot be compared with the best" in costly.reason
    # and a failure on the held-out clip never counts as dominating
    err = ErrorRecord("crash", "boom", stage="decode", clip="h:10", level=3)
    broken = analyze(result({"a:10": 1.5, "b:10": 1.5, "h:10": 1.0}, [err], shifted=("h:10",)),
                     ANCHORS, best, SPEC)
    assert not broken.adopt
