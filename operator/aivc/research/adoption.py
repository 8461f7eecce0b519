"""When a measured candidate becomes the next version: pure, shared by both drivers.

A candidate is adopted when its mean BD-rate vs the campaign's anchor on the campaign clips
beats the current best, and no held-out clip gets worse than the best's by more than the
campaign's tolerance (so a change that overfits the campaign clips is not kept). With no
best yet (the baseline, sequence 0), a candidate that ran correctly becomes v0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Standing:
    """What adoption compares: mean BD-rate on the campaign clips and per held-out clip."""

    bd_rate: float | None
    held_out: dict[str, float | None]


@dataclass(frozen=True)
class Judgement:
    adopt: bool
    reason: str


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def decide(candidate: Standing, best: Standing | None, tolerance: float) -> Judgement:
    """Adopt or reject `candidate` against the current `best` (None: nothing adopted yet)."""
    if best is None:
        return Judgement(True, "first version that runs correctly: it becomes the starting point")
    if not _finite(candidate.bd_rate):
        return Judgement(False, "no BD-rate: its RD curve does not overlap the anchor's")
    assert candidate.bd_rate is not None
    if _finite(best.bd_rate):
        assert best.bd_rate is not None
        if candidate.bd_rate >= best.bd_rate:
            return Judgement(False, f"BD-rate {candidate.bd_rate:+.2f}% does not beat the best "
                                  f"({best.bd_rate:+.2f}%)")
    regress = _held_out_regression(candidate, best, tolerance)
    if regress:
        return Judgement(False, regress)
    gain = "" if best.bd_rate is None or not _finite(best.bd_rate) \
        else f" ({candidate.bd_rate - best.bd_rate:+.2f} points)"
    return Judgement(True, f"BD-rate {candidate.bd_rate:+.2f}% beats the best{gain}")


def _held_out_regression(candidate: Standing, best: Standing, tolerance: float) -> str | None:
    """A reason to reject when a held-out clip got worse than the tolerance allows."""
    for clip, ref in best.held_out.items():
        if not _finite(ref):
            continue
        assert ref is not None
        got = candidate.held_out.get(clip)
        if not _finite(got):
            return f"held-out clip {clip}: no BD-rate (RD curve out of the anchor's range)"
        assert got is not None
        if got - ref > tolerance:
            return (f"held-out clip {clip} regresses: {got:+.2f}% vs the best's {ref:+.2f}% "
                    f"(tolerance {tolerance:.2f} points)")
    return None
