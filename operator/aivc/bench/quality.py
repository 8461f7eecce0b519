"""Bench section `metrics`: PSNR and SSIM throughput on 720p frames, ours vs ffmpeg's filters.

The reference is the first frames of bbb720 (1280×720); the distorted copy is an x264
encode of them. Both implementations measure the same frames in the same run. ffmpeg's
time includes its start-up and reading two raw files from disk; ours starts from arrays
in memory (loading is not part of measuring in the evaluator either).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from aivc.codec.contract import Video
from aivc.evaluate import ffmpeg
from aivc.evaluate.clips import load_clip, planes_from_buffer, write_yuv
from aivc.evaluate.quality import measure, psnr, ssim

CLIP = "bbb720:30"
CRF = 32


def run() -> dict[str, Any]:
    ref = load_clip(CLIP)
    with tempfile.TemporaryDirectory(prefix="aivc-bench-") as tmp:
        ref_path, dist_path = Path(tmp) / "ref.yuv", Path(tmp) / "dist.yuv"
        write_yuv(ref, ref_path)
        dist = _x264_roundtrip(ref, ref_path, Path(tmp))
        write_yuv(dist, dist_path)
        rows = _ours(ref, dist) + _theirs(ref, ref_path, dist_path)
    return {"title": f"Metrics: PSNR and SSIM on {ref.frames} frames of {ref.width}x{ref.height} "
                     f"({CLIP} vs x264 crf {CRF})",
            "rows": rows, "notes": __doc__.split("\n\n", 1)[1].strip()}


def _x264_roundtrip(ref: Video, ref_path: Path, tmp: Path) -> Video:
    out = tmp / "dist.h264"
    ffmpeg.run(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{ref.width}x{ref.height}",
                "-framerate", ffmpeg.rate_arg(ref.fps), "-i", str(ref_path), "-c:v", "libx264",
                "-preset", "veryfast", "-crf", str(CRF), "-f", "h264", str(out)], "encode")
    raw = ffmpeg.run(["-i", str(out), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"], "decode").stdout
    return Video(*planes_from_buffer(np.frombuffer(raw, np.uint8), ref.width, ref.height, "x264"),
                 ref.fps)


def _row(metric: str, impl: str, frames: int, seconds: float, value: str) -> dict[str, Any]:
    return {"metric": metric, "implementation": impl, "frames": frames,
            "ms_per_frame": 1000 * seconds / frames, "frames_per_s": frames / seconds,
            "value": value}


def _ours(ref: Video, dist: Video) -> list[dict[str, Any]]:
    n = ref.frames
    t0 = time.perf_counter()
    planes = [psnr(r, d) for r, d in zip(ref.planes(), dist.planes(), strict=True)]
    t1 = time.perf_counter()
    s = ssim(ref.y, dist.y)
    t2 = time.perf_counter()
    measure(ref, dist)
    t3 = time.perf_counter()
    return [
        _row("PSNR Y,U,V", "aivc (numpy)", n, t1 - t0, "y:{:.4f} u:{:.4f} v:{:.4f}".format(*planes)),
        _row("SSIM Y", "aivc (numpy)", n, t2 - t1, f"{s:.6f}"),
        _row("measure() all", "aivc (numpy)", n, t3 - t2, "PSNR Y/U/V/YUV + SSIM-Y"),
    ]


def _theirs(ref: Video, ref_path: Path, dist_path: Path) -> list[dict[str, Any]]:
    raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{ref.width}x{ref.height}"]
    rows = []
    for name, filt, pattern in (("PSNR Y,U,V", "psnr", r"PSNR (y:\S+ u:\S+ v:\S+)"),
                                ("SSIM Y", "ssim", r"SSIM Y:(\S+)")):
        cmd = [ffmpeg.tool("ffmpeg"), "-hide_banner", "-nostdin", *raw, "-i", str(dist_path),
               *raw, "-i", str(ref_path), "-lavfi", f"[0:v][1:v]{filt}", "-f", "null", "-"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, check=False)
        seconds = time.perf_counter() - t0
        found = re.search(pattern, proc.stderr.decode(errors="replace"))
        rows.append(_row(name, f"ffmpeg {filt} filter", ref.frames, seconds,
                         found.group(1) if found else f"failed: {ffmpeg.last_line(proc.stderr)}"))
    return rows
