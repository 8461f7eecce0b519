"""Built-in clips baked at image build time give exactly the pixels ffmpeg decodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aivc.evaluate import clips
from aivc.evaluate.clips import ClipSpec


@pytest.fixture(scope="module")
def baked_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("baked")
    # Only carphone: baking all three clips takes a few hundred MB; the code path is the same.
    video = clips._decode(clips.builtin_path("carphone"), ClipSpec("carphone"))
    clips.write_yuv(video, out / "carphone.yuv")
    (out / "carphone.json").write_text(
        f'{{"width": {video.width}, "height": {video.height}, "frames": {video.frames}, '
        f'"fps": {video.fps}}}')
    return out


@pytest.mark.parametrize("text", ["carphone:6", "carphone:5:96x64", "carphone:3:174x142"])
def test_baked_clip_matches_the_ffmpeg_decode(baked_dir: Path, tmp_path: Path, text: str) -> None:
    spec = ClipSpec.parse(text)
    baked = clips.baked_clip(spec, baked_dir)
    decoded = clips.load_clip(spec, cache_dir=tmp_path)
    assert baked is not None
    for a, b in zip(baked.planes(), decoded.planes(), strict=True):
        assert a.shape == b.shape and np.array_equal(a, b)
    assert baked.fps == pytest.approx(decoded.fps)


def test_clips_without_a_baked_copy_are_not_served_from_it(baked_dir: Path) -> None:
    assert clips.baked_clip(ClipSpec.parse("bikes:4"), baked_dir) is None
