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
from collections.abc import Callable
from typing import Any

from aivc.research.history import number
from aivc.research.phases import Verdict
from aivc.research.planner import ParentCodec

MAX_PARENTS = 4
GOOD_MARGIN = 15.0


def _adopted(experiments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in experiments
            if (e.get("status") or {}).get("verdict") == Verdict.ADOPTED
            and isinstance((e.get("status") or {}).get("version"), int)]


def _key(exp: dict[str, Any]) -> tuple[float, float, int]:
    """Sort key: BD-rate (unknown last), faster first, newer first."""
    status = exp["status"]
    metrics = status.get("metrics") or {}
    bd, fps = number(metrics.get("bdRate")), number(metrics.get("encodeFps"))
    return (math.inf if bd is None else bd, -(fps or 0.0), -int(status["version"]))


def _dominated(exp: dict[str, Any], others: list[dict[str, Any]]) -> bool:
    bd, fps, _ = _key(exp)
    for other in others:
        obd, ofps, _ = _key(other)
        if other is not exp and obd <= bd and ofps <= fps and (obd < bd or ofps < fps):
            return True
    return False


def pareto_front(experiments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adopted experiments no other adopted one beats on both BD-rate and encode speed."""
    adopted = _adopted(experiments)
    return sorted((e for e in adopted if not _dominated(e, adopted)), key=_key)


def best_experiment(experiments: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The adopted experiment with the lowest BD-rate (unknown BD-rates count as worst)."""
    adopted = _adopted(experiments)
    return min(adopted, key=_key) if adopted else None


def to_parent(exp: dict[str, Any], source: str) -> ParentCodec:
    status = exp["status"]
    m = status.get("metrics") or {}
    return ParentCodec(version=int(status["version"]), source=source, bd_rate=number(m.get("bdRate")),
                       kbps=number(m.get("kbps")), psnr_y=number(m.get("psnrY")),
                       encode_fps=number(m.get("encodeFps")), params=status.get("params"))


def parents_from(experiments: list[dict[str, Any]], load_source: Callable[[str], str | None],
                 limit: int = MAX_PARENTS) -> tuple[ParentCodec, ...]:
    """The best version first, then other rate/speed trade-off points (at most `limit`)."""
    best = best_experiment(experiments)
    if best is None:
        return ()
    best_bd = _key(best)[0]
    chosen = [best] + [e for e in pareto_front(experiments)
                       if e is not best and _key(e)[0] <= best_bd + GOOD_MARGIN]
    parents = []
    for exp in chosen[:limit]:
        source = load_source(exp["metadata"]["name"])
        if source is not None:
            parents.append(to_parent(exp, source))
    return tuple(parents)
