"""A candidate's score: BD-rate (PSNR-Y) per clip against each anchor and the current best.

BD-rate is negative when the candidate needs fewer bits than the reference for the same
PSNR-Y; lower is better. The headline is the mean over clips against x264 (DESIGN.md §3).
A clip whose BD-rate cannot be computed (the candidate failed on it, too few levels,
curves that do not overlap or are not monotonic, no anchor) is listed with the reason and
left out of the mean; `Score.complete(ref)` says whether every clip counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from aivc.evaluate.anchors import AnchorCurve
from aivc.evaluate.bdrate import RDCurveError, bd_rate
from aivc.evaluate.results import EvaluationResult

BASELINE = "baseline"  # the reference name used for the comparison with the current best
HEADLINE = "x264"


@dataclass
class ClipScore:
    clip: str
    bd_rate: dict[str, float] = field(default_factory=dict)
    """Reference name → BD-rate in percent, where it could be computed."""
    failures: dict[str, str] = field(default_factory=dict)
    """Reference name → why BD-rate could not be computed."""


@dataclass
class Score:
    references: list[str]
    clips: list[ClipScore]
    mean_bd_rate: dict[str, float | None]
    """Mean over the clips that could be scored; None when none could."""

    def complete(self, reference: str) -> bool:
        return all(reference in c.bd_rate for c in self.clips) and bool(self.clips)

    @property
    def headline(self) -> float | None:
        """Mean BD-rate against x264, the anchor the campaign's goal is stated against."""
        return self.mean_bd_rate.get(HEADLINE)

    def failures(self) -> list[tuple[str, str, str]]:
        """(clip, reference, reason) for every BD-rate that could not be computed."""
        return [(c.clip, ref, why) for c in self.clips for ref, why in c.failures.items()]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Score:
        return cls(references=list(d["references"]),
                   clips=[ClipScore(**c) for c in d["clips"]],
                   mean_bd_rate=dict(d["mean_bd_rate"]))


def score(result: EvaluationResult, anchors: dict[str, dict[str, AnchorCurve]],
          baseline: EvaluationResult | None = None) -> Score:
    """Score `result` against the anchors of each of its clips (keyed by clip, then encoder)."""
    references = sorted({enc for per_clip in anchors.values() for enc in per_clip},
                        key=lambda e: (e != HEADLINE, e))
    if baseline is not None:
        references.append(BASELINE)
    clips = [_score_clip(result, info.name, anchors.get(info.name, {}), references, baseline)
             for info in result.clips]
    means: dict[str, float | None] = {}
    for ref in references:
        values = [c.bd_rate[ref] for c in clips if ref in c.bd_rate]
        means[ref] = sum(values) / len(values) if values else None
    return Score(references=references, clips=clips, mean_bd_rate=means)


def _score_clip(result: EvaluationResult, clip: str, curves: dict[str, AnchorCurve],
                references: list[str], baseline: EvaluationResult | None) -> ClipScore:
    out = ClipScore(clip=clip)
    failed = [e for e in result.errors if e.clip in (clip, "")]
    rows = result.for_clip(clip)
    for ref in references:
        if failed:
            out.failures[ref] = f"candidate failed: {failed[0].category}: {_last_line(failed[0].message)}"
            continue
        if ref == BASELINE:
            assert baseline is not None
            base_rows = baseline.for_clip(clip)
            if not base_rows:
                out.failures[ref] = "the baseline has no results for this clip"
                continue
            ref_kbps, ref_psnr = [r.kbps for r in base_rows], [r.psnr_y for r in base_rows]
        elif ref in curves:
            ref_kbps, ref_psnr = curves[ref].kbps, curves[ref].psnr_y
        else:
            out.failures[ref] = f"no {ref} anchor for this clip"
            continue
        try:
            out.bd_rate[ref] = bd_rate(ref_kbps, ref_psnr, [r.kbps for r in rows],
                                       [r.psnr_y for r in rows])
        except RDCurveError as exc:
            out.failures[ref] = str(exc)
    return out


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""
