"""Single-parameter moves from the best design, ordered by what earlier moves measured (pure).

With two dozen parameters and a budget of a few dozen experiments, a search learns most
from changing one thing at a time and remembering what each change did. Every pair of
measured designs that differ in one active parameter is a recorded move (that parameter
from one value to another, and the change in BD-rate it caused). The next move from the
best design is chosen from its untried neighbours:

1. combine: when two or more single moves from the best each improved it, but each by
   less than the adoption margin, try them together (the classic way coordinate search
   turns several small gains into one that counts), then with each one left out in turn;
2. otherwise the neighbour whose direction helped when it was taken before ranks first
   (after LAMBDA 1→0.7 helped, 0.7→0.47 is tried next); then the way back from a move that
   hurt, the other side of a parameter that matters (after LAMBDA 1→1.5 cost BD-rate,
   1→0.67), as a pattern search's exploratory step tries -step as soon as +step fails;
   untried directions next; directions that cost BD-rate last, in proportion to what they
   cost, so a change that once cost 40 % is not retried before every untried one has been.
   In the first `make search-gain` runs the way back came after every untried move, and
   with about forty of those it was rarely reached within 30 experiments: LAMBDA 1→0.67,
   GOP 8→4 and INTERP_TAPS 6→8, each a gain on the campaign clips in the seeds that tried
   them, went untried in the seeds that had first tried their other side.

Nothing here is tuned to a codec: the moves are read from the design space's own domains
(next choice over, a step of an eighth of a range, a factor of 1.5 on a log scale), and
parameters the space marks as placing the rate points (`operating point`) are not moved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aivc.codec import space

Params = dict[str, Any]
LOG_STEP = 1.5
"""Factor of one step on a log-scale range."""
LINEAR_STEPS = 8
"""A linear range is crossed in this many steps."""
RECORD_WINDOW = 200


@dataclass(frozen=True)
class Move:
    """One parameter from one value to another; `toward` is its direction (+1 / -1 for
    numbers and ordered choices, the new value itself for unordered ones)."""

    name: str
    old: Any
    new: Any

    @property
    def toward(self) -> Any:
        if _ordered(self.old) and _ordered(self.new):
            return 1 if self.new > self.old else -1
        return ("to", self.new)


def _ordered(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def neighbours(param: space.Param, value: Any) -> list[Any]:
    """The values one step from `value` in `param`'s domain."""
    if param.choices is not None:
        choices = list(param.choices)
        if all(_ordered(c) for c in choices) and any(space.same(value, c) for c in choices):
            i = next(i for i, c in enumerate(choices) if space.same(value, c))
            return [choices[j] for j in (i - 1, i + 1) if 0 <= j < len(choices)]
        return [c for c in choices if not space.same(c, value)]
    low, high = param.range or (0.0, 0.0)
    out: list[Any]
    if param.kind == "int":
        ints = max(1, round((high - low) / LINEAR_STEPS))
        out = [int(min(max(int(value) + d, low), high)) for d in (-ints, ints)]
    elif param.log and value and value > 0:
        out = [min(max(float(value) * f, low), high) for f in (1 / LOG_STEP, LOG_STEP)]
    else:
        step = (high - low) / LINEAR_STEPS
        out = [min(max(float(value) + d, low), high) for d in (-step, step)]
    out = [round(v, 3) if isinstance(v, float) else v for v in out]
    return [v for i, v in enumerate(out) if not space.same(v, value) and v not in out[:i]]


def difference(designs: space.DesignSpace, a: Params, b: Params,
               live: tuple[set[str], set[str]] | None = None) -> list[Move]:
    """The parameters, active in both designs, on which `b` differs from `a` (`live`: both
    designs' active names, when the caller has them already)."""
    in_a, in_b = live or ({p.name for p in designs.active(a)}, {p.name for p in designs.active(b)})
    return [Move(n, a[n], b[n]) for n in designs.names
            if n in in_a and n in in_b and not space.same(a.get(n), b.get(n))]


@dataclass
class Record:
    """What is known of moving one parameter in one direction: the BD-rate changes of the
    moves made that way (`made`), and of moves made the other way, read backwards
    (`reversed`: from a worse design back to a better one)."""

    made: list[float] = field(default_factory=list)
    reversed: list[float] = field(default_factory=list)

    def rank(self) -> tuple[int, float]:
        """(tier, expected change): made and helped; the way back from a move that hurt
        (the costlier the move, the sooner); untried; made or implied and hurt."""
        if self.made:
            mean = sum(self.made) / len(self.made)
            return (0 if mean < 0 else 3), mean
        if self.reversed:
            mean = sum(self.reversed) / len(self.reversed)
            return (1 if mean < 0 else 3), mean
        return 2, 0.0

    def describe(self) -> str:
        if self.made:
            return f"this direction changed BD-rate by {sum(self.made) / len(self.made):+.2f} points before"
        if self.reversed:
            back = sum(self.reversed) / len(self.reversed)
            return f"the other direction {'cost' if back < 0 else 'helped'} BD-rate before"
        return "untried so far"


