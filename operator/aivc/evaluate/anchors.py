"""Anchor curves: what x264, x265 and AV1 achieve on a clip, at four rate points each.

Each encoder runs through Debian's ffmpeg at its medium-speed setting (x264/x265 preset
medium; SVT-AV1 preset 8 of 0–13, or libaom cpu-used 6 when SVT is missing or the clip is
smaller than SVT's 64×64 minimum) in constant-quality mode. The CRF values were chosen so
PSNR-Y spans roughly 30–41 dB on carphone (bikes, a cleaner source, lands 37–49 dB).
Threads are fixed (`ANCHOR_THREADS`) so results do not depend on the machine's core count.

Bitrate is the size of the elementary stream — Annex B for H.264/HEVC, low-overhead OBUs
for AV1 — with no container bytes, and with x264's and x265's informational SEI messages
(their version and full option string, 0.7–2.3 KB) stripped by ffmpeg's `filter_units`
bitstream filter: on short clips those would inflate the low rates by several kbit/s. What
remains is what a decoder needs, comparable to a candidate's bitstream.

Streams are decoded back by ffmpeg and measured with `metrics.measure`. Curves are cached
as JSON keyed by clip spec, source identity, encoder library version and settings.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from aivc.codec.contract import Video
from aivc.errors import AivcError
from aivc.evaluate import ffmpeg
from aivc.evaluate.clips import (
    ClipSpec,
    as_spec,
    clip_size,
    clip_source,
    load_clip,
    planes_from_buffer,
    write_yuv,
)
from aivc.evaluate.diskcache import atomic_write_text, digest, slug, source_identity
from aivc.evaluate.quality import kbps, measure
from aivc.settings import PathSettings

ANCHOR_THREADS = 2
CACHE_FORMAT = 2  # bump when AnchorCurve's layout or the measuring method changes
ENCODERS = ("x264", "x265", "av1")
_T = str(ANCHOR_THREADS)


@dataclass(frozen=True)
class EncoderSetup:
    """How one ffmpeg encoder is run for the anchors."""

    encoder: str  # x264 | x265 | av1
    codec: str  # the ffmpeg encoder
    args: tuple[str, ...]
    params: tuple[int, ...]  # CRF values, highest quality first
    muxer: str  # elementary stream format
    version_pattern: str  # finds the library version in a probe encode's output
    min_size: int = 2

    def settings(self) -> dict[str, Any]:
        return {"codec": self.codec, "args": list(self.args), "crf": list(self.params),
                "muxer": self.muxer}


SETUPS: dict[str, tuple[EncoderSetup, ...]] = {
    "x264": (EncoderSetup(
        "x264", "libx264", ("-preset", "medium", "-threads", _T,
                            "-bsf:v", "filter_units=remove_types=6"),
        (18, 24, 30, 36), "h264", r"x264 - core (\d+ r\d+ [0-9a-f]+)"),),
    "x265": (EncoderSetup(
        "x265", "libx265", ("-preset", "medium",
                            "-x265-params", f"pools={_T}:frame-threads=1:log-level=error",
                            "-bsf:v", "filter_units=remove_types=39"),
        (18, 24, 30, 36), "hevc", r"HEVC encoder version (\S+)"),),
    "av1": (
        EncoderSetup("av1", "libsvtav1", ("-preset", "8", "-svtav1-params", f"lp={_T}"),
                     (26, 38, 50, 62), "obu", r"SVT-AV1 Encoder Lib (v\S+)", min_size=64),
        EncoderSetup("av1", "libaom-av1", ("-cpu-used", "6", "-row-mt", "1", "-threads", _T,
                                           "-b:v", "0"),
                     (26, 38, 50, 62), "obu", r"\[libaom-av1 @ [^\]]*\] (v\S+)"),
    ),
}


@dataclass
class AnchorPoint:
    """One encode: its rate, its quality and how long the encoder took."""

    kbps: float
    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv: float
    ssim_y: float
    encode_seconds: float
    param: int  # the CRF value
    bytes: int = 0


@dataclass
class AnchorCurve:
    """One encoder's rate points on one clip, lowest quality last (as the params go)."""

    encoder: str
    clip: str
    points: list[AnchorPoint]
    encoder_version: str
    settings: dict[str, Any]
    frames: int = 0

    @property
    def kbps(self) -> list[float]:
        return [p.kbps for p in self.points]

    @property
    def psnr_y(self) -> list[float]:
        return [p.psnr_y for p in self.points]

    @property
    def psnr_yuv(self) -> list[float]:
        return [p.psnr_yuv for p in self.points]

    @property
    def encode_fps(self) -> float:
        """Frames encoded per second of encoder wall time, over all rate points."""
        seconds = sum(p.encode_seconds for p in self.points)
        return self.frames * len(self.points) / seconds if seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnchorCurve:
        return cls(encoder=d["encoder"], clip=d["clip"],
                   points=[AnchorPoint(**p) for p in d["points"]],
                   encoder_version=d["encoder_version"], settings=dict(d["settings"]),
                   frames=int(d.get("frames", 0)))


