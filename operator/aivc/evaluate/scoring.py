"""A candidate's score: BD-rate per clip, per quality metric, against each anchor or the best.

The score is BD-rate on PSNR-YUV — (6·Y + U + V) / 8, as common video-coding test
conditions weight the planes — per clip, averaged over the clips (DESIGN.md §3). BD-rates on
PSNR-Y, PSNR-U, PSNR-V and SSIM-Y (in dB, −10·log10(1 − SSIM)) are recorded beside it, so a
codec cannot buy luma with chroma unseen. BD-rate is negative when the candidate needs fewer
bits than the reference for the same quality; lower is better.

A number is reported only where it is fair: the curves must share at least `min_overlap` of
the narrower one's range on the axis BD integrates over (`bdrate.InsufficientOverlap`),
every level must have
been measured, the curve must rise with the rate. Otherwise the clip is listed with the
reason for that reference and metric, and a mean over clips exists only when every clip
could be scored (`Score.mean`), never a flattering mean of the clips that happened to work.

Against the best version the chroma planes are also compared as quality at equal rate
(`Comparison.quality_delta`, dB, test − best): chroma quality need not rise monotonically
with the total rate, and the adoption rule bounds its loss directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from aivc.evaluate.anchors import AnchorCurve
from aivc.evaluate.bdrate import RDCurveError, bd_quality, bd_rate
from aivc.evaluate.results import EvaluationResult, LevelResult

METRICS = ("psnr_yuv", "psnr_y", "psnr_u", "psnr_v", "ssim_y")
HEADLINE = "psnr_yuv"
CHROMA = ("psnr_u", "psnr_v")
LUMA = "psnr_y"
BEST = "best"
"""The reference name of comparisons with the current best version."""
LABELS = {"psnr_yuv": "PSNR-YUV", "psnr_y": "PSNR-Y", "psnr_u": "PSNR-U", "psnr_v": "PSNR-V",
          "ssim_y": "SSIM-Y"}
SSIM_DB_CAP = 100.0


def ssim_db(value: float) -> float:
    """SSIM on a decibel scale, where BD integration behaves as it does for PSNR."""
    return SSIM_DB_CAP if value >= 1.0 else min(SSIM_DB_CAP, -10.0 * math.log10(1.0 - value))


@dataclass(frozen=True)
class RDPoints:
    """One codec's rate points on one clip: kbps and every quality metric."""

    kbps: tuple[float, ...]
    quality: Mapping[str, tuple[float, ...]]

    @classmethod
    def from_levels(cls, rows: Sequence[LevelResult]) -> RDPoints:
        return cls(tuple(r.kbps for r in rows),
                   {m: tuple(_value(m, getattr(r, m)) for r in rows) for m in METRICS})

    @classmethod
    def from_anchor(cls, curve: AnchorCurve) -> RDPoints:
        return cls(tuple(p.kbps for p in curve.points),
                   {m: tuple(_value(m, getattr(p, m)) for p in curve.points) for m in METRICS})


def _value(metric: str, raw: float) -> float:
    return ssim_db(raw) if metric == "ssim_y" else raw


@dataclass
class Comparison:
    """A test curve against a reference curve on one clip."""

    bd_rate: dict[str, float] = field(default_factory=dict)
    """Metric → BD-rate in percent, where it could be computed fairly."""
    failures: dict[str, str] = field(default_factory=dict)
    """Metric → why its BD-rate could not be computed."""
    quality_delta: dict[str, float] = field(default_factory=dict)
    """Chroma metric → quality difference at equal rate (test − reference, dB)."""


def compare(reference: RDPoints, test: RDPoints, min_overlap: float, *,
            chroma_delta: bool = False) -> Comparison:
    out = Comparison()
    for metric in METRICS:
        try:
            out.bd_rate[metric] = bd_rate(reference.kbps, reference.quality[metric], test.kbps,
                                          test.quality[metric], min_overlap=min_overlap)
        except RDCurveError as exc:
            out.failures[metric] = str(exc)
    if chroma_delta:  # a guard over whatever rate range both share, not a score: no minimum
        for metric in CHROMA:
            try:
                out.quality_delta[metric] = bd_quality(reference.kbps, reference.quality[metric],
                                                       test.kbps, test.quality[metric])
            except RDCurveError as exc:
                out.failures.setdefault(f"{metric}_delta", str(exc))
    return out


