"""The archive of adopted versions a new candidate may start from.

Starting every candidate from the latest version makes a search greedy: a slower but
better codec crowds out a fast one that a different idea could have built on. So parents
are the best version plus the good versions on the rate/speed Pareto front (BD-rate vs
encode fps): no other version is both better and faster, and the BD-rate is within
`GOOD_MARGIN` points of the best. Without that margin the fast but poor baseline would stay
a parent for ever (an intra-only v0 is always the fastest).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from aivc.api.documents import ExperimentDoc
from aivc.research.planning import ParentCodec

MAX_PARENTS = 4
GOOD_MARGIN = 15.0


def adopted(experiments: Iterable[ExperimentDoc]) -> list[ExperimentDoc]:
    """Adopted experiments with a version number, in sequence order."""
    return sorted((e for e in experiments if e.status.adopted), key=lambda e: e.sequence)


def score_key(exp: ExperimentDoc) -> tuple[float, float, int]:
    """Sort key: score (unknown last), faster first, newer first."""
    m = exp.status.metrics
    bd = None if m is None else m.bd_rate
    fps = None if m is None else m.encode_fps
    return (math.inf if bd is None else bd, -(fps or 0.0), -int(exp.status.version or 0))


def _dominated(exp: ExperimentDoc, others: list[ExperimentDoc]) -> bool:
    bd, fps, _ = score_key(exp)
    for other in others:
        obd, ofps, _ = score_key(other)
        if other is not exp and obd <= bd and ofps <= fps and (obd < bd or ofps < fps):
            return True
    return False


def pareto_front(experiments: Iterable[ExperimentDoc]) -> list[ExperimentDoc]:
    """Adopted experiments no other adopted one beats on both score and encode speed."""
    chosen = adopted(experiments)
    return sorted((e for e in chosen if not _dominated(e, chosen)), key=score_key)


def best_experiment(experiments: Iterable[ExperimentDoc]) -> ExperimentDoc | None:
    """The adopted experiment with the lowest score (unknown scores count as worst)."""
    chosen = adopted(experiments)
    return min(chosen, key=score_key) if chosen else None


def to_parent(exp: ExperimentDoc, source: str) -> ParentCodec:
    m = exp.status.metrics
    return ParentCodec(version=int(exp.status.version or 0), source=source,
                       bd_rate=m.bd_rate if m else None, kbps=m.kbps if m else None,
                       psnr_yuv=m.psnr_yuv if m else None, encode_fps=m.encode_fps if m else None,
                       params=dict(exp.status.params) if exp.status.params is not None else None)


def parents_from(experiments: Iterable[ExperimentDoc], load_source: Callable[[str], str | None],
                 limit: int = MAX_PARENTS) -> tuple[ParentCodec, ...]:
    """The best version first, then other rate/speed trade-off points (at most `limit`)."""
    experiments = list(experiments)
    best = best_experiment(experiments)
    if best is None:
        return ()
    best_bd = score_key(best)[0]
    chosen = [best] + [e for e in pareto_front(experiments)
                       if e is not best and score_key(e)[0] <= best_bd + GOOD_MARGIN]
    parents = []
    for exp in chosen[:limit]:
        source = load_source(exp.name)
        if source is not None:
            parents.append(to_parent(exp, source))
    return tuple(parents)
