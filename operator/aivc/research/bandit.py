"""Which model writes the next program: UCB1 on the BD-rate gain per dollar (pure).

The hybrid planner may be given several design models (`spec.llm.designModels`). Each
program a model wrote is one pull of that model's arm; its reward is what the program (with
the search over its parameters) gained on the campaign's best BD-rate before it, in BD-rate
points, per dollar its design calls cost. Rewards are scaled by the largest seen, so the
exploration term of UCB1 (sqrt(2 ln N / n)) is on the same footing. A model never pulled
is tried first, in the order the campaign lists them.

The state is derived from the outcomes every time (`arms`), so it survives any restart and
both drivers compute the same choice; the campaign publishes it as metrics and the report
shows it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aivc.research.planning import Outcome

MIN_COST_USD = 0.001
"""A program's cost is at least this (a scripted or cached call may cost nothing)."""


@dataclass(frozen=True)
class Arm:
    model: str
    programs: int
    """Programs this model wrote (finished or not)."""
    gain: float
    """BD-rate points gained over the best before them, summed."""
    cost_usd: float
    """What their design calls cost."""
    value: float
    """Mean reward (gain per dollar, scaled to the largest seen): the exploitation term."""
    score: float
    """UCB1 score; infinite for a model not tried yet."""


def _scores(outcomes: Sequence[Outcome]) -> dict[int, float]:
    return {o.sequence: o.bd_rate for o in outcomes
            if o.bd_rate is not None and math.isfinite(o.bd_rate)}


def rewards(outcomes: Iterable[Outcome]) -> list[tuple[str, float, float]]:
    """(model, gain in BD-rate points, cost) of every LLM-written program."""
    ordered = sorted(outcomes, key=lambda o: o.sequence)
    scores = _scores(ordered)
    out = []
    for o in ordered:
        if o.origin is None or o.origin.planner != "llm" or not o.origin.model:
            continue
        before = [v for s, v in scores.items() if s < o.sequence]
        family = [scores[x.sequence] for x in ordered if x.sequence in scores and (
            x.sequence == o.sequence or (x.origin is not None and x.origin.planner == "search"
                                         and x.origin.family == o.sequence))]
        gain = max(0.0, min(before) - min(family)) if before and family else 0.0
        out.append((o.origin.model, gain, o.cost_usd))
    return out


def arms(models: Sequence[str], outcomes: Iterable[Outcome], in_flight: Iterable[str] = ()) -> list[Arm]:
    """Every model's arm; `in_flight` names the models of programs not finished yet (they
    count as pulls with no reward yet, so parallel designs spread over the models)."""
    found = rewards(outcomes)
    per_dollar = [g / max(c, MIN_COST_USD) for _, g, c in found]
    scale = max(per_dollar, default=0.0) or 1.0
    pending = list(in_flight)
    total = len(found) + len(pending)
    out = []
    for model in models:
        mine = [(g, c, r / scale) for (m, g, c), r in zip(found, per_dollar, strict=True) if m == model]
        pulls = len(mine) + pending.count(model)
        value = sum(r for _, _, r in mine) / pulls if pulls else 0.0
        bonus = math.sqrt(2.0 * math.log(max(total, 1)) / pulls) if pulls else math.inf
        out.append(Arm(model, pulls, sum(g for g, _, _ in mine), sum(c for _, c, _ in mine),
                       value, value + bonus))
    return out


def choose(models: Sequence[str], outcomes: Iterable[Outcome], in_flight: Iterable[str] = ()) -> str:
    """The model with the highest UCB1 score (the first listed among equals)."""
    found = arms(models, outcomes, in_flight)
    return max(found, key=lambda a: a.score).model if found else ""
