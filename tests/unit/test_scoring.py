"""Scoring: BD-rate per clip and quality metric against each anchor and the best, only where
the curves share enough of their rate range, with every gap reported with its reason."""

from __future__ import annotations

import json
import math

import pytest

from aivc.evaluate.anchors import AnchorCurve, AnchorPoint
from aivc.evaluate.bdrate import InsufficientOverlap, bd_quality, bd_rate, shared_part
from aivc.evaluate.results import ClipInfo, ErrorRecord, EvaluationResult, LevelResult
from aivc.evaluate.scoring import BEST, METRICS, score, ssim_db

KBPS = [400.0, 200.0, 100.0, 50.0]
PSNR = [40.0, 37.0, 34.0, 31.0]
SSIM = [0.99, 0.98, 0.96, 0.93]


def curve(encoder: str, clip: str, factor: float = 1.0) -> AnchorCurve:
    points = [AnchorPoint(kbps=k * factor, psnr_y=p, psnr_u=p + 3, psnr_v=p + 3,
                          psnr_yuv=(6 * p + 2 * (p + 3)) / 8, ssim_y=s, encode_seconds=1.0, param=i)
              for i, (k, p, s) in enumerate(zip(KBPS, PSNR, SSIM, strict=True))]
    return AnchorCurve(encoder, clip, points, "test", {}, frames=10)


def levels(clip: str, factor: float, *, chroma: float = 0.0, luma: float = 0.0,
           rates: list[float] | None = None) -> list[LevelResult]:
    """Rate `factor` times the anchor's at its qualities; chroma/luma shift those planes (dB)."""
    out = []
    for lv, (k, p, s) in enumerate(zip(rates or KBPS, PSNR, SSIM, strict=True)):
        y, c = p + luma, p + 3 + chroma
        out.append(LevelResult(clip, lv, 10, int(k * factor * 50), k * factor, y, c, c,
                               (6 * y + 2 * c) / 8, s, 0.1, 0.1))
    return out


def result(*rows: list[LevelResult], errors: list[ErrorRecord] | None = None) -> EvaluationResult:
    res = EvaluationResult(mode="evaluate", codec_sha256="0" * 64, levels_declared=4)
    for clip_rows in rows:
        res.clips.append(ClipInfo(clip_rows[0].clip, 176, 144, 10, 25.0))
        res.levels += clip_rows
    res.errors = errors or []
    return res


def anchors_for(*clips: str) -> dict[str, dict[str, AnchorCurve]]:
    return {c: {"x264": curve("x264", c), "x265": curve("x265", c, 0.8)} for c in clips}


def test_the_score_is_bd_rate_on_psnr_yuv_per_clip_then_averaged() -> None:
    s = score(result(levels("a", 0.9), levels("b", 0.7)), anchors_for("a", "b"))
    assert s.references == ["x264", "x265"]
    assert s.clips[0].bd_rate("x264") == pytest.approx(-10.0, abs=1e-9)
    assert s.mean("x264") == pytest.approx(-20.0, abs=1e-9)
    assert s.mean("x265") == pytest.approx(((0.9 / 0.8 - 1) + (0.7 / 0.8 - 1)) * 50, abs=1e-9)
    json.dumps(s.to_dict())


def test_every_quality_metric_gets_its_own_bd_rate() -> None:
    s = score(result(levels("a", 1.0, chroma=-1.5)), anchors_for("a"))
    by = {m: s.clips[0].bd_rate("x264", m) for m in METRICS}
    assert by["psnr_y"] == pytest.approx(0.0, abs=1e-9) and by["ssim_y"] == pytest.approx(0.0, abs=1e-9)
    assert by["psnr_u"] > 10 and by["psnr_v"] > 10  # 1.5 dB worse chroma costs bits
    assert 0 < by["psnr_yuv"] < by["psnr_u"]


def test_starved_chroma_shows_in_the_score_and_against_the_best() -> None:
    best = result(levels("a", 1.0))
    starved = result(levels("a", 0.9, chroma=-3.5, luma=0.2))
    s = score(starved, anchors_for("a"), best)
    assert s.clips[0].bd_rate("x264", "psnr_y") < 0 < s.clips[0].bd_rate("x264")
    # at equal rate the candidate's 10 % saving buys back 3 dB x log2(1/0.9) of chroma
    assert s.mean_quality_delta("psnr_u") == pytest.approx(-3.5 + 3 * math.log2(1 / 0.9), abs=0.01)


def test_curves_sharing_too_little_of_their_quality_range_are_not_scored() -> None:
    s = score(result(levels("a", 1.0, luma=7.5, chroma=7.5)), anchors_for("a"))  # 37.5..47.5 dB
    assert s.mean("x264") is None
    why = s.clips[0].why_not("x264")
    assert why is not None and why.startswith("insufficient overlap") and "kbps" in why and " dB" in why


def test_a_much_worse_codec_over_the_same_qualities_is_scored_however_bad() -> None:
    s = score(result(levels("a", 6.0)), anchors_for("a"))  # six times the anchor's rate
    assert s.mean("x264") == pytest.approx(500.0, abs=1e-6)


def test_overlap_is_the_part_of_the_narrower_range_both_cover() -> None:
    assert shared_part([30, 40], [30, 40]) == 1.0
    assert shared_part([30, 40], [35, 45]) == pytest.approx(0.5)
    assert shared_part([30, 40], [41, 45]) == 0.0
    assert shared_part([30, 40], [32, 34]) == 1.0  # the narrower curve lies inside
    with pytest.raises(InsufficientOverlap, match="share 50% of the narrower one's quality range"):
        bd_rate([10, 1000], [30, 40], [10, 1000], [35, 45], min_overlap=0.8)
    assert math.isfinite(bd_rate([10, 1000], [30, 40], [10, 1000], [35, 45], min_overlap=0.5))


def test_chroma_is_compared_at_equal_rate_even_when_it_does_not_rise_with_the_rate() -> None:
    assert bd_quality([10, 100, 1000], [30, 31, 31], [10, 100, 1000], [29, 29, 29]) \
        == pytest.approx(-(1 + 2 + 2) / 3, abs=0.2)


def test_ssim_is_scored_on_a_decibel_scale() -> None:
    assert ssim_db(0.99) == pytest.approx(20.0) and ssim_db(1.0) == 100.0


def test_a_failed_or_unmeasured_clip_has_no_score_and_says_why() -> None:
    err = ErrorRecord("crash", "boom", stage="decode", clip="b", level=1)
    s = score(result(levels("a", 0.9), levels("b", 0.9), errors=[err]), anchors_for("a", "b"))
    assert s.mean("x264") is None and s.clips[0].bd_rate("x264") is not None
    assert (s.clips[1].why_not("x264") or "").startswith("candidate failed: crash")
    no_anchor = score(result(levels("c", 1.0)), anchors_for("a"))
    assert no_anchor.clips[0].why_not("x264") is None or no_anchor.references == ["x264", "x265"]


def test_the_best_is_a_reference_of_its_own() -> None:
    s = score(result(levels("a", 0.5)), anchors_for("a"), result(levels("a", 0.6)))
    assert s.references[-1] == BEST
    assert s.clips[0].bd_rate(BEST) == pytest.approx((0.5 / 0.6 - 1) * 100, abs=1e-9)
