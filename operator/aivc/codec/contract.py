"""The codec contract every candidate meets (DESIGN.md §3).

A candidate is one Python source file defining::

    LEVELS = 4                      # rate points the harness sweeps, 0 = highest quality
    def encode(video, level) -> bytes: ...
    def decode(bitstream) -> video: ...

`video` is a `Video`: YUV 4:2:0, 8-bit planes ``y[T,H,W]``, ``u``/``v[T,H/2,W/2]`` and
``fps``. It is a NamedTuple so candidates can use attributes or unpack it, and return a
plain ``(y, u, v)`` or ``(y, u, v, fps)`` tuple from `decode` without importing aivc.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from aivc.errors import ContractError

REQUIRED_NAMES = ("LEVELS", "encode", "decode")
MAX_LEVELS = 16


class Video(NamedTuple):
    """A YUV 4:2:0 8-bit clip: three uint8 plane stacks and a frame rate."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    fps: float

    @property
    def frames(self) -> int:
        return int(self.y.shape[0])

    @property
    def height(self) -> int:
        return int(self.y.shape[1])

    @property
    def width(self) -> int:
        return int(self.y.shape[2])

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    def planes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.y, self.u, self.v


def check_video(video: Video) -> Video:
    """Raise `ContractError` unless `video` is well-formed 8-bit 4:2:0; return it."""
    y, u, v = video.y, video.u, video.v
    for name, plane in (("Y", y), ("U", u), ("V", v)):
        if not isinstance(plane, np.ndarray):
            raise ContractError(f"{name} plane is {type(plane).__name__}, expected numpy.ndarray")
        if plane.dtype != np.uint8:
            raise ContractError(f"{name} plane has dtype {plane.dtype}, expected uint8")
        if plane.ndim != 3:
            raise ContractError(f"{name} plane has shape {plane.shape}, expected [T,H,W]")
    t, h, w = y.shape
    if t < 1 or h < 2 or w < 2:
        raise ContractError(f"video shape {y.shape} is empty")
    if h % 2 or w % 2:
        raise ContractError(f"frame size {w}x{h} is odd; 4:2:0 needs even width and height")
    want = (t, h // 2, w // 2)
    for name, plane in (("U", u), ("V", v)):
        if plane.shape != want:
            raise ContractError(f"{name} plane has shape {plane.shape}, expected {want}")
    if not (isinstance(video.fps, (int, float)) and np.isfinite(video.fps) and video.fps > 0):
        raise ContractError(f"fps {video.fps!r} is not a positive number")
    return video


def as_video(decoded: Any, fps: float) -> Video:
    """Accept what a candidate's `decode` returns: a Video-like object or a 3/4-tuple."""
    if all(hasattr(decoded, a) for a in ("y", "u", "v")):
        return Video(decoded.y, decoded.u, decoded.v, float(getattr(decoded, "fps", fps)))
    if isinstance(decoded, (tuple, list)) and len(decoded) in (3, 4):
        return Video(decoded[0], decoded[1], decoded[2], fps)
    raise ContractError(
        f"decode returned {type(decoded).__name__}; expected (y, u, v[, fps]) or an object with y, u, v"
    )


def check_codec_namespace(ns: dict[str, Any]) -> int:
    """Check a loaded candidate's globals meet the contract; return its LEVELS."""
    missing = [n for n in REQUIRED_NAMES if n not in ns]
    if missing:
        raise ContractError(f"codec does not define {', '.join(missing)} (needs LEVELS, encode, decode)")
    levels = ns["LEVELS"]
    if not isinstance(levels, int) or isinstance(levels, bool) or not 1 <= levels <= MAX_LEVELS:
        raise ContractError(f"LEVELS must be an int in 1..{MAX_LEVELS}, got {levels!r}")
    for fn in ("encode", "decode"):
        if not callable(ns[fn]):
            raise ContractError(f"{fn} is not callable")
    return levels
