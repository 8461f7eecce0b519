"""The `search` planner: an optimizer over the codec design space, no API key needed.

Each candidate is a complete source file generated from the parametric reference codec
(`aivc.codec.space`). Which parameters to try comes from Optuna, told the measured BD-rate
of every finished experiment: the first proposal is the parametric codec's own defaults
(motion compensation and the other inter tools switched on), then proposals alternate
between a local mutation of the best design so far (one or two parameters moved to a
neighbouring value) and TPE over a few parameters at a time with the rest held at the
best design. Twenty experiments are far too few for TPE to model all the parameters at
once (it would sample almost at random); a few at a time it learns from every trial.

The planner keeps no state: every proposal rebuilds the study from the request's history,
and the samplers are seeded from the campaign seed and the experiment's sequence, so a
resumed run proposes exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import optuna

from aivc.api.spec import CampaignSpec
from aivc.codec import space
from aivc.research.planning import (
    DesignRequest,
    Lesson,
    Outcome,
    ParentCodec,
    PlannerError,
    Proposal,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
log = logging.getLogger(__name__)

STARTUP_TRIALS = 4
MUTATE_EVERY = 2  # every 2nd proposal mutates the best design; the others ask TPE
TPE_FREE = 4  # parameters TPE may move at once; the rest stay at the best design
MAX_TRIES = 40

Params = dict[str, Any]


def distribution(param: Any) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution of one design parameter (`aivc.codec.space.Param`)."""
    choices = getattr(param, "choices", None)
    if choices:
        return optuna.distributions.CategoricalDistribution(list(choices))
    low, high = param.range
    if param.kind == "int":
        return optuna.distributions.IntDistribution(int(low), int(high))
    return optuna.distributions.FloatDistribution(float(low), float(high))


def distributions() -> dict[str, optuna.distributions.BaseDistribution]:
    return {p.name: distribution(p) for p in space.PARAMETERS}


def canonical(params: Params) -> str:
    """A key under which equal designs compare equal (floats to 4 significant digits)."""
    norm = {k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in sorted(params.items())}
    return json.dumps(norm, sort_keys=True, default=str)


def seed_for(*parts: Any) -> int:
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _tidy(params: Params) -> Params:
    """Round floats to 3 decimals: readable sources, and no designs that differ in noise."""
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in params.items()}


def _fits(params: Params) -> bool:
    """Whether a recorded design is a complete point of today's space (Optuna needs that)."""
    try:
        return set(space.validate(params)) == {p.name for p in space.PARAMETERS}
    except space.DesignSpaceError:
        return False


