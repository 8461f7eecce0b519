"""The hybrid planner's choices: the LLM writes, the search tunes what it declared, the
model comes from a bandit; everything derived from the request (no hidden state)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from aivc.api.documents import Origin
from aivc.api.spec import CampaignSpec
from aivc.codec import space
from aivc.research import bandit
from aivc.research.hybrid_planner import HybridPlanner, findings, sensitivity
from aivc.research.planning import DesignRequest, Failure, Lesson, Outcome, Proposal, TunableProgram

PROGRAM = '''"""A toy codec with declared knobs."""
# --- PARAMETERS (rewritten by the search planner) ---
QSTEP = 12.0           # float: 2..20 log; quantiser step at level 0
DEADZONE = 0.05        # float: 0..0.5; rounding offset
BLOCK = 4              # choice: 4|8|16; transform size
SMOOTH = False         # bool; post filter
SMOOTH_TAPS = 3        # int: 1..7; filter length; when SMOOTH
# --- END PARAMETERS ---
LEVELS = 4
'''
OTHER = PROGRAM.replace("QSTEP = 12.0 ", "QSTEP = 10.0 ").replace("DEADZONE", "ROUNDING")
DEFAULTS = dict(space.parse_space(PROGRAM).defaults())


def spec(**extra: Any) -> CampaignSpec:
    return CampaignSpec.from_manifest({
        "apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": "h"},
        "spec": {"planner": "hybrid", "seed": 5, "dataset": {"clips": ["carphone:8"]},
                 "hybrid": {"searchPerDesign": 3}, **extra}})


@dataclass
class FakeLLM:
    """Stands in for LLMPlanner: records what the hybrid asked for."""

    asked: list[tuple[str | None, str | None]] = field(default_factory=list)
    learned: list[Outcome] = field(default_factory=list)
    replayed: list[Outcome] = field(default_factory=list)
    spent_usd: float = 0.0

    def propose(self, request: DesignRequest, *, model: str | None = None,
                findings: str | None = None) -> Proposal:
        self.asked.append((model, findings))
        return Proposal(source=PROGRAM, hypothesis="a toy", parent_version=0)

    def learn(self, outcome: Outcome) -> Lesson:
        self.learned.append(outcome)
        return Lesson("llm lesson")

    def replay(self, outcomes: list[Outcome]) -> None:
        self.replayed = list(outcomes)

    def close(self) -> None: ...


def planner(**extra: Any) -> tuple[HybridPlanner, FakeLLM]:
    llm = FakeLLM()
    return HybridPlanner(spec(**extra), llm), llm  # type: ignore[arg-type]


def program(trials: list[tuple[dict[str, Any], float | None]], own: float | None = 40.0,
            seq: int = 1, source: str = PROGRAM, in_flight: int = 0) -> TunableProgram:
    defaults = dict(space.parse_space(source).defaults())
    return TunableProgram(seq, source, 0, defaults, own, own is not None,
                          tuple([(defaults, own), *trials]) if own is not None else tuple(trials),
                          in_flight)


def request(seq: int, tunable: tuple[TunableProgram, ...] = (), **kw: Any) -> DesignRequest:
    return DesignRequest(sequence=seq, parents=(), seed=5, tunable=tunable, **kw)


def test_a_program_with_declared_knobs_is_searched_before_the_llm_is_asked_again():
    hybrid, llm = planner()
    first = hybrid.propose(request(1))
    assert first.origin == Origin("llm", 1, "claude-sonnet-5-5") and first.params == DEFAULTS
    done: list[tuple[dict[str, Any], float | None]] = []
    for seq in (2, 3, 4):
        p = hybrid.propose(request(seq, (program(done),)))
        assert p.origin == Origin("search", 1) and p.params != DEFAULTS
        assert space.parse_space(p.source).names == space.parse_space(PROGRAM).names
        assert space.read_params(p.source) == p.params and p.source.endswith("LEVELS = 4\n")
        assert p.hypothesis.startswith("Tuning program #1: ")
        done.append((p.params, 40.0 - seq))
    again = hybrid.propose(request(5, (program(done),)))
    assert again.origin is not None and again.origin.planner == "llm" and len(llm.asked) == 2
    assert "Program #1" in (llm.asked[-1][1] or "") and "best +36.00 %" in (llm.asked[-1][1] or "")


def test_in_flight_searches_count_and_an_unmeasured_program_is_not_searched():
    hybrid, _ = planner()
    assert hybrid.open_program((program([], in_flight=3),)) is None
    assert hybrid.open_program((program([], own=None),)) is None
    assert hybrid.open_program((program([], in_flight=2),)) is not None


def test_the_first_search_is_warm_started_from_another_programs_best_values():
    hybrid, _ = planner()
    best = {**DEFAULTS, "QSTEP": 6.0, "BLOCK": 8}
    older = program([(best, 20.0), ({**DEFAULTS, "QSTEP": 18.0}, 50.0)], seq=1)
    newer = program([], seq=5, source=OTHER)
    p = hybrid.propose(request(6, (newer, older)))
    assert p.origin == Origin("search", 5) and "warm start" in p.rationale
    assert p.params is not None and (p.params["QSTEP"], p.params["BLOCK"]) == (6.0, 8)


def test_a_failed_search_point_is_replaced_by_another_point_not_an_llm_call():
    hybrid, llm = planner()
    failed = {**DEFAULTS, "BLOCK": 16}
    p = hybrid.propose(request(3, (program([(failed, None)]),), repair=Failure("validation", "crash", "x"),
                               failed_params=failed, failed_origin=Origin("search", 1)))
    assert p.origin == Origin("search", 1) and p.params != failed and not llm.asked


def test_search_lessons_cost_no_call_and_llm_programs_are_analysed_by_the_llm():
    hybrid, llm = planner()
    search = Outcome(sequence=3, hypothesis="Tuning program #1: QSTEP 12 → 8", verdict="Rejected",
                     bd_rate=35.0, origin=Origin("search", 1))
    assert "BD-rate (PSNR-YUV) +35.00%" in (hybrid.learn(search).text or "")
    assert not llm.learned
    mine = replace(search, sequence=2, origin=Origin("llm", 2))
    hybrid.learn(mine)
    assert llm.learned == [mine]
    hybrid.replay([mine, search])
    assert llm.replayed == [mine]  # search lines never crowd the LLM's lessons


def test_sensitivity_ranks_the_parameter_that_moved_the_score():
    trials = [({"A": 1.0, "B": "x"}, 10.0), ({"A": 1.0, "B": "y"}, 10.5),
              ({"A": 9.0, "B": "x"}, 30.0), ({"A": 9.0, "B": "y"}, 30.5)]
    ranked = sensitivity(trials)
    assert [n for n, _ in ranked] == ["A", "B"] and ranked[0][1] == pytest.approx(20.0)
    assert findings((program([({**DEFAULTS, "QSTEP": 6.0}, 30.0)]),)) is not None
    assert findings((program([]),)) is None


def _llm(seq: int, model: str, bd: float, cost: float) -> Outcome:
    return Outcome(sequence=seq, hypothesis="h", verdict="Rejected", bd_rate=bd,
                   origin=Origin("llm", seq, model), cost_usd=cost)


def test_the_bandit_tries_every_model_then_prefers_gain_per_dollar():
    models = ["big", "small"]
    base = Outcome(sequence=0, hypothesis="b", verdict="Adopted", bd_rate=100.0, origin=Origin("base"))
    assert bandit.choose(models, [base]) == "big"
    assert bandit.choose(models, [base], in_flight=["big"]) == "small"
    history = [base, _llm(1, "big", 90.0, 1.0), _llm(2, "small", 80.0, 0.1),
               Outcome(sequence=3, hypothesis="t", verdict="Rejected", bd_rate=70.0,
                       origin=Origin("search", 2))]
    arms = {a.model: a for a in bandit.arms(models, history)}
    assert arms["small"].gain == pytest.approx(20.0) and arms["big"].gain == pytest.approx(10.0)
    assert arms["small"].value == pytest.approx(1.0) and arms["big"].value < 0.1
    assert bandit.choose(models, history) == "small"


def test_the_hybrid_asks_the_bandits_model_for_each_design():
    hybrid, llm = planner(llm={"designModels": ["claude-sonnet-5-5", "claude-haiku-4-5"]})
    p = hybrid.propose(request(1, in_flight=(Origin("llm", 0, "claude-sonnet-5-5"),)))
    assert llm.asked[-1][0] == "claude-haiku-4-5" and p.origin == Origin("llm", 1, "claude-haiku-4-5")


def test_a_failed_llm_program_is_repaired_by_the_model_that_wrote_it():
    hybrid, llm = planner(llm={"designModels": ["claude-sonnet-5-5", "claude-haiku-4-5"]})
    p = hybrid.propose(request(2, repair=Failure("validation", "crash", "x"),
                               failed_origin=Origin("llm", 2, "claude-haiku-4-5")))
    assert llm.asked[-1][0] == "claude-haiku-4-5" and p.origin == Origin("llm", 2, "claude-haiku-4-5")
