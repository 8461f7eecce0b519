"""The `hybrid` planner: the LLM writes tunable programs, a search tunes each one.

A program the LLM writes may declare tunable parameters (`aivc.codec.space`: the block the
reference codecs use too). After the LLM's program has been measured, the next
`hybrid.searchPerDesign` experiments are search experiments over its parameters: the first
is warm-started from the best values other programs found for parameters of the same name
(or, without any, explores around the declared defaults), the rest are coordinate steps
around the best point so far and, one in five, TPE (`aivc.research.search_planner.explore`;
the template search asks TPE less often on evidence from 30-experiment campaigns over the
template, which says nothing about the few search turns a program gets). Only then is the
LLM asked again, and its prompt says what the search found: the best values
and how strongly the score moved with each parameter. A search experiment costs sandbox
time only, so a program's knobs are tuned without paying the model for guesses.

Which model writes the next program is a bandit's choice when the campaign lists several
(`aivc.research.bandit`). Every experiment records who made it (`status.origin`): the LLM
and its model, or the search and the program it tunes (its `family`).

Stateless like the search planner: every choice is derived from the request (its history
and the tunable programs the lab found), seeded by the campaign seed and the sequence.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from aivc.api.documents import Origin
from aivc.api.spec import CampaignSpec
from aivc.codec import space
from aivc.research import bandit, duplicates
from aivc.research.llm_planner import LLMPlanner
from aivc.research.planning import (
    DesignRequest,
    Lesson,
    Outcome,
    PlannerError,
    Proposal,
    TunableProgram,
)
from aivc.research.search_planner import (
    MAX_TRIES,
    ask_tpe,
    best_of,
    canonical,
    explore,
    fits,
    lesson_line,
    seed_for,
    tidy,
)

log = logging.getLogger(__name__)

TPE_EVERY = 5  # every 5th search experiment over a program asks TPE

Params = dict[str, Any]


class HybridPlanner:
    """`Planner` that alternates LLM programs and searches over their parameters."""

    name = "hybrid"

    def __init__(self, spec: CampaignSpec, llm: LLMPlanner) -> None:
        self.spec, self.llm = spec, llm
        self.per_design = spec.search_per_design

    def close(self) -> None:
        self.llm.close()

    @property
    def spent_usd(self) -> float:
        return self.llm.spent_usd

    # ---- the Planner interface ----------------------------------------------------------

    def propose(self, request: DesignRequest) -> Proposal:
        failed = request.failed_origin
        if request.repair is not None and failed is not None and failed.planner == "search":
            family = next((t for t in request.tunable if t.sequence == failed.family), None)
            if family is not None:
                return self.tune(request, family)
        if request.repair is None:
            family = self.open_program(request.tunable)
            if family is not None:
                try:
                    return self.tune(request, family)
                except (PlannerError, space.DesignSpaceError) as exc:
                    log.info("search over #%d's parameters ends early: %s", family.sequence, exc)
        return self._write(request)

    def learn(self, outcome: Outcome) -> Lesson:
        """A search experiment teaches in one line and costs no call; the LLM draws the
        lesson of its own programs. Search outcomes stay out of the LLM planner's memory
        (its lessons, its review cadence): the next prompt shows them as findings."""
        if _searched(outcome):
            return Lesson(lesson_line(outcome))
        return self.llm.learn(outcome)

    def replay(self, outcomes: list[Outcome]) -> None:
        self.llm.replay([o for o in outcomes if not _searched(o)])

    # ---- the two kinds of design ---------------------------------------------------------

    def open_program(self, tunable: tuple[TunableProgram, ...]) -> TunableProgram | None:
        """The newest measured program whose search is not done (None: ask the LLM)."""
        for program in tunable:
            if program.ran and program.searched < self.per_design:
                return program
        return None

    def tune(self, request: DesignRequest, program: TunableProgram) -> Proposal:
        """The next point of `program`'s declared space (see the module docstring)."""
        designs = space.parse_space(program.source)
        trials = [(designs.canonical(p), v) for p, v in program.trials if fits(p, designs)]
        seen = {canonical(p, designs) for p, _ in trials}
        if request.failed_params:
            seen.add(canonical(dict(request.failed_params), designs))
        measured = [(p, v) for p, v in trials if v is not None]
        defaults = designs.defaults()
        known = {k.fingerprint for k in request.known}
        warm = warm_start(designs, program, request.tunable)
        for attempt in range(MAX_TRIES):
            seed = (request.seed, request.sequence, attempt)
            if len(measured) <= 1 and warm is not None and canonical(warm, designs) not in seen:
                params, how = warm, "warm start: the best values other programs found for these parameters"
            elif len(measured) < 2:
                params, how = spread(designs, trials, seen, seed), \
                    "a random point of the declared ranges (too few scored settings to steer by)"
            else:
                start = best_of(measured) or designs.canonical(defaults)
                params, how = explore(designs, trials, seen, start, seed,
                                      use_tpe=len(measured) >= 3 and request.sequence % TPE_EVERY == 0,
                                      rng=np.random.default_rng(seed_for(*seed)))
            source = space.generate_source(params, base=program.source)
            if duplicates.fingerprint(source) not in known:
                break
            seen.add(canonical(params, designs))  # another program already is this one
        else:
            raise PlannerError(f"no setting of program #{program.sequence}'s parameters that is "
                               f"not already a measured program in {MAX_TRIES} tries")
        change = space.describe_change(designs.canonical(defaults), params, designs)
        return Proposal(source=source, hypothesis=f"Tuning program #{program.sequence}: {change}",
                        parent_version=program.parent_version,
                        rationale=f"{how}; {len(measured)} settings of this program measured",
                        params=params, origin=Origin("search", program.sequence))

    def _write(self, request: DesignRequest) -> Proposal:
        models = self.spec.llm.design_models
        failed = request.failed_origin
        if request.repair is not None and failed is not None and failed.model:
            model: str | None = failed.model  # the model repairs its own program
        else:
            model = bandit.choose(models, request.history,
                                  [o.model for o in request.in_flight if o.model]) if models else None
        proposal = self.llm.propose(request, model=model, findings=findings(request.tunable))
        params: Params | None = None
        if space.declares(proposal.source):
            try:
                params = dict(space.parse_space(proposal.source).defaults()) or None
            except space.DesignSpaceError:
                params = None  # validation refuses the block and the model repairs it
        return replace(proposal, params=params,
                       origin=Origin("llm", request.sequence,
                                     model or self.spec.llm.model_for("design")))


