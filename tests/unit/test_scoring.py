"""Scoring: BD-rate per clip against each anchor and the current best, with every clip that
cannot be scored reported with its reason."""

from __future__ import annotations

import json

import pytest

from aivc.evaluate.anchors import AnchorCurve, AnchorPoint
from aivc.evaluate.results import ClipInfo, ErrorRecord, EvaluationResult, LevelResult
from aivc.evaluate.scoring import BASELINE, Score, score

KBPS = [400.0, 200.0, 100.0, 50.0]
PSNR = [40.0, 37.0, 34.0, 31.0]


def curve(encoder: str, clip: str, factor: float = 1.0) -> AnchorCurve:
    points = [AnchorPoint(kbps=k * factor, psnr_y=p, psnr_yuv=p, ssim_y=0.9, encode_seconds=1.0,
                          param=i) for i, (k, p) in enumerate(zip(KBPS, PSNR, strict=True))]
    return AnchorCurve(encoder, clip, points, "test", {}, frames=10)


def result(factors: dict[str, float], levels: int = 4) -> EvaluationResult:
    """A candidate needing `factor` times the reference rate for the same PSNR on each clip."""
    res = EvaluationResult(mode="evaluate", codec_sha256="0" * 64, levels_declared=levels)
    for clip, factor in factors.items():
        res.clips.append(ClipInfo(clip, 176, 144, 10, 25.0))
        for lv in range(levels):
            k = KBPS[lv] * factor
            res.levels.append(LevelResult(clip, lv, 10, int(k * 50), k, PSNR[lv], PSNR[lv] + 3,
                                          PSNR[lv] + 3, PSNR[lv], 0.9, 0.1, 0.1))
    return res


def anchors_for(*clips: str, x265_factor: float = 0.8) -> dict[str, dict[str, AnchorCurve]]:
    return {c: {"x264": curve("x264", c), "x265": curve("x265", c, x265_factor)} for c in clips}


def test_bd_rate_per_clip_and_the_mean_against_each_anchor() -> None:
    s = score(result({"a": 0.9, "b": 0.7}), anchors_for("a", "b"))
    assert s.references == ["x264", "x265"]
    by_clip = {c.clip: c.bd_rate for c in s.clips}
    assert by_clip["a"]["x264"] == pytest.approx(-10.0, abs=1e-9)
    assert by_clip["b"]["x265"] == pytest.approx((0.7 / 0.8 - 1) * 100, abs=1e-9)
    assert s.mean_bd_rate["x264"] == pytest.approx(-20.0, abs=1e-9)
    assert s.headline == s.mean_bd_rate["x264"]
    assert s.complete("x264") and s.complete("x265") and not s.failures()


def test_a_baseline_result_is_scored_like_another_anchor() -> None:
    s = score(result({"a": 0.5}), anchors_for("a"), baseline=result({"a": 0.6}))
    assert s.references[-1] == BASELINE
    assert s.clips[0].bd_rate[BASELINE] == pytest.approx((0.5 / 0.6 - 1) * 100, abs=1e-9)


def test_clips_that_cannot_be_scored_are_reported_with_the_reason_not_dropped() -> None:
    res = result({"good": 0.9, "one-level": 0.9}, levels=4)
    res.levels = [r for r in res.levels if r.clip == "good" or r.level == 0]
    res.clips.append(ClipInfo("no-anchor", 176, 144, 10, 25.0))
    s = score(res, anchors_for("good", "one-level"), baseline=result({"good": 1.0}))
    failures = {(clip, ref): why for clip, ref, why in s.failures()}
    assert "1 point" in failures["one-level", "x264"]
    assert failures["no-anchor", "x265"] == "no x265 anchor for this clip"
    assert failures["one-level", BASELINE] == "the baseline has no results for this clip"
    assert [c.clip for c in s.clips] == ["good", "one-level", "no-anchor"]
    assert s.mean_bd_rate["x264"] == pytest.approx(-10.0, abs=1e-9)  # the one clip that counts
    assert not s.complete("x264")


def test_a_clip_the_candidate_failed_on_names_the_failure() -> None:
    res = result({"a": 0.9, "b": 0.9})
    res.errors.append(ErrorRecord("crash", "Traceback ...\nZeroDivisionError: division by zero",
                                  stage="encode", clip="b", level=2))
    s = score(res, anchors_for("a", "b"))
    assert s.clips[1].failures["x264"] == "candidate failed: crash: ZeroDivisionError: division by zero"
    assert "x264" in s.clips[0].bd_rate
    assert s.mean_bd_rate["x264"] == pytest.approx(-10.0, abs=1e-9)


def test_no_scorable_clip_gives_no_mean_rather_than_zero() -> None:
    s = score(result({"a": 0.9}, levels=1), anchors_for("a"))
    assert s.mean_bd_rate == {"x264": None, "x265": None}
    assert s.headline is None


def test_scores_round_trip_through_json() -> None:
    s = score(result({"a": 0.9}), anchors_for("a"), baseline=result({"a": 1.0}))
    assert Score.from_dict(json.loads(json.dumps(s.to_dict()))) == s