def parse_encoders(text: str) -> list[str]:
    """A comma-separated list of anchor encoder names, checked."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETUPS]
    if unknown or not names:
        raise AivcError(f"unknown anchor encoder(s) {', '.join(unknown) or '(none given)'}: "
                        f"choose from {', '.join(ENCODERS)}")
    return names


def pick_setup(encoder: str, width: int, height: int) -> EncoderSetup:
    """The first setup for `encoder` that this ffmpeg has and that accepts the frame size."""
    if encoder not in SETUPS:
        raise AivcError(f"unknown anchor encoder {encoder!r}: choose from {', '.join(ENCODERS)}")
    available = ffmpeg.encoders()
    for setup in SETUPS[encoder]:
        if setup.codec in available and min(width, height) >= setup.min_size:
            return setup
    tried = ", ".join(s.codec for s in SETUPS[encoder])
    raise AivcError(f"ffmpeg has no usable {encoder} encoder for {width}x{height} (tried {tried})")


@functools.cache
def encoder_version(setup: EncoderSetup) -> str:
    """ffmpeg's version plus the encoder library's, read from a tiny probe encode."""
    cmd = [ffmpeg.tool("ffmpeg"), "-hide_banner", "-nostdin", "-v", "verbose", "-f", "lavfi",
           "-i", "color=black:s=64x64:r=25", "-frames:v", "2", "-pix_fmt", "yuv420p",
           "-c:v", setup.codec, "-f", setup.muxer, "-"]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    found = re.search(setup.version_pattern, (proc.stdout + proc.stderr).decode("latin-1"))
    return f"{ffmpeg.version()}; {setup.codec} {found.group(1) if found else 'unknown'}"


def anchor_curves(spec: ClipSpec | str, encoders: Sequence[str] = ENCODERS,
                  cache_dir: Path | None = None, progress: bool = False) -> dict[str, AnchorCurve]:
    """Anchor curves of one clip per encoder, encoding only those not cached yet."""
    spec = as_spec(spec)
    root = (cache_dir if cache_dir is not None else PathSettings().cache_dir) / "anchors"
    identity = source_identity(clip_source(spec))
    width, height = clip_size(spec)
    curves: dict[str, AnchorCurve] = {}
    todo: list[tuple[EncoderSetup, Path]] = []
    for name in encoders:
        setup = pick_setup(name, width, height)
        key = digest({"format": CACHE_FORMAT, "clip": str(spec), "source": identity,
                      "version": encoder_version(setup), "settings": setup.settings()})
        path = root / f"{slug(str(spec))}-{name}-{key[:24]}.json"
        cached = _read_curve(path)
        if cached is not None:
            curves[name] = cached
        else:
            todo.append((setup, path))
    if todo:
        video = load_clip(spec, cache_dir)
        with tqdm(total=sum(len(s.params) for s, _ in todo), disable=not progress,
                  desc=f"anchors {spec}", unit="encode", leave=False) as bar:
            for setup, path in todo:
                curve = encode_curve(video, str(spec), setup, on_point=lambda _p: bar.update(1))
                atomic_write_text(path, json.dumps(curve.to_dict(), indent=1))
                curves[setup.encoder] = curve
    return {name: curves[name] for name in encoders}


def _read_curve(path: Path) -> AnchorCurve | None:
    try:
        return AnchorCurve.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def encode_curve(video: Video, clip: str, setup: EncoderSetup,
                 on_point: Callable[[AnchorPoint], None] | None = None) -> AnchorCurve:
    """Encode `video` at each of the setup's rate points and measure every decoded result."""
    points = []
    with tempfile.TemporaryDirectory(prefix="aivc-anchor-") as tmp:
        source = Path(tmp) / "source.yuv"
        write_yuv(video, source)
        for param in setup.params:
            point = encode_point(video, source, setup, param, Path(tmp))
            points.append(point)
            if on_point is not None:
                on_point(point)
    return AnchorCurve(encoder=setup.encoder, clip=clip, points=points,
                       encoder_version=encoder_version(setup),
                       settings=setup.settings() | {"threads": ANCHOR_THREADS},
                       frames=video.frames)


def encode_point(video: Video, source: Path, setup: EncoderSetup, param: int,
                 workdir: Path) -> AnchorPoint:
    """One encode of the raw `source` (the frames of `video`) and its measurement."""
    out = workdir / f"crf{param}.{setup.muxer}"
    args = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{video.width}x{video.height}",
            "-framerate", ffmpeg.rate_arg(video.fps), "-i", str(source),
            "-c:v", setup.codec, *setup.args, "-crf", str(param), "-f", setup.muxer, str(out)]
    start = time.perf_counter()
    ffmpeg.run(args, f"encode with {setup.codec} at crf {param}")
    seconds = time.perf_counter() - start
    nbytes = out.stat().st_size
    raw = ffmpeg.run(["-i", str(out), "-fps_mode", "passthrough", "-f", "rawvideo",
                      "-pix_fmt", "yuv420p", "-"], f"decode the {setup.codec} stream").stdout
    planes = planes_from_buffer(np.frombuffer(raw, np.uint8), video.width, video.height,
                                f"{setup.codec} output")
    if planes[0].shape[0] != video.frames:
        raise AivcError(f"{setup.codec} at crf {param} gave back {planes[0].shape[0]} frames "
                        f"of {video.frames}")
    quality = measure(video, Video(*planes, video.fps))
    return AnchorPoint(kbps=kbps(nbytes, video.frames, video.fps), psnr_y=quality.psnr_y,
                       psnr_u=quality.psnr_u, psnr_v=quality.psnr_v,
                       psnr_yuv=quality.psnr_yuv, ssim_y=quality.ssim_y,
                       encode_seconds=seconds, param=param, bytes=nbytes)
