"""Clips: built-in clips decoded by ffmpeg into 4:2:0 planes, frame/crop options, the disk
cache, raw .yuv files, the synthetic generator and one-line errors for bad clip specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aivc.codec.contract import Video
from aivc.errors import AivcError
from aivc.evaluate import clips, ffmpeg
from aivc.evaluate.clips import ClipSpec, load_clip, synthetic_clip, write_yuv


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache; no baked-clips directory, so ffmpeg really decodes."""
    monkeypatch.delenv("AIVC_CLIPS_DIR", raising=False)
    return tmp_path / "cache"


def assert_420(video: Video, width: int, height: int, frames: int) -> None:
    assert video.y.shape == (frames, height, width)
    assert video.u.shape == video.v.shape == (frames, height // 2, width // 2)
    assert all(p.dtype == np.uint8 for p in video.planes())


@pytest.mark.parametrize(("name", "width", "height", "fps"), [
    ("carphone", 176, 144, 30000 / 1001), ("bikes", 640, 272, 25.0), ("bbb720", 1280, 720, 25.0)])
def test_builtin_clips_load_by_name_as_420_planes_with_their_fps(
        cache: Path, name: str, width: int, height: int, fps: float) -> None:
    video = load_clip(f"{name}:2", cache)
    assert_420(video, width, height, 2)
    assert video.fps == pytest.approx(fps, abs=1e-3)
    assert video.y.std() > 10  # real picture content, not a blank frame


def test_a_centre_crop_is_the_middle_of_the_full_frames(cache: Path) -> None:
    full = load_clip("carphone:3", cache)
    crop = load_clip("carphone:3:64x48", cache)
    assert_420(crop, 64, 48, 3)
    x, y = (176 - 64) // 2 // 2 * 2, (144 - 48) // 2 // 2 * 2
    # the built-in source is decoded identically both times, so the crop is an exact window
    np.testing.assert_array_equal(crop.y, full.y[:, y:y + 48, x:x + 64])
    np.testing.assert_array_equal(crop.u, full.u[:, y // 2:(y + 48) // 2, x // 2:(x + 64) // 2])


def test_the_second_load_reads_the_disk_cache_without_running_ffmpeg(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_clip("carphone:4", cache)
    assert list((cache / "clips").glob("*.yuv"))

    def no_ffmpeg(*_a: Any, **_k: Any) -> None:
        raise AssertionError("ffmpeg ran although the clip was cached")

    monkeypatch.setattr(ffmpeg, "run", no_ffmpeg)
    second = load_clip("carphone:4", cache)
    for a, b in zip(first.planes(), second.planes(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert second.fps == first.fps
    with pytest.raises(AssertionError, match="ffmpeg ran"):
        load_clip("carphone:5", cache)  # a different spec is a miss


def test_a_raw_yuv_file_loads_with_its_stated_size_and_fps(tmp_path: Path, cache: Path) -> None:
    source = synthetic_clip(32, 24, frames=5)
    path = tmp_path / "clip.yuv"
    write_yuv(source, path)
    video = load_clip(f"{path}:3::32x24@30000/1001", cache)
    assert_420(video, 32, 24, 3)
    assert video.fps == pytest.approx(29.97, abs=1e-3)
    np.testing.assert_array_equal(video.y, source.y[:3])
    np.testing.assert_array_equal(video.v, source.v[:3])
    cropped = load_clip(f"{path}::16x8:32x24@25", cache)
    np.testing.assert_array_equal(cropped.y, source.y[:, 8:16, 8:24])


def test_the_synthetic_clip_is_deterministic_and_moves() -> None:
    a, b = synthetic_clip(64, 48, frames=6, seed=3), synthetic_clip(64, 48, frames=6, seed=3)
    assert_420(a, 64, 48, 6)
    for p, q in zip(a.planes(), b.planes(), strict=True):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(a.y[0], a.y[1])
    assert not np.array_equal(a.y, synthetic_clip(64, 48, frames=6, seed=4).y)


@pytest.mark.parametrize(("spec", "message"), [
    ("nosuchclip", "unknown clip 'nosuchclip'"),
    ("missing/file.mp4", "clip file not found"),
    ("carphone::63x48", "must be even"),
    ("carphone::320x240", "larger than its 176x144 frames"),
    ("carphone:0", "frame count must be positive"),
    ("clip.yuv", "needs its geometry"),
])
def test_bad_clip_specs_give_a_one_line_error(cache: Path, spec: str, message: str) -> None:
    with pytest.raises(AivcError, match=message) as info:
        load_clip(spec, cache)
    assert "\n" not in str(info.value)


def test_a_file_ffmpeg_cannot_read_gives_a_one_line_error(tmp_path: Path, cache: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(AivcError, match="cannot read video file") as info:
        load_clip(str(junk), cache)
    assert "\n" not in str(info.value)


def test_a_raw_file_that_is_not_whole_frames_is_refused(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "short.yuv"
    path.write_bytes(bytes(32 * 24 * 3 // 2 + 7))
    with pytest.raises(AivcError, match="not a whole number"):
        load_clip(f"{path}:::32x24@25", cache)


def test_clip_specs_round_trip_through_their_text_form() -> None:
    for text in ("bikes", "bikes:48", "bikes:48:320x240", "bikes::320x240", "c.yuv:30::352x288@25",
                 "bikes@100:48:320x240", "c.yuv@7:::352x288@25"):
        assert str(ClipSpec.parse(text)) == text
        assert ClipSpec.from_dict(ClipSpec.parse(text).to_dict()) == ClipSpec.parse(text)
    assert clips.parse_clip_list("carphone:8, bikes:4") == [ClipSpec("carphone", 8),
                                                             ClipSpec("bikes", 4)]


@pytest.fixture
def movie(tmp_path: Path) -> Path:
    """A small file clip with a dot in its name (ffmpeg's own test pattern)."""
    path = tmp_path / "pattern.v1.mp4"
    ffmpeg.run(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-frames:v", "12",
                "-pix_fmt", "yuv420p", "-y", str(path)], "make a test movie")
    return path


def test_a_file_clip_loaded_whole_then_cropped_gets_the_cropped_frames(cache: Path, movie: Path) -> None:
    whole = load_clip(str(movie), cache)
    cropped = load_clip(f"{movie}:6:160x120", cache)
    assert_420(whole, 320, 240, 12)
    assert_420(cropped, 160, 120, 6)
    assert np.array_equal(cropped.y, whole.y[:6, 60:180, 80:240])
    assert load_clip(str(movie), cache).y.shape == whole.y.shape  # each spec its own entry


def test_a_start_frame_selects_a_later_segment_of_the_same_source(cache: Path, movie: Path) -> None:
    whole = load_clip(str(movie), cache)
    segment = load_clip(f"{movie}@5:4:160x120", cache)
    assert_420(segment, 160, 120, 4)
    assert np.array_equal(segment.y, whole.y[5:9, 60:180, 80:240])
    assert np.array_equal(segment.v, whole.v[5:9, 30:90, 40:120])
    with pytest.raises(AivcError, match="only 2 after frame 10"):
        load_clip(f"{movie}@10:4", cache)


def test_a_start_frame_works_for_raw_files_too(tmp_path: Path, cache: Path) -> None:
    video = synthetic_clip(32, 16, 6, seed=3)
    path = tmp_path / "seg.yuv"
    write_yuv(video, path)
    segment = load_clip(f"{path}@2:3::32x16@25", cache)
    assert np.array_equal(segment.y, video.y[2:5]) and np.array_equal(segment.u, video.u[2:5])


def test_every_element_of_the_spec_and_the_source_are_in_the_cache_key(cache: Path, movie: Path) -> None:
    specs = [ClipSpec.parse(t) for t in (f"{movie}", f"{movie}:6", f"{movie}::160x120",
                                          f"{movie}@2", f"{movie}@2:6:160x120")]
    entries = {clips.cache_entry(s, movie, cache) for s in specs}
    assert len(entries) == len(specs)
    before = clips.cache_entry(specs[0], movie, cache)
    movie.write_bytes(movie.read_bytes() + b"\0")  # the source changed
    assert clips.cache_entry(specs[0], movie, cache) != before
