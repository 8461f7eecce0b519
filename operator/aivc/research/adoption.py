"""When a measured candidate becomes the next version: the one adoption rule (pure).

Adoption is a direct comparison with the current best, never two scores against the anchor
side by side (those are integrated over different rate intervals, and a codec could move its
rate points to look better). A candidate is adopted when, on the campaign clips,

1. it has a score against the anchor (its curves share enough of the anchor's rate range);
2. its BD-rate (PSNR-YUV) against the best, on the range both curves share, beats the best
   by at least the campaign's margin;
3. neither chroma plane loses more than the campaign's bound in quality at equal rate
   against the best (no buying luma with chroma);

and on every held-out clip its BD-rate against the best is no worse than the tolerance. A
held-out clip whose curves share too little quality range for a BD-rate (the best is far
worse or far better) passes that guard only when the candidate dominates: every rate point
of the best is matched by one of the candidate's at no more rate and no less quality on
every plane. That needs no integration interval, so it cannot be gamed by moving rate
points, and it keeps an early, much better design from being rejected for being too far
ahead of a weak baseline. With nothing adopted yet (the baseline), a candidate that ran
correctly becomes v0. The verdict says why in words a person understands; every number it
names is in the metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rules:
    margin: float = 1.0
    """Percent by which the BD-rate against the best must be negative."""
    max_chroma_loss_db: float = 0.5
    """dB a chroma plane may lose against the best at equal rate."""
    held_out_tolerance: float = 0.0
    """Percent a held-out clip's BD-rate against the best may be positive."""


@dataclass(frozen=True)
class Evidence:
    """What the rule looks at; a missing number comes with the reason it is missing."""

    score: float | None
    score_missing: str | None = None
    vs_best: float | None = None
    vs_best_missing: str | None = None
    chroma_vs_best: Mapping[str, float | None] = field(default_factory=dict)
    """"U" / "V" → quality change at equal rate against the best (dB), None if unknown."""
    held_out_vs_best: Mapping[str, float | None] = field(default_factory=dict)
    held_out_missing: Mapping[str, str] = field(default_factory=dict)
    held_out_dominant: frozenset[str] = frozenset()
    """Held-out clips on which the candidate dominates every rate point of the best."""


@dataclass(frozen=True)
class Judgement:
    adopt: bool
    reason: str


def decide(evidence: Evidence, has_best: bool, rules: Rules) -> Judgement:
    """Adopt or reject (see the module docstring)."""
    if not has_best:
        tail = "" if evidence.score is not None else \
            f" (it has no score against the anchor: {evidence.score_missing})"
        return Judgement(True, "first version that runs correctly: it becomes the starting point"
                         + tail)
    if evidence.score is None:
        return Judgement(False, f"no score against the anchor: {evidence.score_missing}")
    if evidence.vs_best is None:
        return Judgement(False, f"cannot be compared with the best: {evidence.vs_best_missing}")
    if evidence.vs_best > -rules.margin:
        return Judgement(False, f"BD-rate (PSNR-YUV) vs the best is {evidence.vs_best:+.2f}% on "
                                f"the campaign clips; adoption needs {-rules.margin:+.2f}% or better")
    for plane, delta in sorted(evidence.chroma_vs_best.items()):
        if delta is None:
            return Judgement(False, f"PSNR-{plane} cannot be compared with the best at equal rate")
        if delta < -rules.max_chroma_loss_db:
            return Judgement(False, f"PSNR-{plane} is {delta:+.2f} dB vs the best at equal rate "
                                    f"(at most {rules.max_chroma_loss_db:.2f} dB may be lost): "
                                    "luma bought with chroma")
    dominant = []
    for clip, value in sorted(evidence.held_out_vs_best.items()):
        if value is None and clip in evidence.held_out_dominant:
            dominant.append(clip)
            continue
        if value is None:
            why = evidence.held_out_missing.get(clip, "no comparison")
            return Judgement(False, f"held-out clip {clip} cannot be compared with the best: {why}")
        if value > rules.held_out_tolerance:
            return Judgement(False, f"held-out clip {clip} regresses: BD-rate vs the best "
                                    f"{value:+.2f}% (tolerance {rules.held_out_tolerance:+.2f}%)")
    chroma = ", ".join(f"PSNR-{p} {d:+.2f} dB" for p, d in sorted(evidence.chroma_vs_best.items())
                       if d is not None)
    held = ", ".join([f"{c} {v:+.2f}%" for c, v in sorted(evidence.held_out_vs_best.items())
                      if v is not None]
                     + [f"{c} dominates every rate point of the best" for c in dominant])
    return Judgement(True, f"BD-rate (PSNR-YUV) vs the best {evidence.vs_best:+.2f}% on the "
                           f"campaign clips (margin {rules.margin:.2f}%)"
                           + (f"; chroma {chroma}" if chroma else "")
                           + (f"; held out {held}" if held else ""))