def spread(designs: space.DesignSpace, trials: list[tuple[Params, float | None]], seen: set[str],
           seed: tuple[Any, ...]) -> Params:
    """A point drawn over every declared range (TPE samples at random until it has a few
    trials): defaults an LLM guessed may lie far from where the score is, even outside the
    anchor's quality range, where a local step learns nothing."""
    start = designs.canonical(designs.defaults())
    names = [p.name for p in designs.params]
    for attempt in range(MAX_TRIES):
        params = designs.canonical(ask_tpe(designs, trials, start, names, seed_for(*seed, attempt)))
        params = tidy(params)
        if canonical(params, designs) not in seen:
            return params
    raise PlannerError(f"no new setting of the declared parameters in {MAX_TRIES} tries")


def _searched(outcome: Outcome) -> bool:
    return outcome.origin is not None and outcome.origin.planner == "search"


def warm_start(designs: space.DesignSpace, program: TunableProgram,
               others: tuple[TunableProgram, ...]) -> Params | None:
    """The declared defaults, with every parameter another program also declares set to
    the value of that program's best measured setting (when it lies in this domain)."""
    found: Params = {}
    for other in others:
        if other.sequence == program.sequence:
            continue
        best = best_of([(p, v) for p, v in other.trials if v is not None])
        for name, value in (best or {}).items():
            param = designs.by_name.get(name)
            if param is None or name in found:
                continue
            try:
                found[name] = param.check(value)
            except space.DesignSpaceError:
                continue
    if not found:
        return None
    return designs.canonical({**designs.defaults(), **found})


def sensitivity(trials: list[tuple[Params, float]]) -> list[tuple[str, float]]:
    """How far the mean score moved with each parameter, in BD-rate points, largest first:
    for a choice or bool the spread of the means per value; for a number, the difference of
    the means below and above its median value."""
    out = []
    names = sorted({n for p, _ in trials for n in p})
    for name in names:
        values: list[tuple[Any, float]] = [(p[name], v) for p, v in trials if name in p]
        distinct = {repr(x) for x, _ in values}
        if len(distinct) < 2:
            continue
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _ in values)
        groups: dict[str, list[float]] = {}
        if numeric:
            middle = float(np.median([float(x) for x, _ in values]))
            for x, v in values:
                groups.setdefault("low" if float(x) <= middle else "high", []).append(v)
        else:
            for x, v in values:
                groups.setdefault(repr(x), []).append(v)
        means = [sum(g) / len(g) for g in groups.values()]
        if len(means) >= 2:
            out.append((name, max(means) - min(means)))
    return sorted(out, key=lambda nv: -nv[1])


def findings(tunable: tuple[TunableProgram, ...]) -> str | None:
    """What the search found on the recent programs, for the next LLM prompt."""
    lines = []
    for program in tunable:
        measured = [(p, v) for p, v in program.trials if v is not None]
        tried = sum(1 for p, _ in program.trials if p != program.defaults)
        if not tried:
            continue
        own = program.own_score
        head = (f"- Program #{program.sequence}: its declared defaults scored "
                + (f"{own:+.2f} %" if own is not None else "nothing (it failed)")
                + f"; the search tried {tried} settings")
        best = best_of(measured)
        if best is not None and measured:
            score = min(v for _, v in measured)
            changed = {k: v for k, v in best.items() if program.defaults.get(k) != v}
            shown = ", ".join(f"{k}={v!r}" for k, v in changed.items()) or "the defaults"
            head += f", best {score:+.2f} % with {shown}"
        failed = sum(1 for _, v in program.trials if v is None)
        if failed:
            head += f" ({failed} failed)"
        lines.append(head + ".")
        moved = sensitivity(measured)[:6]
        if moved:
            lines.append("  Score moved with: " + ", ".join(f"{n} {d:.2f} points" for n, d in moved)
                         + " (spread of the mean BD-rate between its values).")
    return "\n".join(lines) or None
