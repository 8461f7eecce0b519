"""Coordinate search over the template's design space: one parameter a step, the directions
that helped first, untried ones next, costly ones last; small gains combined."""

from __future__ import annotations

import numpy as np
import pytest

from aivc.codec import space
from aivc.research import coordinate
from aivc.research.coordinate import (
    Move,
    difference,
    neighbours,
    next_design,
    ranked_moves,
    recorded,
)

DESIGNS = space.template_space()
BASE = DESIGNS.canonical(space.defaults())


def at(**changes: object) -> dict:
    return DESIGNS.canonical({**BASE, **changes})


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("GOP", 8, [4, 16]),                       # ordered choices: the next one either side
    ("GOP", 16, [8]),                          # ... not past the end
    ("SUBPEL_PATTERN", "diamond", ["square"]),  # unordered: every other choice
    ("MBTREE", True, [False]),
    ("QP", 24, [21, 27]),                      # an eighth of 14..40, rounded
    ("LAMBDA", 1.0, [0.667, 1.5]),             # a factor on a log scale
    ("DEBLOCK", 0.0, [0.25]),                  # an eighth of 0..2, clipped at the bottom
])
def test_neighbours_are_one_step_in_the_parameters_own_domain(name, value, expected):
    assert neighbours(DESIGNS.by_name[name], value) == expected


def test_a_difference_ignores_parameters_that_do_not_matter_in_one_of_the_designs():
    # GOP 1 is low-delay P: B_QP_STEP no longer matters, so this is one move, not two
    assert difference(DESIGNS, at(B_QP_STEP=2), at(GOP=1)) == [Move("GOP", 8, 1)]
    assert len(difference(DESIGNS, at(B_QP_STEP=2), at(GOP=4))) == 2


def test_a_direction_that_helped_is_followed_further():
    measured = [(BASE, 30.0), (at(LAMBDA=0.667), 28.0)]
    design, why = next_design(DESIGNS, at(LAMBDA=0.667), measured, lambda p: False, rng())
    assert design == at(LAMBDA=0.445) and "-2.00 points before" in why


def test_small_gains_of_separate_parameters_are_tried_together():
    measured = [(BASE, 30.0), (at(DEBLOCK=1.25), 29.5), (at(SUBPEL_PATTERN="square"), 29.4),
                (at(GOP=4), 33.0)]
    design, why = next_design(DESIGNS, BASE, measured, lambda p: False, rng())
    assert design == at(DEBLOCK=1.25, SUBPEL_PATTERN="square") and "together" in why
    # once that combination is known, the search goes on one parameter at a time
    known = {repr(design)}
    design, _ = next_design(DESIGNS, BASE, measured, lambda p: repr(p) in known, rng())
    assert len(difference(DESIGNS, BASE, design)) == 1


def test_once_all_small_gains_together_are_known_each_is_left_out_in_turn_the_largest_last():
    measured = [(BASE, 30.0), (at(DEBLOCK=1.25), 29.1), (at(SUBPEL_PATTERN="square"), 29.4),
                (at(INTERP_TAPS=8), 29.7)]
    known: set[str] = set()
    tried = []
    for _ in range(5):
        design, _why = next_design(DESIGNS, BASE, measured, lambda p: repr(p) in known, rng())
        known.add(repr(design))
        tried.append(sorted(m.name for m in difference(DESIGNS, BASE, design)))
    assert tried[:4] == [["DEBLOCK", "INTERP_TAPS", "SUBPEL_PATTERN"],
                         ["DEBLOCK", "SUBPEL_PATTERN"],   # the smallest gain left out first
                         ["DEBLOCK", "INTERP_TAPS"],
                         ["INTERP_TAPS", "SUBPEL_PATTERN"]]  # the largest gain left out last
    assert len(tried[4]) == 1  # then one parameter at a time again


def test_the_way_back_from_a_costly_move_comes_before_untried_moves_and_costly_moves_come_last():
    measured = [(BASE, 30.0), (at(GOP=16), 70.0), (at(SEARCH_RANGE=29), 31.0)]
    order = ranked_moves(DESIGNS, BASE, recorded(DESIGNS, measured), rng())
    names = [(m.name, m.new) for m in order]
    assert names[-1] == ("GOP", 16) and names[-2] == ("SEARCH_RANGE", 29)  # cost 40, then 1
    # the other side of each parameter that mattered, the costlier first, then the untried
    assert names[:2] == [("GOP", 4), ("SEARCH_RANGE", 19)]
    assert ("DEBLOCK", 1.25) in names[2:-2]  # untried: between the two


def test_after_one_side_hurt_the_next_step_is_the_other_side():
    measured = [(BASE, 30.0), (at(LAMBDA=1.5), 33.0)]
    design, why = next_design(DESIGNS, BASE, measured, lambda p: False, rng())
    assert design == at(LAMBDA=0.667) and why.endswith("(the other direction cost BD-rate before)")


def test_parameters_that_place_the_rate_points_are_never_moved():
    # QP and QP_SPACING move where BD-rate is measured, not how good the codec is: even when
    # moving them "helped" before, the search holds them
    measured = [(BASE, 30.0), (at(QP=27), 25.0), (at(QP_SPACING=5), 26.0)]
    moved = {m.name for m in ranked_moves(DESIGNS, BASE, recorded(DESIGNS, measured), rng())}
    assert moved and not moved & {"QP", "QP_SPACING"}
    design, _ = next_design(DESIGNS, BASE, measured, lambda p: False, rng())
    assert (design["QP"], design["QP_SPACING"]) == (BASE["QP"], BASE["QP_SPACING"])


def test_every_neighbour_known_leaves_the_choice_to_the_caller():
    assert next_design(DESIGNS, BASE, [(BASE, 30.0)], lambda p: True, rng()) is None


def test_another_seed_breaks_ties_differently():
    history = recorded(DESIGNS, [(BASE, 30.0)])
    first = [ranked_moves(DESIGNS, BASE, history, np.random.default_rng(s))[0] for s in range(4)]
    assert len(set(first)) > 1


def test_a_long_history_is_read_over_its_newest_designs_only():
    measured = [(at(QP=14 + i % 27), float(i % 7)) for i in range(500)]
    window = measured[-coordinate.RECORD_WINDOW:]
    assert recorded(DESIGNS, measured) == recorded(DESIGNS, window) != recorded(DESIGNS, measured[:300])


def test_the_reason_says_which_way_the_record_points():
    history = recorded(DESIGNS, [(BASE, 30.0), (at(GOP=16), 70.0), (at(LAMBDA=0.667), 28.0)])
    assert history[("GOP", -1)].describe() == "the other direction cost BD-rate before"
    assert history[("LAMBDA", 1)].describe() == "the other direction helped BD-rate before"
    assert history[("LAMBDA", -1)].describe() == "this direction changed BD-rate by -2.00 points before"
