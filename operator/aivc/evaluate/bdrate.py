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
- the two curves must overlap in the integration variable;
- and, with `min_overlap`, they must share at least that part of the narrower curve's range
  of the integration variable — quality for BD-rate, log-rate for BD-quality
  (`InsufficientOverlap` names both curves' rate and quality ranges). A curve that only
  touches the other's end would be integrated over a sliver, where a small difference looks
  large and a codec could choose where its points fall to flatter itself. The integration
  variable is the fair axis: a codec much worse than the anchor reaches the anchor's
  qualities at much higher rates, so its rate range is shifted while its quality range is
  not; it deserves a (bad) number, not none.

`bd_quality` is BD-PSNR without asking the quality to rise with the rate: it compares a
plane's quality at equal total rate (used for the chroma planes, whose quality may stall
while the rate rises).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

from aivc.errors import AivcError

MIN_POINTS = 2


class RDCurveError(AivcError):
    """Two RD curves cannot be compared: too few points, not monotonic, or no overlap."""


class InsufficientOverlap(RDCurveError):
    """The curves share too little of their rate range for a fair BD number."""


def shared_part(a: Sequence[float] | np.ndarray, t: Sequence[float] | np.ndarray) -> float:
    """The part of the narrower range of `a` and `t` that both cover (0..1)."""
    a_arr, t_arr = np.asarray(a, float), np.asarray(t, float)
    shared = min(a_arr.max(), t_arr.max()) - max(a_arr.min(), t_arr.min())
    narrower = min(a_arr.max() - a_arr.min(), t_arr.max() - t_arr.min())
    if shared <= 0:
        return 0.0
    return 1.0 if narrower <= 0 else float(min(1.0, shared / narrower))


def _ranges(rate: np.ndarray, quality: np.ndarray, unit: str) -> str:
    return f"{rate.min():.1f}–{rate.max():.1f} kbps, {quality.min():.2f}–{quality.max():.2f}{unit}"


def _check_overlap(share: float, min_overlap: float, axis: str, a: tuple[np.ndarray, np.ndarray],
                   t: tuple[np.ndarray, np.ndarray], unit: str) -> None:
    if share < min_overlap:
        raise InsufficientOverlap(
            f"insufficient overlap: the curves share {share:.0%} of the narrower one's {axis} range "
            f"(needs {min_overlap:.0%}); reference {_ranges(*a, unit)}, candidate {_ranges(*t, unit)}")


def bd_rate(anchor_kbps: Sequence[float], anchor_psnr: Sequence[float],
            test_kbps: Sequence[float], test_psnr: Sequence[float], *,
            min_overlap: float = 0.0) -> float:
    """Average rate difference of test vs anchor at equal quality, in percent.

    Negative means the test codec needs fewer bits for the same PSNR.
    """
    a_rate, a_psnr = _curve("anchor", anchor_kbps, anchor_psnr)
    t_rate, t_psnr = _curve("test", test_kbps, test_psnr)
    lo, hi = _overlap(a_psnr, t_psnr, "PSNR", "dB")
    _check_overlap(shared_part(a_psnr, t_psnr), min_overlap, "quality", (a_rate, a_psnr),
                   (t_rate, t_psnr), " dB")
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


def bd_quality(anchor_kbps: Sequence[float], anchor_q: Sequence[float],
               test_kbps: Sequence[float], test_q: Sequence[float], *,
               min_overlap: float = 0.0) -> float:
    """Average quality difference of test vs anchor at equal rate (test - anchor), in the
    quality's unit; the quality need not rise with the rate."""
    a_rate, a_q = _curve("anchor", anchor_kbps, anchor_q, monotonic=False)
    t_rate, t_q = _curve("test", test_kbps, test_q, monotonic=False)
    a_log, t_log = np.log10(a_rate), np.log10(t_rate)
    lo, hi = _overlap(a_log, t_log, "log-rate", "")
    _check_overlap(shared_part(a_log, t_log), min_overlap, "log-rate", (a_rate, a_q),
                   (t_rate, t_q), " dB")
    a = PchipInterpolator(a_log, a_q).integrate(lo, hi)
    t = PchipInterpolator(t_log, t_q).integrate(lo, hi)
    return float((t - a) / (hi - lo))


def _curve(name: str, rates: Sequence[float], psnrs: Sequence[float], *,
           monotonic: bool = True) -> tuple[np.ndarray, np.ndarray]:
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
        if monotonic and psnr[i] <= psnr[i - 1]:
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
