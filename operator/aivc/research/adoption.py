"""When a measured candidate becomes the next version: the one adoption rule (pure).

Adoption is a direct comparison with the current best, never two scores against the anchor
side by side (those are integrated over different rate intervals, and a codec could move its
rate points to look better). A candidate is adopted when, on the campaign clips,

1. it has a score against the anchor (its curves share enough of the anchor's rate range);
2. its BD-rate (PSNR-YUV) against the best, on the range both curves share, beats the best
   by at least the campaign's margin;
3. neither chroma plane loses more than the campaign's bound in quality at equal rate
   against the best (no buying luma with chroma);
4. luma needs no more than the campaign's bound of extra bits against the best (BD-rate on
   PSNR-Y): no buying chroma with luma, which the 6:1:1 composite would otherwise allow;

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
    max_luma_loss_percent: float = 1.0
    """Percent luma's BD-rate (PSNR-Y) against the best may be positive."""


@dataclass(frozen=True)
class Evidence:
    """What the rule looks at; a missing number comes with the reason it is missing."""

    score: float | None
    score_missing: str | None = None
    vs_best: float | None = None
    vs_best_missing: str | None = None
    chroma_vs_best: Mapping[str, float | None] = field(default_factory=dict)
    """"U" / "V" → quality change at equal rate against the best (dB), None if unknown."""
    luma_vs_best: float | None = None
    """BD-rate on PSNR-Y against the best, percent (None: not comparable, see below)."""
    luma_vs_best_missing: str | None = None
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
    refusal = _campaign_refusal(evidence, rules) or _held_out_refusal(evidence, rules)
    if refusal is not None:
        return Judgement(False, refusal)
    assert evidence.vs_best is not None and evidence.luma_vs_best is not None
    chroma = ", ".join(f"PSNR-{p} {d:+.2f} dB" for p, d in sorted(evidence.chroma_vs_best.items())
                       if d is not None)
    held = ", ".join([f"{c} {v:+.2f}%" for c, v in sorted(evidence.held_out_vs_best.items())
                      if v is not None]
                     + [f"{c} dominates every rate point of the best"
                        for c, v in sorted(evidence.held_out_vs_best.items()) if v is None])
    return Judgement(True, f"BD-rate (PSNR-YUV) vs the best {evidence.vs_best:+.2f}% on the "
                           f"campaign clips (margin {rules.margin:.2f}%); PSNR-Y "
                           f"{evidence.luma_vs_best:+.2f}%"
                           + (f"; chroma {chroma}" if chroma else "")
                           + (f"; held out {held}" if held else ""))


def _campaign_refusal(evidence: Evidence, rules: Rules) -> str | None:
    """Why the campaign clips refuse the candidate (rules 1 to 4), or None."""
    if evidence.score is None:
        return f"no score against the anchor: {evidence.score_missing}"
    if evidence.vs_best is None:
        return f"cannot be compared with the best: {evidence.vs_best_missing}"
    if evidence.vs_best > -rules.margin:
        return (f"BD-rate (PSNR-YUV) vs the best is {evidence.vs_best:+.2f}% on the campaign "
                f"clips; adoption needs {-rules.margin:+.2f}% or better")
    for plane, delta in sorted(evidence.chroma_vs_best.items()):
        if delta is None:
            return f"PSNR-{plane} cannot be compared with the best at equal rate"
        if delta < -rules.max_chroma_loss_db:
            return (f"PSNR-{plane} is {delta:+.2f} dB vs the best at equal rate (at most "
                    f"{rules.max_chroma_loss_db:.2f} dB may be lost): luma bought with chroma")
    if evidence.luma_vs_best is None:
        why = evidence.luma_vs_best_missing or "no BD-rate"
        return f"PSNR-Y cannot be compared with the best: {why}"
    if evidence.luma_vs_best > rules.max_luma_loss_percent:
        return (f"BD-rate (PSNR-Y) vs the best is {evidence.luma_vs_best:+.2f}% (at most "
                f"{rules.max_luma_loss_percent:+.2f}% may be lost): chroma bought with luma")
    return None


def _held_out_refusal(evidence: Evidence, rules: Rules) -> str | None:
    """Why a held-out clip refuses the candidate, or None (a clip without a BD-rate passes
    only where the candidate dominates the best there)."""
    for clip, value in sorted(evidence.held_out_vs_best.items()):
        if value is None and clip in evidence.held_out_dominant:
            continue
        if value is None:
            why = evidence.held_out_missing.get(clip, "no comparison")
            return f"held-out clip {clip} cannot be compared with the best: {why}"
        if value > rules.held_out_tolerance:
            return (f"held-out clip {clip} regresses: BD-rate vs the best {value:+.2f}% "
                    f"(tolerance {rules.held_out_tolerance:+.2f}%)")
    return None
