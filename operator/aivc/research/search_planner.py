"""The `search` planner: an optimizer over the codec design space, no API key needed.

Each candidate is a complete source file generated from the template codec (`inter-rdo`),
whose PARAMETERS block declares its own design space (`aivc.codec.space`): tools switched
on and off, the GOP structure, partition depth, search patterns, entropy contexts, the
learned filter's size, and the scalars beside them, with conditions saying when a
parameter matters. The planner respects that structure: a parameter whose condition does
not hold is neither sampled nor mutated, and two designs that differ only in such
parameters are one design (`canonical`).

Which design to try comes from every finished experiment's measured BD-rate: the first
proposal is the template's own defaults; then nine proposals in ten are a coordinate
search from the best design so far (`aivc.research.coordinate`: one active parameter
moved a step, the directions that helped before first, small gains combined), and the
tenth asks TPE (Optuna; multivariate, grouped, so it models conditional spaces) over a
few parameters at a time with the rest held at the best design. TPE's share is small on
evidence: over six 30-experiment campaigns of `make search-gain` with one proposal in
three from TPE, 17 % of its proposals beat the best of their time and 3 % were adopted,
against 41 % and 9 % of the coordinate steps; over the next three campaigns, at one in
five, 3 of its 18 proposals beat the best and one was adopted, against 6 adoptions in 69
coordinate steps. With two dozen parameters and a few dozen trials TPE is close to a
random jump, worth keeping to leave a local optimum, not as a share of the budget.
Parameters that place the rate points (`operating point`: the template's QP and
QP_SPACING) are held at the parent's value: BD-rate is measured over the range two codecs
share, so moving them changes where the score is measured, not how good the codec is.
Twenty or thirty experiments are far too few for TPE to model every parameter at once; a
few at a time it learns from every trial, and it jumps where one step at a time would not
go.

The planner keeps no state: every proposal rebuilds the study from the request's history,
and the samplers are seeded from the campaign seed and the experiment's sequence, so a
resumed run proposes exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
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
from aivc.api.types import Verdict
from aivc.codec import space
from aivc.research import coordinate
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
TPE_EVERY = 10  # every 10th proposal asks TPE; the others take a coordinate step
TPE_FREE = 3  # parameters TPE may move at once; the rest stay at the best design
PAIR_MUTATION = 0.25  # chance that a mutation moves two parameters instead of one
MAX_TRIES = 40

Params = dict[str, Any]


def distribution(param: space.Param) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution of one design parameter."""
    if param.choices is not None:
        return optuna.distributions.CategoricalDistribution(list(param.choices))
    low, high = param.range or (0.0, 0.0)
    if param.kind == "int":
        return optuna.distributions.IntDistribution(int(low), int(high), log=param.log)
    return optuna.distributions.FloatDistribution(float(low), float(high), log=param.log)


def suggest(trial: optuna.trial.Trial, param: space.Param) -> Any:
    """Ask a trial for one parameter through Optuna's public suggest API."""
    dist = distribution(param)
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return trial.suggest_categorical(param.name, list(dist.choices))
    if isinstance(dist, optuna.distributions.IntDistribution):
        return trial.suggest_int(param.name, dist.low, dist.high, log=dist.log)
    assert isinstance(dist, optuna.distributions.FloatDistribution)
    return trial.suggest_float(param.name, dist.low, dist.high, log=dist.log)


def tidy(params: Params) -> Params:
    """Round floats to 3 decimals: readable sources, and no designs that differ in noise."""
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in params.items()}


def live(params: Params, designs: space.DesignSpace | None = None) -> Params:
    """The active parameters of a complete design, inactive ones left out."""
    designs = designs or space.template_space()
    active = {p.name for p in designs.active(params)}
    return {k: v for k, v in designs.canonical(params).items() if k in active}


def canonical(params: Params, designs: space.DesignSpace | None = None) -> str:
    """A key under which equal designs compare equal: inactive parameters do not count,
    floats to 4 significant digits."""
    with contextlib.suppress(space.DesignSpaceError):  # else not a point of today's space
        params = live(params, designs)
    norm = {k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in sorted(params.items())}
    return json.dumps(norm, sort_keys=True, default=str)


