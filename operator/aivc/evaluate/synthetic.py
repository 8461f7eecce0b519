"""A small deterministic synthetic clip for fast tests (no ffmpeg, no files)."""

from __future__ import annotations

import numpy as np

from aivc.codec.contract import Video
from aivc.errors import AivcError


def synthetic_clip(width: int = 64, height: int = 48, frames: int = 8, fps: float = 25.0,
                   seed: int = 0) -> Video:
    """A small deterministic clip for fast tests: a panning texture plus a moving block.

    Unlike noise, consecutive frames are shifted copies of each other, so a codec that
    predicts from the previous frame is rewarded, as on real footage.
    """
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise AivcError(f"synthetic clip size {width}x{height} must be even and at least 2x2")
    if frames < 1:
        raise AivcError(f"synthetic clip needs at least one frame, got {frames}")
    rng = np.random.default_rng(seed)
    pan = 2  # pixels per frame, both axes; even so the chroma pan is a whole sample
    canvas_h, canvas_w = height + pan * frames, width + pan * frames
    luma = 40.0 + 170.0 * _texture(rng, canvas_h, canvas_w)
    chroma = [128.0 + 60.0 * (_texture(rng, canvas_h, canvas_w) - 0.5) for _ in range(2)]
    block = 40.0 * np.sign(np.sin(np.arange(12)[:, None] * 1.3 + np.arange(12)[None, :] * 0.7))
    y = np.empty((frames, height, width), np.float64)
    uv = np.empty((2, frames, height // 2, width // 2), np.float64)
    for t in range(frames):
        window = np.s_[t * pan:t * pan + height, t * pan:t * pan + width]
        y[t] = luma[window]
        bx, by = (width - 12 - 3 * t) % max(width - 12, 1), height // 3
        y[t, by:by + 12, bx:bx + 12] += block[:min(12, height - by), :min(12, width - bx)]
        for c in range(2):
            full = chroma[c][window]
            uv[c, t] = full.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
    return Video(_to_u8(y), _to_u8(uv[0]), _to_u8(uv[1]), float(fps))


def _to_u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Values in [0, 1]: a few random cosines (edges, gradients) plus some fine grain."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.zeros((height, width))
    for _ in range(5):
        fy, fx = rng.uniform(-0.35, 0.35, size=2)
        out += np.cos(fy * yy + fx * xx + rng.uniform(0, 2 * np.pi))
    out += 0.6 * rng.standard_normal((height, width))
    return (out - out.min()) / (np.ptp(out) or 1.0)
