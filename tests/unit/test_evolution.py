"""Parent sampling: over many draws it follows its weights, is the same for the same seed and
sequence (so a replayed planner chooses as the original did), and moves away from parents
whose children keep failing."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from aivc.research.evolution import TEMPERATURE, choose_parent, fruitless_children, weights
from aivc.research.planning import Outcome, ParentCodec

ELITES = (ParentCodec(5, "best", bd_rate=10.0), ParentCodec(3, "fast", bd_rate=13.0),
          ParentCodec(2, "simple", bd_rate=20.0))


def children(parent: int, n: int, verdict: str = "Rejected", start: int = 100) -> list[Outcome]:
    return [Outcome(start + i, "h", verdict, parent_version=parent) for i in range(n)]


def draws(history: list[Outcome], n: int = 4000, seed: int = 1, explore: bool = False) -> Counter[int]:
    return Counter(choose_parent(ELITES, history, seed=seed, sequence=s, explore=explore).parent.version
                   for s in range(1, n + 1))


def test_over_many_draws_each_elite_is_chosen_in_proportion_to_its_weight():
    w = weights(ELITES, [])
    assert w == {5: 1.0, 3: pytest.approx(math.exp(-3 / TEMPERATURE)), 2: pytest.approx(math.exp(-10 / TEMPERATURE))}
    counts = draws([])
    total = sum(w.values())
    for version, weight in w.items():
        expected = 4000 * weight / total
        assert abs(counts[version] - expected) < 4 * math.sqrt(expected), (version, counts)


def test_the_same_seed_and_sequence_always_give_the_same_parent_and_another_seed_other_draws():
    first = [choose_parent(ELITES, [], seed=3, sequence=s).parent.version for s in range(200)]
    again = [choose_parent(ELITES, [], seed=3, sequence=s).parent.version for s in range(200)]
    other = [choose_parent(ELITES, [], seed=4, sequence=s).parent.version for s in range(200)]
    assert first == again and first != other
    assert choose_parent(tuple(reversed(ELITES)), [], seed=3, sequence=17).parent.version == first[17]


def test_a_parent_whose_children_keep_failing_loses_its_share_to_the_other_elites():
    before = draws([])[5] / 4000
    history = children(5, 6) + children(3, 1, "Adopted")
    assert fruitless_children(history) == {5: 6}
    after = draws(history)[5] / 4000
    assert before > 0.55 and after < 0.25


def test_exploring_never_starts_from_the_best_and_says_why():
    counts = draws([], n=500, explore=True)
    assert counts[5] == 0 and counts[3] > counts[2] > 0
    choice = choose_parent(ELITES, [], seed=1, sequence=1, explore=True)
    assert "explore" in choice.why and "v5" in choice.why


def test_with_a_single_elite_it_is_always_the_parent_even_when_exploring():
    only = (ParentCodec(0, "v0", bd_rate=None),)
    assert {choose_parent(only, [], seed=0, sequence=s, explore=True).parent.version for s in range(20)} == {0}


def test_the_why_names_the_best_and_the_odds():
    choice = next(c for s in range(50) if (c := choose_parent(ELITES, [], seed=2, sequence=s)).parent.version == 5)
    assert choice.why.startswith("v5 is the best version (drawn with probability")
    assert dict(choice.weights)[5] == pytest.approx(1 / sum(weights(ELITES, []).values()))
