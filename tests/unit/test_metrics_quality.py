"""Quality metrics (aivc.evaluate.quality): known values, the clip-level definitions, and
agreement with ffmpeg's psnr and ssim filters on real frames."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from aivc.codec.contract import Video
from aivc.errors import ContractError
from aivc.evaluate import ffmpeg
from aivc.evaluate.clips import read_yuv, synthetic_clip, write_yuv
from aivc.evaluate.quality import PSNR_CAP_DB, kbps, measure, mse, psnr, ssim


def _ssim_by_the_book(a: np.ndarray, b: np.ndarray) -> float:
    """ffmpeg's C algorithm written as plain loops: 4x4 block sums, 8x8 windows, step 4."""
    a, b = a.astype(np.int64), b.astype(np.int64)
    h4, w4 = a.shape[0] // 4, a.shape[1] // 4
    c1, c2 = int(0.01 * 0.01 * 255 * 255 * 64 + 0.5), int(0.03 * 0.03 * 255 * 255 * 64 * 63 + 0.5)
    total = 0.0
    for by in range(h4 - 1):
        for bx in range(w4 - 1):
            wa = a[4 * by:4 * by + 8, 4 * bx:4 * bx + 8]
            wb = b[4 * by:4 * by + 8, 4 * bx:4 * bx + 8]
            s1, s2 = int(wa.sum()), int(wb.sum())
            ss, s12 = int((wa * wa + wb * wb).sum()), int((wa * wb).sum())
            var = ss * 64 - s1 * s1 - s2 * s2
            cov = s12 * 64 - s1 * s2
            total += (2 * s1 * s2 + c1) * (2 * cov + c2) / ((s1 * s1 + s2 * s2 + c1) * (var + c2))
    return total / ((h4 - 1) * (w4 - 1))


def test_an_error_of_one_everywhere_is_an_mse_of_one_and_48_13_db() -> None:
    a = np.full((3, 16, 16), 100, np.uint8)
    assert mse(a, a + 1) == 1.0
    assert psnr(a, a + 1) == pytest.approx(10 * np.log10(255 ** 2), abs=1e-12)
    assert psnr(a, a + 1, peak=1.0) == pytest.approx(0.0, abs=1e-12)


def test_identical_planes_are_capped_at_100_db_not_infinity() -> None:
    a = synthetic_clip().y
    assert psnr(a, a.copy()) == PSNR_CAP_DB == 100.0


def test_clip_psnr_is_the_psnr_of_the_mean_frame_mse_not_the_mean_frame_psnr() -> None:
    ref = np.full((2, 8, 8), 128, np.uint8)
    dist = ref.copy()
    dist[0] += 1  # frame MSEs 1 and 100
    dist[1] += 10
    expected = 10 * np.log10(255 ** 2 / 50.5)
    assert psnr(ref, dist) == pytest.approx(expected, abs=1e-12)
    per_frame_mean = np.mean([psnr(ref[t], dist[t]) for t in range(2)])
    assert abs(psnr(ref, dist) - per_frame_mean) > 5  # the two definitions really differ here


@pytest.mark.parametrize(("width", "height"), [(64, 48), (88, 72), (37, 29)])
def test_ssim_equals_the_filter_algorithm_written_as_loops(width: int, height: int) -> None:
    rng = np.random.default_rng(width)
    a = rng.integers(0, 256, (height, width), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, b) == pytest.approx(_ssim_by_the_book(a, b), abs=1e-12)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert 0.0 < ssim(a, b) < 0.99


def test_clip_ssim_is_the_mean_of_the_frame_ssims() -> None:
    video = synthetic_clip(64, 48, frames=3)
    noisy = np.clip(video.y.astype(int) + np.arange(3)[:, None, None] * 7, 0, 255).astype(np.uint8)
    frames = [ssim(video.y[t], noisy[t]) for t in range(3)]
    assert ssim(video.y, noisy) == pytest.approx(np.mean(frames), abs=1e-12)


