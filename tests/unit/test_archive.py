"""The parent archive: the best version first, then the rate/speed trade-off points."""

from __future__ import annotations

from aivc.api.documents import ExperimentDoc
from aivc.research.archive import (
    best_experiment,
    elite_programs,
    parents_from,
    pareto_front,
    recent_failures,
)


def adopted(version: int, bd: float | None, fps: float, verdict: str = "Adopted") -> ExperimentDoc:
    metrics = {"encodeFps": fps, "kbps": 100.0, "psnrY": 35.0}
    if bd is not None:
        metrics["bdRate"] = bd
    return ExperimentDoc.parse({
        "metadata": {"name": f"c-{version:04d}"}, "spec": {"campaign": "c", "sequence": version},
        "status": {"phase": "Succeeded", "verdict": verdict, "version": version, "metrics": metrics,
                   "params": {"BLOCK": 8 * (version + 1)}}})


EXPS = [adopted(0, 90.0, 60.0), adopted(1, 30.0, 30.0), adopted(2, 35.0, 5.0),
        adopted(3, 20.0, 10.0), adopted(9, 1.0, 100.0, verdict="Rejected")]


def test_the_front_keeps_versions_no_other_beats_on_both_rate_and_speed():
    names = [e.name for e in pareto_front(EXPS)]
    assert names == ["c-0003", "c-0001", "c-0000"]  # v2 is slower and worse than v1


def test_parents_are_the_best_then_good_trade_off_points_but_not_a_poor_fast_baseline():
    parents = parents_from(EXPS, lambda name: f"# source of {name}\n")
    assert [p.version for p in parents] == [3, 1]  # v0 is fast but 70 points worse
    assert parents[0].source == "# source of c-0003\n"
    assert parents[0].bd_rate == 20.0 and parents[0].encode_fps == 10.0
    assert parents[0].params == {"BLOCK": 32}


def test_rejected_experiments_are_never_parents():
    assert all(p.version != 9 for p in parents_from(EXPS, lambda n: "x"))


def test_the_archive_is_capped():
    many = [adopted(v, 100.0 + v, float(v + 1)) for v in range(10)]  # each faster one is a bit worse
    assert len(parents_from(many, lambda n: "x", limit=4)) == 4


def test_no_adoption_means_no_parents():
    assert parents_from([adopted(0, 1.0, 1.0, verdict="Rejected")], lambda n: "x") == ()


def test_a_version_without_bd_rate_is_still_the_best_when_it_is_the_only_one():
    best = best_experiment([adopted(0, None, 5.0)])
    assert best is not None and best.name == "c-0000"


# ---- elites along complexity, and the programs shown beside the parent -----------------------

SMALL = "LEVELS = 1\n"
LARGE = "LEVELS = 1\n" + "".join(f"X{i} = {i}\n" for i in range(50))


def test_a_slower_but_much_simpler_version_is_an_elite_too():
    exps = [adopted(1, 20.0, 30.0), adopted(2, 25.0, 20.0)]  # v2: worse and slower, but simpler
    sources = {"c-0001": LARGE, "c-0002": SMALL}
    parents = parents_from(exps, sources.get)
    assert [p.version for p in parents] == [1, 2]
    assert parents[1].complexity is not None and parents[1].complexity < parents[0].complexity


def test_the_programs_shown_are_the_best_unless_it_is_the_parent_and_the_most_different_elite():
    parents = parents_from(EXPS, lambda name: f"# source of {name}\n")
    shown = elite_programs(parents, parent_version=1)
    assert [(p.role, p.version) for p in shown] == [("best", 3)]
    shown = elite_programs(parents, parent_version=3)
    assert [(p.role, p.version) for p in shown] == [("diverse", 1)]
    assert shown[0].source == "# source of c-0001\n" and "adopted as v1, score +30.00%" in shown[0].outcome


def failed(seq: int, category: str, phase: str = "Failed") -> ExperimentDoc:
    return ExperimentDoc.parse({
        "metadata": {"name": f"c-{seq:04d}"}, "spec": {"campaign": "c", "sequence": seq,
                                                       "hypothesis": f"idea {seq}"},
        "status": {"phase": phase, "lastError": {"stage": "validation", "category": category,
                                                 "message": f"boom {seq}"}}})


def rejected(seq: int) -> ExperimentDoc:
    return ExperimentDoc.parse({
        "metadata": {"name": f"c-{seq:04d}"}, "spec": {"campaign": "c", "sequence": seq,
                                                       "hypothesis": f"idea {seq}"},
        "status": {"phase": "Succeeded", "verdict": "Rejected", "metrics": {"bdRate": 40.0},
                   "analysis": {"reason": "not 0.5 % better than the best"}}})


def test_recent_failures_are_shown_with_code_and_reason_but_never_a_platform_fault():
    exps = [failed(4, "crash"), rejected(5), failed(6, "infra"), failed(7, "timeout", phase="NeedsHuman")]
    shown = recent_failures(exps, lambda name: f"# code of {name}\n")
    assert [(p.sequence, p.role) for p in shown] == [(5, "rejected"), (4, "failed")]
    assert shown[0].outcome == "rejected (score +40.00%): not 0.5 % better than the best"
    assert shown[1].outcome == "failed in validation (crash): boom 4" and shown[1].source == "# code of c-0004\n"
