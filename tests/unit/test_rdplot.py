"""RD plots are real PNG images with the candidate and the anchors on one set of axes."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image

from aivc.evaluate.anchors import AnchorCurve, AnchorPoint
from aivc.evaluate.rdplot import plot_rd, plot_result
from aivc.evaluate.results import ClipInfo, EvaluationResult, LevelResult


def test_plot_rd_writes_a_png_of_the_requested_size(tmp_path: Path) -> None:
    out = plot_rd(tmp_path / "sub" / "rd.png",
                  [("x264", [50, 100, 200, 400], [31, 34, 37, 40]), ("mine", [60, 90], [32, 35])],
                  "carphone")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(out)
    assert image.shape[:2] == (480, 640)
    assert image[..., :3].std() > 0.05  # lines and text, not a blank canvas


def test_a_result_is_plotted_per_clip_even_with_an_empty_curve(tmp_path: Path) -> None:
    res = EvaluationResult(mode="evaluate", codec_sha256="0" * 64, levels_declared=2)
    res.clips = [ClipInfo("a", 176, 144, 8, 25.0), ClipInfo("b", 176, 144, 8, 25.0)]
    res.levels = [LevelResult("a", lv, 8, 1000, k, p, p, p, p, 0.9, 0.1, 0.1)
                  for lv, (k, p) in enumerate([(300.0, 38.0), (100.0, 33.0)])]
    points = [AnchorPoint(k, p, p, p, p, 0.9, 1.0, i) for i, (k, p) in enumerate([(200, 39), (80, 34)])]
    anchors = {"a": {"x264": AnchorCurve("x264", "a", points, "v", {}, 8)}}
    out = plot_result(tmp_path / "rd.png", res, anchors, title="two clips")
    image = matplotlib.image.imread(out)
    assert image.shape[1] > image.shape[0]  # two panels side by side