def test_measure_weights_psnr_yuv_six_to_one_to_one() -> None:
    ref = synthetic_clip(64, 48, frames=2)
    dist = Video(ref.y // 2 * 2, ref.u // 4 * 4, ref.v // 8 * 8, ref.fps)
    q = measure(ref, dist)
    assert q.psnr_y == pytest.approx(psnr(ref.y, dist.y))
    assert q.psnr_yuv == pytest.approx((6 * q.psnr_y + q.psnr_u + q.psnr_v) / 8)
    assert q.psnr_y > q.psnr_u > q.psnr_v  # coarser quantisation, lower PSNR
    assert q.ssim_y == pytest.approx(ssim(ref.y, dist.y))


def test_a_decoded_video_of_another_shape_is_a_contract_error() -> None:
    ref = synthetic_clip(64, 48, frames=3)
    short = Video(ref.y[:2], ref.u[:2], ref.v[:2], ref.fps)
    with pytest.raises(ContractError, match="decoded Y plane has shape"):
        measure(ref, short)


def test_kbps_is_eight_times_bytes_over_duration() -> None:
    assert kbps(1000, 25, 25.0) == pytest.approx(8.0)
    assert kbps(1000, 30, 30000 / 1001) == pytest.approx(8.0 * 1000 / (30 / (30000 / 1001)) / 1000)


def _ffmpeg_report(ref: Path, dist: Path, size: str, *flags: str) -> str:
    raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", size]
    cmd = [ffmpeg.tool("ffmpeg"), "-hide_banner", "-nostdin", *flags, *raw, "-i", str(dist), *raw,
           "-i", str(ref), "-lavfi", "[0:v][1:v]psnr;[0:v][1:v]ssim", "-f", "null", "-"]
    return subprocess.run(cmd, capture_output=True, check=True).stderr.decode()


@pytest.fixture(scope="module")
def x264_pair(carphone_short: Video, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """carphone's first 10 frames and an x264 (crf 35) encode of them, as raw files."""
    tmp = tmp_path_factory.mktemp("metrics")
    ref, stream, dist = tmp / "ref.yuv", tmp / "x.h264", tmp / "dist.yuv"
    write_yuv(carphone_short, ref)
    ffmpeg.run(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "176x144", "-i", str(ref),
                "-c:v", "libx264", "-crf", "35", "-f", "h264", str(stream)], "encode")
    ffmpeg.run(["-i", str(stream), "-f", "rawvideo", "-pix_fmt", "yuv420p", str(dist)], "decode")
    return ref, dist


def test_psnr_and_ssim_agree_with_ffmpegs_filters_on_real_frames(x264_pair: tuple[Path, Path]) -> None:
    ref_path, dist_path = x264_pair
    ref = Video(*read_yuv(ref_path, 176, 144), 25.0)
    dist = Video(*read_yuv(dist_path, 176, 144), 25.0)
    q = measure(ref, dist)
    report = _ffmpeg_report(ref_path, dist_path, "176x144")
    found = re.search(r"PSNR y:(\S+) u:(\S+) v:(\S+)", report)
    assert found, report
    for ours, theirs in zip((q.psnr_y, q.psnr_u, q.psnr_v), map(float, found.groups()), strict=True):
        assert ours == pytest.approx(theirs, abs=0.01)
    assert 25 < q.psnr_y < 40  # a real lossy encode, not identical frames
    theirs_ssim = float(re.search(r"SSIM Y:(\S+)", report).group(1))  # type: ignore[union-attr]
    assert q.ssim_y == pytest.approx(theirs_ssim, abs=0.002)
    assert q.ssim_y == pytest.approx(theirs_ssim, abs=1e-5)  # in fact to the printed digits


def test_chroma_ssim_matches_ffmpegs_c_code(x264_pair: tuple[Path, Path]) -> None:
    """ffmpeg's x86 SIMD reads ~1e-3 high on 88-pixel-wide chroma; its C code equals ours."""
    ref_path, dist_path = x264_pair
    ref, dist = read_yuv(ref_path, 176, 144), read_yuv(dist_path, 176, 144)
    report = _ffmpeg_report(ref_path, dist_path, "176x144", "-cpuflags", "0")
    found = re.search(r"SSIM Y:(\S+) \(\S+\) U:(\S+) \(\S+\) V:(\S+)", report)
    assert found, report
    for ours_plane, dist_plane, theirs in zip(ref, dist, map(float, found.groups()), strict=True):
        assert ssim(ours_plane, dist_plane) == pytest.approx(theirs, abs=1e-5)
