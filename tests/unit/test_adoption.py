"""Adoption: beat the best on the campaign clips without regressing on held-out clips."""

from __future__ import annotations

import pytest

from aivc.research.adoption import Standing, decide

BEST = Standing(10.0, {"bbb": 20.0})

CASES = [
    ("the first correct version is adopted", Standing(None, {}), None, True, "first version"),
    ("a better candidate is adopted", Standing(8.0, {"bbb": 20.5}), BEST, True, "-2.00 points"),
    ("an equal candidate is rejected", Standing(10.0, {"bbb": 20.0}), BEST, False, "does not beat"),
    ("a worse candidate is rejected", Standing(12.0, {"bbb": 19.0}), BEST, False, "does not beat"),
    ("a held-out regression past the tolerance is rejected", Standing(5.0, {"bbb": 22.5}), BEST,
     False, "held-out clip bbb regresses"),
    ("a held-out regression within the tolerance is fine", Standing(5.0, {"bbb": 21.9}), BEST,
     True, "beats"),
    ("a held-out clip that cannot be scored is rejected", Standing(5.0, {"bbb": None}), BEST, False,
     "held-out clip bbb: no BD-rate"),
    ("a candidate without a BD-rate is rejected", Standing(None, {"bbb": 1.0}), BEST, False,
     "no BD-rate"),
    ("any BD-rate beats a best that had none", Standing(50.0, {}), Standing(None, {}), True, "beats"),
]


@pytest.mark.parametrize(("cand", "best", "adopt", "why"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_adoption_rule(cand, best, adopt, why):
    verdict = decide(cand, best, tolerance=2.0)
    assert verdict.adopt is adopt
    assert why in verdict.reason