def seed_for(*parts: Any) -> int:
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def fits(params: Params, designs: space.DesignSpace | None = None) -> bool:
    """Whether a recorded design is a complete point of the space (Optuna needs that)."""
    try:
        designs = designs or space.template_space()
        return set(designs.validate(params)) == set(designs.names)
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
        change = space.describe_change(base, params, space.template_space()) if base \
            else "a fresh design"
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
        return Lesson(lesson_line(outcome))

    def replay(self, outcomes: list[Outcome]) -> None:
        """Nothing to rebuild: each proposal derives everything from its request."""

    # ---- choosing the next design --------------------------------------------------------

    def _trials(self, history: Iterable[Outcome]) -> Iterable[tuple[Params, float | None]]:
        """(params, value or None for failed/unscored) of every finished experiment: its
        BD-rate, except that a design which beat the best on the campaign clips but was
        refused by a guard (a held-out clip, a chroma or luma loss) is told as no better
        than the version adopted last before it. The search optimises what can be adopted;
        else it keeps combining a gain that the guards will refuse every time."""
        best: float | None = None
        for outcome in sorted(history, key=lambda o: o.sequence):
            value = outcome.bd_rate if outcome.bd_rate is not None and math.isfinite(outcome.bd_rate) \
                else None
            gain = outcome.bd_rate_vs_best
            if value is not None and gain is not None and best is not None \
                    and outcome.verdict == Verdict.REJECTED.value and gain <= -self.spec.adoption_margin:
                value = max(value, best)
            elif outcome.verdict == Verdict.ADOPTED.value and value is not None:
                best = value
            params = outcome.params
            if params and fits(params):  # else e.g. the baseline, intra-dct: no block
                yield dict(params), value

    def _parent(self, parents: tuple[ParentCodec, ...], sequence: int,
                rng: np.random.Generator) -> tuple[ParentCodec | None, Params | None]:
        """Usually the best version; every other TPE turn another point of the archive."""
        usable = [(p, params) for p in parents if (params := self._base_params(p))]
        if not usable:
            return None, None
        if len(usable) > 1 and sequence % (2 * TPE_EVERY) == 0:  # on a TPE turn
            return usable[1 + int(rng.integers(len(usable) - 1))]
        return usable[0]

    def _choose(self, sequence: int, attempt: int, trials: list[tuple[Params, float | None]],
                seen: set[str], base: Params | None, rng: np.random.Generator) -> tuple[Params, str]:
        first = tidy(space.defaults())
        if canonical(first) not in seen:
            return first, "the template's defaults (its hand-set design)"
        measured = [(p, v) for p, v in trials if v is not None]
        start = base if base and fits(base) else (best_of(measured) or first)
        use_tpe = len(measured) >= 2 and sequence % TPE_EVERY == 0
        return explore(space.template_space(), trials, seen, start,
                       (self.seed, sequence, attempt), use_tpe=use_tpe, rng=rng)

    def _base_params(self, parent: ParentCodec | None) -> Params | None:
        if parent is None:
            return None
        if parent.params:
            return dict(parent.params)
        try:
            return dict(space.read_params(parent.source))
        except space.DesignSpaceError:  # written by hand or by an LLM: no parameter block
            return None


def lesson_line(outcome: Outcome) -> str:
    """What a search's change did to the score, in one line (no model is asked)."""
    if outcome.bd_rate is None:
        err = f" ({outcome.error.stage}: {outcome.error.category})" if outcome.error else ""
        return f"{outcome.hypothesis} → not scored{err}"
    vs = "" if outcome.bd_rate_vs_best is None else f", {outcome.bd_rate_vs_best:+.2f}% vs the best"
    return f"{outcome.hypothesis} → BD-rate (PSNR-YUV) {outcome.bd_rate:+.2f}%{vs} ({outcome.verdict.lower()})"


def best_of(measured: list[tuple[Params, float]]) -> Params | None:
    """The design with the lowest BD-rate."""
    return dict(min(measured, key=lambda pv: pv[1])[0]) if measured else None


def explore(designs: space.DesignSpace, trials: list[tuple[Params, float | None]], seen: set[str],
            start: Params, seed: tuple[Any, ...], *, use_tpe: bool,
            rng: np.random.Generator) -> tuple[Params, str]:
    """A design of `designs` not in `seen`: TPE over a few parameters (the rest as in
    `start`) when `use_tpe`, else the next coordinate step from `start` (a random local
    mutation once every neighbour is known). The search planner explores the template's
    space with it, the hybrid planner the space an LLM program declares."""
    if not use_tpe:
        step = coordinate.next_design(designs, start, trials,
                                      lambda p: canonical(tidy(p), designs) in seen, rng)
        if step is not None:
            return tidy(step[0]), step[1]
    for tries in range(MAX_TRIES):
        if use_tpe and tries < 3:
            names = [p.name for p in designs.tunable(start)]
            free = sorted(str(n) for n in rng.choice(names, size=min(TPE_FREE, len(names)),
                                                      replace=False))
            params = ask_tpe(designs, trials, start, free, seed_for(*seed, tries))
            how = f"TPE over {', '.join(free)} (the rest as in the parent)"
        else:
            params, how = mutate(designs, start, rng), "a local mutation of the parent"
        params = tidy(designs.canonical(params))
        if canonical(params, designs) not in seen:
            return params, how
    raise PlannerError(f"no new design found in {MAX_TRIES} tries", category="planner")


def ask_tpe(designs: space.DesignSpace, trials: list[tuple[Params, float | None]], best: Params,
            free: list[str], seed: int) -> Params:
    """TPE told every trial so far (their active parameters), sampling `free` with the
    others fixed to `best`, define-by-run so conditions decide what is sampled."""
    fixed = {k: v for k, v in best.items() if k not in free}
    with warnings.catch_warnings():  # stable for years, still labelled experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        tpe = optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS,
                                         multivariate=True, group=True)
        sampler = optuna.samplers.PartialFixedSampler(fixed, tpe)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    for params, value in trials:
        active = live(params, designs)
        state = optuna.trial.TrialState.COMPLETE if value is not None else optuna.trial.TrialState.FAIL
        study.add_trial(optuna.trial.create_trial(
            params=active, value=value, state=state,
            distributions={n: distribution(designs.by_name[n]) for n in active}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        trial = study.ask()
        chosen: Params = {}
        for param in designs.params:
            if param.active({**best, **chosen}):
                chosen[param.name] = suggest(trial, param)
    return {**best, **chosen}


def mutate(designs: space.DesignSpace, params: Params, rng: np.random.Generator) -> Params:
    """Change one (sometimes two) tunable parameters to a neighbouring value: with two
    dozen parameters, most random moves hurt, so one at a time learns the most."""
    out = dict(params)
    tunable = designs.tunable(out)
    count = 2 if rng.random() < PAIR_MUTATION else 1
    chosen = rng.choice(len(tunable), size=min(len(tunable), count), replace=False)
    for index in chosen:
        param = tunable[int(index)]
        out[param.name] = _neighbour(param, out.get(param.name, param.default), rng)
    return out


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