@dataclass
class ClipScore:
    clip: str
    vs: dict[str, Comparison] = field(default_factory=dict)
    """Reference → the comparison (when both curves exist)."""
    failures: dict[str, str] = field(default_factory=dict)
    """Reference → why the clip could not be compared at all."""

    def bd_rate(self, reference: str, metric: str = HEADLINE) -> float | None:
        found = self.vs.get(reference)
        return None if found is None else found.bd_rate.get(metric)

    def why_not(self, reference: str, metric: str = HEADLINE) -> str | None:
        """Why there is no BD-rate against `reference` on `metric` (None when there is)."""
        if reference in self.failures:
            return self.failures[reference]
        found = self.vs.get(reference)
        return None if found is None else found.failures.get(metric)


@dataclass
class Score:
    references: list[str]
    clips: list[ClipScore]

    def complete(self, reference: str, metric: str = HEADLINE) -> bool:
        return bool(self.clips) and all(c.bd_rate(reference, metric) is not None for c in self.clips)

    def mean(self, reference: str, metric: str = HEADLINE) -> float | None:
        """Mean over the clips, or None unless every clip could be scored."""
        if not self.complete(reference, metric):
            return None
        values = [c.bd_rate(reference, metric) for c in self.clips]
        return sum(v for v in values if v is not None) / len(values)

    def mean_quality_delta(self, metric: str) -> float | None:
        """Mean chroma quality change against the best (dB), when every clip has one."""
        deltas = [(c.vs.get(BEST) or Comparison()).quality_delta.get(metric) for c in self.clips]
        if not deltas or any(d is None for d in deltas):
            return None
        return sum(d for d in deltas if d is not None) / len(deltas)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def failures(self, metric: str = HEADLINE) -> list[tuple[str, str, str]]:
        """(clip, reference, reason) of every number on `metric` (the headline unless told)
        that could not be computed."""
        return [(c.clip, ref, why) for c in self.clips for ref in self.references
                if (why := c.why_not(ref, metric)) is not None]


def score(result: EvaluationResult, anchors: Mapping[str, Mapping[str, AnchorCurve]],
          best: EvaluationResult | None = None, *, min_overlap: float = 0.8) -> Score:
    """Score `result` against the anchors of each of its clips (keyed by clip, then encoder)
    and, when given, against the best version's results on the same clips."""
    references = sorted({enc for per_clip in anchors.values() for enc in per_clip},
                        key=lambda e: (e != "x264", e))
    if best is not None:
        references.append(BEST)
    clips = [_score_clip(result, info.name, anchors.get(info.name, {}), references, best,
                         min_overlap) for info in result.clips]
    return Score(references, clips)


def _score_clip(result: EvaluationResult, clip: str, curves: Mapping[str, AnchorCurve],
                references: list[str], best: EvaluationResult | None,
                min_overlap: float) -> ClipScore:
    out = ClipScore(clip)
    failed = [e for e in result.errors if e.clip in (clip, "")]
    rows = result.for_clip(clip)
    for ref in references:
        if failed:
            out.failures[ref] = f"candidate failed: {failed[0].category}: {_last_line(failed[0].message)}"
            continue
        if ref == BEST:
            assert best is not None
            reference_rows = best.for_clip(clip)
            if not reference_rows:
                out.failures[ref] = "the best version has no results for this clip"
                continue
            reference = RDPoints.from_levels(reference_rows)
        elif ref in curves:
            reference = RDPoints.from_anchor(curves[ref])
        else:
            out.failures[ref] = f"no {ref} anchor for this clip"
            continue
        out.vs[ref] = compare(reference, RDPoints.from_levels(rows), min_overlap,
                              chroma_delta=ref == BEST)
    return out


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""
