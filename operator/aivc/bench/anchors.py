"""Bench section `anchors`: how fast the anchor encoders run here, on carphone and bikes:48.

Every curve is encoded afresh (the anchor cache is bypassed; decoded clips still come from
the clip cache). Encode fps is frames per second of ffmpeg wall time at the anchors'
fixed thread count, averaged over the four rate points, including ffmpeg's start-up.
"""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

from aivc.evaluate.anchors import ANCHOR_THREADS, ENCODERS, encode_curve, pick_setup
from aivc.evaluate.bdrate import RDCurveError, bd_rate
from aivc.evaluate.clips import load_clip

CLIPS = ("carphone", "bikes:48")


def run() -> dict[str, Any]:
    videos = {clip: load_clip(clip) for clip in CLIPS}
    setups = {(clip, enc): pick_setup(enc, v.width, v.height)
              for clip, v in videos.items() for enc in ENCODERS}
    rows = []
    with tqdm(total=sum(len(s.params) for s in setups.values()), desc="bench anchors",
              unit="encode") as bar:
        for clip, video in videos.items():
            x264 = None
            for enc in ENCODERS:
                curve = encode_curve(video, clip, setups[clip, enc], on_point=lambda _p: bar.update(1))
                x264 = curve if enc == "x264" else x264
                rows.append({
                    "clip": clip, "size": f"{video.width}x{video.height}x{video.frames}",
                    "encoder": enc, "library": curve.encoder_version.split("; ")[-1],
                    "encode_fps": curve.encode_fps,
                    "seconds": sum(p.encode_seconds for p in curve.points),
                    "kbps": " / ".join(f"{k:.1f}" for k in curve.kbps),
                    "psnr_y": " / ".join(f"{p:.2f}" for p in curve.psnr_y),
                    "bd_rate_vs_x264": _bd(x264, curve),
                })
    return {"title": f"Anchors: encoder speed ({ANCHOR_THREADS} threads)", "rows": rows,
            "notes": __doc__.split("\n\n", 1)[1].strip()}


def _bd(x264: Any, curve: Any) -> str:
    if x264 is None or x264 is curve:
        return "(anchor)"
    try:
        return f"{bd_rate(x264.kbps, x264.psnr_y, curve.kbps, curve.psnr_y):+.2f}%"
    except RDCurveError as exc:
        return f"n/a: {exc}"