def recorded(designs: space.DesignSpace,
             measured: list[tuple[Params, float]]) -> dict[tuple[str, Any], Record]:
    """(parameter, direction) → what the recorded single moves (pairs of measured designs,
    in the order they were measured) say of it, over the newest `RECORD_WINDOW` designs
    (pairs grow with the square of them)."""
    measured = measured[-RECORD_WINDOW:]
    live = [{p.name for p in designs.active(params)} for params, _ in measured]
    out: dict[tuple[str, Any], Record] = {}
    for i, (a, va) in enumerate(measured):
        for j, (b, vb) in enumerate(measured[i + 1:], start=i + 1):
            moves = difference(designs, a, b, (live[i], live[j]))
            if len(moves) == 1:
                forward, back = moves[0], Move(moves[0].name, moves[0].new, moves[0].old)
                out.setdefault((forward.name, forward.toward), Record()).made.append(vb - va)
                out.setdefault((back.name, back.toward), Record()).reversed.append(va - vb)
    return out


def combination(designs: space.DesignSpace, start: Params, start_value: float | None,
                measured: list[tuple[Params, float]], seen: Callable[[Params], bool]) -> Params | None:
    """`start` with every single move from it that improved it (the best value per
    parameter; parameters a search holds do not count), when there are two or more and the
    combination is new; once it is known, the same with one move left out."""
    if start_value is None:
        return None
    gains: dict[str, tuple[float, Any]] = {}
    tunable = {p.name for p in designs.tunable(start)}
    for params, value in measured:
        moves = difference(designs, start, params)
        if len(moves) == 1 and value < start_value and moves[0].name in tunable:
            move = moves[0]
            if move.name not in gains or value < gains[move.name][0]:
                gains[move.name] = (value, move.new)
    if len(gains) < 2:
        return None
    ranked = [(n, v) for n, (_, v) in sorted(gains.items(), key=lambda kv: kv[1][0])]
    # All of them first; then each one left out, the smallest gain first and the largest
    # last: when the whole set was refused (a held-out clip, a plane that lost), the change
    # to blame is as likely the biggest gain as any, and a set of the largest gains only
    # (prefixes) would keep it every time.
    subsets = [ranked] + ([ranked[:i] + ranked[i + 1:] for i in reversed(range(len(ranked)))]
                          if len(ranked) > 2 else [])
    for subset in subsets:
        candidate = designs.canonical({**start, **dict(subset)})
        if not seen(candidate):
            return candidate
    return None


def ranked_moves(designs: space.DesignSpace, start: Params,
                 history: Mapping[tuple[str, Any], Record],
                 rng: np.random.Generator) -> list[Move]:
    """Every single move from `start`, best expected first (see the module docstring);
    ties are broken at random, so two seeds explore differently."""
    moves = [Move(p.name, start[p.name], v) for p in designs.tunable(start)
             for v in neighbours(p, start[p.name])]
    order = rng.permutation(len(moves))
    keyed = sorted(((*history.get((m.name, m.toward), Record()).rank(), int(rank), m)
                    for rank, m in zip(order, moves, strict=True)), key=lambda t: t[:3])
    return [m for *_, m in keyed]


def next_design(designs: space.DesignSpace, start: Params, trials: Iterable[tuple[Params, float | None]],
                seen: Callable[[Params], bool], rng: np.random.Generator) -> tuple[Params, str] | None:
    """The next design of a coordinate search from `start` (None: every neighbour is known)."""
    measured = [(dict(p), float(v)) for p, v in trials if v is not None and math.isfinite(v)]
    here = designs.canonical(start)
    start_value = min((v for p, v in measured if designs.canonical(p) == here), default=None)
    combined = combination(designs, start, start_value, measured, seen)
    if combined is not None:
        change = space.describe_change(start, combined, designs)
        return combined, f"the single changes that each improved the parent, together ({change})"
    history = recorded(designs, measured)
    for move in ranked_moves(designs, start, history, rng):
        candidate = designs.canonical({**start, move.name: move.new})
        if not seen(candidate):
            why = history.get((move.name, move.toward), Record()).describe()
            return candidate, f"one parameter of the parent moved a step ({why})"
    return None
