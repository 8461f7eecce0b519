"""Rate–distortion of the reference codecs on real frames of the built-in clips.

Every number comes from real encodes and decodes of the first frames of carphone and bikes
(themselves H.264-compressed sources, so these are relative comparisons). The points and the
BD-rate between the two codecs are golden numbers in `tests/expected/reference-rd.json`: a
change to a reference codec that moves them fails here until the file is regenerated
(`AIVC_REGEN_EXPECTED=1`) and the diff reviewed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from aivc.codec.contract import as_video
from aivc.codec.reference import TEMPLATE, V0, reference_source
from aivc.evaluate.bdrate import bd_rate
from aivc.evaluate.clips import load_clip
from aivc.evaluate.quality import kbps, measure

pytestmark = pytest.mark.slow

CLIPS = ("carphone:10", "bikes:10")
GOLDEN = Path(__file__).resolve().parents[1] / "expected" / "reference-rd.json"
KBPS_TOLERANCE = 0.002
"""Relative: encoders are deterministic, this leaves room for numpy's own rounding."""
PSNR_TOLERANCE = 0.01
BD_TOLERANCE = 0.1
# Where the levels must sit (PSNR-Y, dB) to overlap the x264 anchor curves (crf 22..37).
QUALITY_SPAN = {"carphone:10": (28.0, 32.5, 40.0, 46.0), "bikes:10": (35.0, 40.5, 46.0, 52.0)}


@pytest.fixture(scope="module")
def curves(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(kbps, PSNR-Y) per level of each reference codec on each clip, measured once."""
    cache: Path = tmp_path_factory.mktemp("clips")
    out = {}
    for clip in CLIPS:
        video = load_clip(clip, cache_dir=cache)
        for name in (V0, TEMPLATE):
            ns: dict[str, Any] = {"__name__": "aivc_candidate"}
            exec(compile(reference_source(name), f"{name}.py", "exec"), ns)
            points = []
            for level in range(ns["LEVELS"]):
                bitstream = ns["encode"](video, level)
                decoded = as_video(ns["decode"](bitstream), video.fps)
                points.append((kbps(len(bitstream), video.frames, video.fps),
                               measure(video, decoded).psnr_y))
            out[(name, clip)] = points
    return out


def _bd(curves: dict[tuple[str, str], list[tuple[float, float]]], clip: str) -> float:
    intra, inter = curves[(V0, clip)], curves[(TEMPLATE, clip)]
    return bd_rate([k for k, _ in intra], [p for _, p in intra], [k for k, _ in inter],
                   [p for _, p in inter])


def test_the_reference_codecs_keep_their_golden_rate_distortion_points(curves):
    found = {"points": {f"{name} {clip}": [[round(k, 3), round(p, 4)] for k, p in points]
                        for (name, clip), points in sorted(curves.items())},
             "bd_rate_inter_vs_intra": {clip: round(_bd(curves, clip), 3) for clip in CLIPS}}
    if os.environ.get("AIVC_REGEN_EXPECTED"):
        GOLDEN.write_text(json.dumps(found, indent=1) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert sorted(found["points"]) == sorted(golden["points"])
    for key, points in golden["points"].items():
        for (k, p), (gk, gp) in zip(found["points"][key], points, strict=True):
            assert abs(k - gk) <= KBPS_TOLERANCE * gk, f"{key}: {k} kbps, golden {gk}"
            assert abs(p - gp) <= PSNR_TOLERANCE, f"{key}: {p} dB, golden {gp}"
    for clip, value in golden["bd_rate_inter_vs_intra"].items():
        assert abs(found["bd_rate_inter_vs_intra"][clip] - value) <= BD_TOLERANCE, clip


@pytest.mark.parametrize("clip", CLIPS)
def test_motion_compensation_beats_intra_coding_on_real_footage(curves, clip):
    intra, inter = curves[(V0, clip)], curves[(TEMPLATE, clip)]
    saving = bd_rate([k for k, _ in intra], [p for _, p in intra],
                     [k for k, _ in inter], [p for _, p in inter])
    assert saving < -40.0, f"inter-dct vs intra-dct on {clip}: BD-rate {saving:+.1f}%"


@pytest.mark.parametrize("name", [V0, TEMPLATE])
@pytest.mark.parametrize("clip", CLIPS)
def test_levels_fall_in_rate_and_quality_across_the_anchor_range(curves, name, clip):
    points = curves[(name, clip)]
    rates, quality = [k for k, _ in points], [p for _, p in points]
    assert rates == sorted(rates, reverse=True) and quality == sorted(quality, reverse=True)
    floor, low_top, high_bottom, ceiling = QUALITY_SPAN[clip]
    assert floor <= quality[-1] <= low_top, f"{name} {clip}: lowest level at {quality[-1]:.1f} dB"
    assert high_bottom <= quality[0] <= ceiling, f"{name} {clip}: level 0 at {quality[0]:.1f} dB"
