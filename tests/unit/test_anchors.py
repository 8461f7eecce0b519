"""Anchor curves: real x264/x265/AV1 encodes of carphone, measured, cached and reloaded."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from aivc.errors import AivcError
from aivc.evaluate import anchors
from aivc.evaluate.anchors import (
    AnchorCurve,
    anchor_curves,
    encode_point,
    parse_encoders,
    pick_setup,
)
from aivc.evaluate.clips import load_clip, write_yuv
from aivc.evaluate.quality import kbps

CLIP = "carphone:16"  # the same clip test_bdrate uses, so the session cache serves both


@pytest.fixture(scope="module")
def curves(aivc_cache: Path) -> dict[str, AnchorCurve]:
    return anchor_curves(CLIP, cache_dir=aivc_cache)


@pytest.mark.slow
def test_each_encoder_gives_four_points_from_high_to_low_quality(curves: dict[str, AnchorCurve]) -> None:
    assert list(curves) == ["x264", "x265", "av1"]
    for name, curve in curves.items():
        assert curve.encoder == name and curve.clip == CLIP and curve.frames == 16
        assert len(curve.points) == 4
        assert curve.kbps == sorted(curve.kbps, reverse=True), name
        assert curve.psnr_y == sorted(curve.psnr_y, reverse=True), name
        assert min(curve.psnr_y) > 26 and max(curve.psnr_y) < 45, (name, curve.psnr_y)
        assert [p.param for p in curve.points] == curve.settings["crf"]
        assert curve.encode_fps > 0


@pytest.mark.slow
def test_rates_come_from_the_stream_sizes(curves: dict[str, AnchorCurve], aivc_cache: Path) -> None:
    video = load_clip(CLIP, aivc_cache)
    for curve in curves.values():
        for p in curve.points:
            assert p.bytes > 100
            assert p.kbps == pytest.approx(kbps(p.bytes, video.frames, video.fps))


@pytest.mark.slow
def test_curves_record_the_library_versions_and_settings(curves: dict[str, AnchorCurve]) -> None:
    assert "libx264" in curves["x264"].encoder_version
    assert "libx265" in curves["x265"].encoder_version
    assert curves["av1"].settings["codec"] in curves["av1"].encoder_version
    assert "unknown" not in " ".join(c.encoder_version for c in curves.values())
    assert curves["x264"].settings["threads"] == anchors.ANCHOR_THREADS


@pytest.mark.slow
def test_a_second_request_is_served_from_the_cache_without_encoding(
        curves: dict[str, AnchorCurve], aivc_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_encoding(*_a: Any, **_k: Any) -> None:
        raise AssertionError("encoded although the curve was cached")

    monkeypatch.setattr(anchors, "encode_point", no_encoding)
    again = anchor_curves(CLIP, ("av1", "x264"), cache_dir=aivc_cache)
    assert list(again) == ["av1", "x264"]
    assert again["x264"].to_dict() == curves["x264"].to_dict()


def test_changed_settings_are_a_cache_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = anchor_curves("carphone:4", ["x264"], cache_dir=tmp_path)["x264"]
    setup = anchors.SETUPS["x264"][0]
    monkeypatch.setitem(anchors.SETUPS, "x264", (dataclasses.replace(setup, params=(20, 40)),))
    second = anchor_curves("carphone:4", ["x264"], cache_dir=tmp_path)["x264"]
    assert [p.param for p in first.points] == list(setup.params)
    assert [p.param for p in second.points] == [20, 40]
    assert len(list((tmp_path / "anchors").glob("*.json"))) == 2


@pytest.mark.slow
def test_curves_round_trip_through_json(curves: dict[str, AnchorCurve]) -> None:
    for curve in curves.values():
        assert AnchorCurve.from_dict(json.loads(json.dumps(curve.to_dict()))) == curve


def test_the_counted_x264_stream_carries_no_informational_sei(tmp_path: Path) -> None:
    video = load_clip("carphone:4", tmp_path)
    source = tmp_path / "src.yuv"
    write_yuv(video, source)
    point = encode_point(video, source, pick_setup("x264", 176, 144), 30, tmp_path)
    stream = (tmp_path / "crf30.h264").read_bytes()
    assert len(stream) == point.bytes
    assert b"x264 - core" not in stream  # 700 bytes of option text, useless to a decoder


def test_av1_falls_back_to_libaom_for_clips_below_svts_64_pixel_minimum() -> None:
    assert pick_setup("av1", 176, 144).codec == "libsvtav1"
    assert pick_setup("av1", 64, 48).codec == "libaom-av1"


@pytest.mark.parametrize("text", ["x264,vp9", "", " , "])
def test_unknown_encoders_are_refused_with_the_choices(text: str) -> None:
    with pytest.raises(AivcError, match="choose from x264, x265, av1"):
        parse_encoders(text)
    assert parse_encoders(" x265 ,av1") == ["x265", "av1"]
