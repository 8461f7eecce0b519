"""The adoption rule: a direct comparison with the best, with a margin, a chroma bound, a luma
bound and the held-out clips, and a verdict that says why in words."""

from __future__ import annotations

import pytest

from aivc.research.adoption import Evidence, Rules, decide

RULES = Rules(margin=0.5, max_chroma_loss_db=0.5, held_out_tolerance=0.0, max_luma_loss_percent=1.0)
GOOD = Evidence(score=80.0, vs_best=-3.0, chroma_vs_best={"U": -0.1, "V": 0.2}, luma_vs_best=-2.0,
                held_out_vs_best={"h": -1.0})

CASES = [
    ("beats the best everywhere", GOOD, True, "BD-rate (PSNR-YUV) vs the best -3.00%"),
    ("says what luma did", GOOD, True, "PSNR-Y -2.00%"),
    ("a little luma for much chroma, within the bound",
     Evidence(score=70.0, vs_best=-4.0, chroma_vs_best={"U": 0.9, "V": 0.8}, luma_vs_best=0.8),
     True, "PSNR-Y +0.80%"),
    ("chroma bought with luma",
     Evidence(score=70.0, vs_best=-4.0, chroma_vs_best={"U": 1.5, "V": 1.4}, luma_vs_best=2.4),
     False, "BD-rate (PSNR-Y) vs the best is +2.40% (at most +1.00% may be lost): chroma bought "
            "with luma"),
    ("luma that cannot be compared",
     Evidence(score=70.0, vs_best=-4.0, luma_vs_best_missing="a: insufficient overlap"), False,
     "PSNR-Y cannot be compared with the best: a: insufficient overlap"),
    ("no score against the anchor",
     Evidence(score=None, score_missing="a: insufficient overlap: ...", vs_best=-9.0),
     False, "no score against the anchor: a: insufficient overlap"),
    ("no comparison with the best",
     Evidence(score=80.0, vs_best=None, vs_best_missing="a: insufficient overlap"),
     False, "cannot be compared with the best: a: insufficient overlap"),
    ("better, but not by the margin", Evidence(score=80.0, vs_best=-0.3), False,
     "vs the best is -0.30% on the campaign clips; adoption needs -0.50% or better"),
    ("worse than the best", Evidence(score=80.0, vs_best=2.0), False, "+2.00%"),
    ("luma bought with chroma",
     Evidence(score=70.0, vs_best=-4.0, chroma_vs_best={"U": -3.5, "V": -3.4}), False,
     "PSNR-U is -3.50 dB vs the best at equal rate"),
    ("chroma that cannot be compared",
     Evidence(score=70.0, vs_best=-4.0, chroma_vs_best={"U": None, "V": 0.0}), False,
     "PSNR-U cannot be compared"),
    ("a held-out clip regresses",
     Evidence(score=70.0, vs_best=-4.0, luma_vs_best=0.0, held_out_vs_best={"h": 0.4}), False,
     "held-out clip h regresses: BD-rate vs the best +0.40%"),
    ("a held-out clip not measured",
     Evidence(score=70.0, vs_best=-4.0, luma_vs_best=0.0, held_out_vs_best={"h": None},
              held_out_missing={"h": "not measured"}), False,
     "held-out clip h cannot be compared with the best: not measured"),
    ("a held-out clip too far ahead for a BD-rate, dominating the best",
     Evidence(score=70.0, vs_best=-4.0, luma_vs_best=0.0, held_out_vs_best={"h": None, "k": -2.0},
              held_out_missing={"h": "insufficient overlap"}, held_out_dominant=frozenset({"h"})),
     True, "held out k -2.00%, h dominates every rate point of the best"),
    ("dominance never overrides a measured regression",
     Evidence(score=70.0, vs_best=-4.0, luma_vs_best=0.0, held_out_vs_best={"h": 0.4},
              held_out_dominant=frozenset({"h"})), False, "held-out clip h regresses"),
]


@pytest.mark.parametrize(("evidence", "adopt", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_the_rule_decides_and_says_why(evidence, adopt, words):
    verdict = decide(evidence, True, RULES)
    assert verdict.adopt is adopt
    assert words in verdict.reason


def test_the_first_version_that_runs_is_adopted_even_without_a_score():
    verdict = decide(Evidence(score=None, score_missing="a: insufficient overlap"), False, RULES)
    assert verdict.adopt and "starting point" in verdict.reason and "insufficient overlap" in verdict.reason


def test_a_held_out_tolerance_lets_a_small_regression_pass():
    assert decide(Evidence(score=1.0, vs_best=-2.0, luma_vs_best=0.0, held_out_vs_best={"h": 0.4}), True,
                  Rules(held_out_tolerance=0.5)).adopt