class SearchPlanner:
    """`Planner` over `aivc.codec.space` (see the module docstring)."""

    name = "search"

    def __init__(self, spec: CampaignSpec) -> None:
        self.spec = spec
        self.seed = spec.seed

    # ---- the Planner interface ----------------------------------------------------------

    def propose(self, request: DesignRequest) -> Proposal:
        trials = list(self._trials(request.history))
        seen = {canonical(p) for p, _ in trials}
        if request.failed_params:
            trials.append((dict(request.failed_params), None))
            seen.add(canonical(request.failed_params))
        attempt = 0 if not request.repair else 1 + seed_for(canonical(request.failed_params or {})) % 997
        rng = np.random.default_rng(seed_for(self.seed, request.sequence, attempt))
        parent, base = self._parent(request.parents, request.sequence, rng)
        params, how = self._choose(request.sequence, attempt, trials, seen, base, rng)
        change = space.describe_change(base, params) if base else "a fresh design"
        if request.repair:
            change += f" (instead of the design that failed: {request.repair.category})"
        try:
            source = space.generate_source(params)
        except space.DesignSpaceError as exc:
            raise PlannerError(f"cannot generate a codec from {params}: {exc}") from exc
        measured = len([t for t in trials if t[1] is not None])
        rationale = f"{how}; told {measured} measured designs so far"
        return Proposal(source=source, hypothesis=change, rationale=rationale, params=params,
                        parent_version=parent.version if parent else None)

    def learn(self, outcome: Outcome) -> Lesson:
        """A one-line lesson: what the change did to the score."""
        if outcome.bd_rate is None:
            err = f" ({outcome.error.stage}: {outcome.error.category})" if outcome.error else ""
            return Lesson(f"{outcome.hypothesis} → not scored{err}")
        vs = "" if outcome.bd_rate_vs_best is None else f", {outcome.bd_rate_vs_best:+.2f}% vs the best"
        return Lesson(f"{outcome.hypothesis} → BD-rate (PSNR-YUV) {outcome.bd_rate:+.2f}%{vs} "
                      f"({outcome.verdict.lower()})")

    def replay(self, outcomes: list[Outcome]) -> None:
        """Nothing to rebuild: each proposal derives everything from its request."""

    # ---- choosing the next design --------------------------------------------------------

    def _trials(self, history: Iterable[Outcome]) -> Iterable[tuple[Params, float | None]]:
        """(params, BD-rate or None for failed/unscored) of every finished experiment."""
        for outcome in history:
            params = outcome.params
            if not params and outcome.sequence == 0:
                params = space.v0_params()  # the baseline is intra-dct, a point of the space
            if not params or not _fits(params):
                continue
            value = outcome.bd_rate if outcome.bd_rate is not None and math.isfinite(outcome.bd_rate) \
                else None
            yield dict(params), value

    def _parent(self, parents: tuple[ParentCodec, ...], sequence: int,
                rng: np.random.Generator) -> tuple[ParentCodec | None, Params | None]:
        """Usually the best version; every third time another point of the archive."""
        usable = [(p, params) for p in parents if (params := self._base_params(p))]
        if not usable:
            return None, None
        if len(usable) > 1 and sequence % (3 * MUTATE_EVERY) == 0:
            return usable[1 + int(rng.integers(len(usable) - 1))]
        return usable[0]

    def _choose(self, sequence: int, attempt: int, trials: list[tuple[Params, float | None]],
                seen: set[str], base: Params | None, rng: np.random.Generator) -> tuple[Params, str]:
        first = _tidy(space.defaults())
        if canonical(first) not in seen:
            return first, "the parametric codec's defaults (its inter tools switched on)"
        measured = [(p, v) for p, v in trials if v is not None]
        start = base if base and _fits(base) else (self._best(measured) or first)
        use_tpe = len(measured) >= 2 and sequence % MUTATE_EVERY != 0
        for tries in range(MAX_TRIES):
            if use_tpe and tries < 3:
                free = sorted(str(n) for n in rng.choice([p.name for p in space.PARAMETERS],
                                                          size=TPE_FREE, replace=False))
                params = self._ask_tpe(trials, start, free, seed_for(self.seed, sequence, attempt, tries))
                how = f"TPE over {', '.join(free)} (the rest as in the parent)"
            else:
                params, how = self._mutate(start, rng), "a local mutation of the parent"
            params = _tidy(params)
            if canonical(params) not in seen:
                return params, how
        raise PlannerError(f"no new design found in {MAX_TRIES} tries", category="planner")

    def _ask_tpe(self, trials: list[tuple[Params, float | None]], best: Params, free: list[str],
                 seed: int) -> Params:
        """TPE told every trial so far, sampling `free` with the others fixed to `best`."""
        dists = distributions()
        tpe = optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS,
                                         multivariate=True)
        fixed = {k: v for k, v in best.items() if k not in free}
        with warnings.catch_warnings():  # stable since Optuna 2.4, still labelled experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.PartialFixedSampler(fixed, tpe)
        study = optuna.create_study(direction="minimize", sampler=sampler)
        for params, value in trials:
            state = optuna.trial.TrialState.COMPLETE if value is not None else optuna.trial.TrialState.FAIL
            study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value,
                                                      state=state))
        return dict(study.ask(dists).params)

    @staticmethod
    def _best(measured: list[tuple[Params, float]]) -> Params | None:
        return dict(min(measured, key=lambda pv: pv[1])[0]) if measured else None

    def _mutate(self, params: Params, rng: np.random.Generator) -> Params:
        """Change one or two parameters to a neighbouring value."""
        out = dict(params)
        chosen = rng.choice(len(space.PARAMETERS), size=int(rng.integers(1, 3)), replace=False)
        for index in chosen:
            param = space.PARAMETERS[int(index)]
            out[param.name] = _neighbour(param, out.get(param.name, param.default), rng)
        return out

    def _base_params(self, parent: ParentCodec | None) -> Params | None:
        if parent is None:
            return None
        if parent.params:
            return dict(parent.params)
        try:
            return dict(space.read_params(parent.source))
        except space.DesignSpaceError:  # written by hand or by an LLM: no parameter block
            return space.v0_params() if parent.version == 0 else None


def _neighbour(param: Any, value: Any, rng: np.random.Generator) -> Any:
    """A nearby value: the next choice over for ordered choices, a small step for numbers."""
    choices = list(getattr(param, "choices", None) or [])
    if choices:
        if value not in choices or len(choices) == 1:
            return choices[int(rng.integers(len(choices)))]
        i = choices.index(value)
        if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in choices):
            j = min(max(i + (1 if rng.random() < 0.5 else -1), 0), len(choices) - 1)
            return choices[j if j != i else (i + 1 if i + 1 < len(choices) else i - 1)]
        return choices[(i + int(rng.integers(1, len(choices)))) % len(choices)]
    low, high = param.range
    if param.kind == "int":
        step = max(1, round((high - low) / 8))
        return int(min(max(int(value) + int(rng.choice([-step, step])), low), high))
    factor = math.exp(rng.normal(0.0, 0.25))
    return float(min(max(float(value) * factor if value else (low + high) / 2, low), high))
