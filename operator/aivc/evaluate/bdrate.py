"""Bjøntegaard delta rate and PSNR between two rate–distortion curves.

Each curve is interpolated piecewise-cubically with PCHIP (shape-preserving, so no
overshoot between points) — log10(rate) as a function of PSNR for BD-rate, PSNR as a
function of log10(rate) for BD-PSNR — and the two interpolants are integrated exactly over
the interval where both curves are defined. This is the `pchip` method of the
`bjontegaard` package (and of the JVET/AOM common test conditions' PCHIP variant); the
tests check agreement with that package.

Curve rules (violations raise `RDCurveError` with the reason):
- at least `MIN_POINTS` (2) points; with two points PCHIP is a straight line, which is
  still a fair BD estimate. Four or more points, as the anchors have, are better.
- rates positive and finite, one quality per rate, quality strictly increasing with rate
  (points may be given in any order; they are sorted by rate);
- the two curves must overlap in the integration variable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

from aivc.errors import AivcError

MIN_POINTS = 2


class RDCurveError(AivcError):
    """Two RD curves cannot be compared: too few points, not monotonic, or no overlap."""


def bd_rate(anchor_kbps: Sequence[float], anchor_psnr: Sequence[float],
            test_kbps: Sequence[float], test_psnr: Sequence[float]) -> float:
    """Average rate difference of test vs anchor at equal quality, in percent.

    Negative means the test codec needs fewer bits for the same PSNR.
    """
    a_rate, a_psnr = _curve("anchor", anchor_kbps, anchor_psnr)
    t_rate, t_psnr = _curve("test", test_kbps, test_psnr)
    lo, hi = _overlap(a_psnr, t_psnr, "PSNR", "dB")
    a = PchipInterpolator(a_psnr, np.log10(a_rate)).integrate(lo, hi)
    t = PchipInterpolator(t_psnr, np.log10(t_rate)).integrate(lo, hi)
    return float((10.0 ** ((t - a) / (hi - lo)) - 1.0) * 100.0)


def bd_psnr(anchor_kbps: Sequence[float], anchor_psnr: Sequence[float],
            test_kbps: Sequence[float], test_psnr: Sequence[float]) -> float:
    """Average PSNR difference of test vs anchor at equal rate, in dB (positive = better)."""
    a_rate, a_psnr = _curve("anchor", anchor_kbps, anchor_psnr)
    t_rate, t_psnr = _curve("test", test_kbps, test_psnr)
    a_log, t_log = np.log10(a_rate), np.log10(t_rate)
    lo, hi = _overlap(a_log, t_log, "log-rate", "")
    a = PchipInterpolator(a_log, a_psnr).integrate(lo, hi)
    t = PchipInterpolator(t_log, t_psnr).integrate(lo, hi)
    return float((t - a) / (hi - lo))


def _curve(name: str, rates: Sequence[float], psnrs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Validated (rate, psnr) arrays sorted by rate."""
    rate = np.asarray(rates, dtype=np.float64).ravel()
    psnr = np.asarray(psnrs, dtype=np.float64).ravel()
    if rate.size != psnr.size:
        raise RDCurveError(f"{name} curve has {rate.size} rates but {psnr.size} PSNR values")
    if rate.size < MIN_POINTS:
        raise RDCurveError(f"{name} curve has {rate.size} point(s); BD needs at least {MIN_POINTS}")
    if not (np.all(np.isfinite(rate)) and np.all(np.isfinite(psnr))):
        raise RDCurveError(f"{name} curve has a non-finite rate or PSNR")
    if np.any(rate <= 0):
        raise RDCurveError(f"{name} curve has a rate <= 0 kbps")
    order = np.argsort(rate, kind="stable")
    rate, psnr = rate[order], psnr[order]
    for i in range(1, rate.size):
        if rate[i] == rate[i - 1]:
            raise RDCurveError(f"{name} curve has two points at {rate[i]:.3f} kbps")
        if psnr[i] <= psnr[i - 1]:
            raise RDCurveError(
                f"{name} curve is not monotonic: {rate[i - 1]:.3f} kbps gives {psnr[i - 1]:.3f} dB "
                f"but {rate[i]:.3f} kbps gives {psnr[i]:.3f} dB (quality must rise with rate)")
    return rate, psnr


def _overlap(a: np.ndarray, t: np.ndarray, what: str, unit: str) -> tuple[float, float]:
    lo, hi = max(a.min(), t.min()), min(a.max(), t.max())
    if hi <= lo:
        u = f" {unit}" if unit else ""
        raise RDCurveError(
            f"curves do not overlap in {what}: anchor {a.min():.2f}–{a.max():.2f}{u}, "
            f"test {t.min():.2f}–{t.max():.2f}{u}")
    return float(lo), float(hi)
