"""Which archived version the next candidate starts from: sampled, deterministic, stateless.

The scheme: an elite archive along rate, speed and complexity, with parents drawn by
score-weighted, offspring-penalised sampling (as in ShinkaEvolve's weighted parent
selection), and a forced exploratory step when the reviewer judges the campaign off track.

- The elites are the archive's adopted versions that no other beats on BD-rate, encode speed
  and source complexity at once, within `archive.GOOD_MARGIN` points of the best
  (`aivc.research.archive.parents_from`).
- Each elite p is drawn with weight exp(-(BD_p − BD_best) / TEMPERATURE) / (1 + F_p), where
  F_p counts p's children that were not adopted. A fresh best is drawn most of the time;
  a parent whose children keep failing loses weight, so a slower or simpler elite gets its
  turn, and regains it when its own children fail in turn.
- Exploring (after an off-track review) draws among the elites other than the best.

Why not islands with migration: adoption here is global and strict (a version is adopted
only when it beats the current best by a margin on the shared range), so the archive is a
short improving chain plus a few speed/complexity trade-offs. Islands evolving apart would
spend most experiments on lineages that can no longer be adopted, and in campaigns of tens
of experiments a migration comes too late to help; the offspring penalty gives the same
protection against one lineage monopolising the search at no such cost.

Determinism: the draw depends only on the campaign seed, the experiment's sequence, the
archive and the history in the request, so a planner rebuilt by `replay` after a restart
(or on another operator replica) picks the same parent for the same request.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from aivc.api.types import Verdict
from aivc.research.planning import Outcome, ParentCodec

TEMPERATURE = 5.0
"""BD-rate points at which an elite's weight falls to 1/e of the best's (before penalties)."""


@dataclass(frozen=True)
class ParentChoice:
    parent: ParentCodec
    why: str
    weights: tuple[tuple[int, float], ...] = ()
    """(version, normalised weight) of every elite that could be drawn."""


def fruitless_children(history: Sequence[Outcome]) -> dict[int, int]:
    """Version → how many of its children were not adopted (failed, rejected, skipped)."""
    out: dict[int, int] = {}
    for o in history:
        if o.parent_version is not None and o.verdict != Verdict.ADOPTED:
            out[o.parent_version] = out.get(o.parent_version, 0) + 1
    return out


def weights(parents: Sequence[ParentCodec], history: Sequence[Outcome]) -> dict[int, float]:
    """Unnormalised draw weight per version (see the module docstring)."""
    scores = [p.bd_rate for p in parents if p.bd_rate is not None and math.isfinite(p.bd_rate)]
    best = min(scores) if scores else 0.0
    fruitless = fruitless_children(history)
    out = {}
    for p in parents:
        bd = p.bd_rate if p.bd_rate is not None and math.isfinite(p.bd_rate) else best
        out[p.version] = math.exp(-(bd - best) / TEMPERATURE) / (1 + fruitless.get(p.version, 0))
    return out


def _rng(seed: int, sequence: int) -> random.Random:
    return random.Random(f"aivc/parent/{seed}/{sequence}")


def choose_parent(parents: Sequence[ParentCodec], history: Sequence[Outcome], *, seed: int,
                  sequence: int, explore: bool = False) -> ParentChoice:
    """Draw the parent of experiment `sequence` from the elites (`parents`, best first)."""
    if not parents:
        raise ValueError("no parent to choose from")
    pool = sorted(parents, key=lambda p: p.version)
    best = min(pool, key=lambda p: (p.bd_rate if p.bd_rate is not None else math.inf, -p.version))
    if explore and len(pool) > 1:
        pool = [p for p in pool if p.version != best.version]
    w = weights(pool, history)
    total = sum(w.values())
    normalised = tuple((v, x / total) for v, x in sorted(w.items()))
    if len(pool) == 1:
        chosen = pool[0]
    else:
        chosen = _rng(seed, sequence).choices(pool, weights=[w[p.version] for p in pool])[0]
    return ParentChoice(chosen, _why(chosen, best, dict(normalised), explore, history), normalised)


def _why(chosen: ParentCodec, best: ParentCodec, share: dict[int, float], explore: bool,
         history: Sequence[Outcome]) -> str:
    tried = fruitless_children(history).get(chosen.version, 0)
    odds = f"drawn with probability {share.get(chosen.version, 1.0):.0%}"
    if explore and chosen.version != best.version:
        return (f"v{chosen.version} is an elite other than the best (v{best.version}), chosen "
                f"to explore after the reviewer judged the campaign off track ({odds})")
    if chosen.version == best.version:
        return f"v{chosen.version} is the best version ({odds}; {tried} earlier children not adopted)"
    return (f"v{chosen.version} is an elite of the archive (a rate/speed/complexity trade-off), "
            f"not the best v{best.version}: {odds}; starting from other elites at times keeps "
            f"the search from circling one lineage ({tried} earlier children not adopted)")
