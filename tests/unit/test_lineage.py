"""The report's lineage: versions as a tree with their scores and hypotheses, as markdown and a
PNG, and a story that says which version each experiment started from."""

from __future__ import annotations

from pathlib import Path

from aivc.api.documents import ExperimentDoc
from aivc.research import lineage
from aivc.research.story import story_lines


def exp(seq: int, parent: str | None, verdict: str = "Adopted", version: int | None = None,
        bd: float | None = None, lesson: str | None = None) -> ExperimentDoc:
    status = {"phase": "Succeeded", "verdict": verdict, "metrics": {"bdRate": bd} if bd is not None else None,
              "lesson": lesson}
    if version is not None:
        status["version"] = version
    return ExperimentDoc.parse({"metadata": {"name": f"c-{seq:04d}"},
                                "spec": {"campaign": "c", "sequence": seq, "parentVersion": parent,
                                         "hypothesis": f"idea {seq}"},
                                "status": status})


HISTORY = [exp(0, None, version=0, bd=480.0), exp(1, "v0", version=1, bd=120.0),
           exp(2, "v1", "Rejected", bd=125.0), exp(3, "v0", version=2, bd=110.0),
           exp(4, "v1", version=3, bd=100.0),
           exp(5, "v3", "Rejected", bd=101.0,
               lesson="[avoid] idea 5 did not help\n[review] off track: why? | idea: try inter")]


def test_the_markdown_nests_each_version_under_its_parent_with_score_gain_and_hypothesis():
    assert lineage.markdown(HISTORY) == [
        "- **v0** (#0) +480.00%: idea 0",
        "  - **v1** (#1) +120.00% (-360.00 points vs v0); 1 other candidate from it not adopted: idea 1",
        "    - **v3** (#4) +100.00% (-20.00 points vs v1); 1 other candidate from it not adopted: idea 4",
        "  - **v2** (#3) +110.00% (-370.00 points vs v0): idea 3"]


def test_the_lineage_png_is_drawn_and_nothing_is_drawn_without_versions(tmp_path: Path):
    png = lineage.plot(tmp_path / "lineage.png", HISTORY, "x264")
    assert png is not None and png.stat().st_size > 5000
    assert lineage.plot(tmp_path / "none.png", [exp(1, "v0", "Rejected", bd=3.0)], "x264") is None
    assert lineage.markdown([]) == ["No version was adopted."]


def test_the_story_says_which_version_each_experiment_came_from_and_whether_it_was_the_best():
    lines = story_lines(HISTORY)
    assert lines[1].startswith("- **#1** (from v0, the best then): idea 1")
    assert lines[3].startswith("- **#3** (from v0; the best then was v1): idea 3")
    assert lines[5].startswith("- **#5** (from v3, the best then)")
    assert "*Lesson: [avoid] idea 5 did not help* *Review: off track: why? | idea: try inter*" in lines[5]


def made(doc: ExperimentDoc, planner: str, family: int | None = None, model: str | None = None) -> ExperimentDoc:
    raw = {"metadata": {"name": doc.name}, "spec": doc.spec.to_json(),
           "status": {**doc.stored, "origin": {"planner": planner, "family": family, "model": model}}}
    return ExperimentDoc.parse(raw)


def test_llm_structure_changes_and_search_refinements_are_told_apart(tmp_path: Path):
    hybrid = [made(exp(0, None, version=0, bd=480.0), "base"),
              made(exp(1, "v0", "Rejected", bd=300.0), "llm", 1, "claude-sonnet-5-5"),
              made(exp(2, "v0", version=1, bd=200.0), "search", 1),
              made(exp(3, "v0", "Rejected", bd=250.0), "search", 1),
              made(exp(4, "v1", version=2, bd=150.0), "llm", 4, "claude-haiku-4-5")]
    assert lineage.markdown(hybrid) == [
        "- **v0** (#0) +480.00%; 2 other candidates from it not adopted (1 LLM structure change, "
        "1 search refinement): idea 0",
        "  - **v1** (#2) +200.00% (-280.00 points vs v0) [search refinement of program #1]: idea 2",
        "    - **v2** (#4) +150.00% (-50.00 points vs v1) [LLM structure change, claude-haiku-4-5]: idea 4"]
    assert lineage.plot(tmp_path / "lineage.png", hybrid, "x264") is not None
