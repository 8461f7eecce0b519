"""The hybrid planner end to end in local mode, against the llm planner on the same scripted
model (the bench's `hybrid` section at its default size): the real SDK, the real sandbox,
real x264 anchors. The scripted model writes the base codec with its quantiser constants
declared as parameters and poor default values."""

from __future__ import annotations

from typing import Any

import pytest

from aivc import settings as settings_mod
from aivc.bench import hybrid
from aivc.observe import metrics
from aivc.research import report
from aivc.store.local import LocalStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("hybrid")
    settings = settings_mod.load()
    out = {p: hybrid.run_one(p, 2, 4, work, settings) for p in ("llm", "hybrid")}
    out["work"] = work
    return out


def test_each_program_is_searched_before_the_next_llm_design(runs: dict[str, Any]) -> None:
    docs = runs["hybrid"]["docs"]
    made = [(e.status.origin.planner, e.status.origin.family) for e in docs if e.status.origin]
    assert made == [("base", None), ("llm", 1), *[("search", 1)] * 4, ("llm", 6), *[("search", 6)] * 4]
    assert all(e.status.phase.value == "Succeeded" for e in docs)
    for e in docs[2:6]:
        assert e.status.params and e.status.params != docs[1].status.params
        assert e.spec.hypothesis and e.spec.hypothesis.startswith("Tuning program #1: ")
    assert runs["hybrid"]["calls"] == runs["llm"]["calls"] == 4  # two designs, two lessons


def test_the_next_prompt_says_what_the_search_found_and_how_to_declare_knobs(runs: dict[str, Any]) -> None:
    first, second = runs["hybrid"]["prompts"]
    assert "## Tunable parameters" in first and "search experiments over the parameters" in first
    assert "What the search found" not in first
    assert "## What the search found" in second and "- Program #1: its declared defaults scored" in second
    assert "the search tried 4 settings" in second
    assert "What the search found" not in runs["llm"]["prompts"][1]


def test_for_the_same_llm_calls_the_hybrid_finds_a_clearly_better_codec(runs: dict[str, Any]) -> None:
    llm = hybrid.best_after_calls(runs["llm"]["docs"])
    mixed = hybrid.best_after_calls(runs["hybrid"]["docs"])
    assert mixed[-1][1] < llm[-1][1] - 10.0, (mixed[-1], llm[-1])
    reached = next(calls for calls, best in mixed if best <= llm[-1][1])
    assert reached < llm[-1][0]


def test_the_report_tells_llm_programs_from_search_refinements_and_shows_the_bandit(
        runs: dict[str, Any]) -> None:
    store = LocalStore(runs["work"] / "hybrid")
    path = report.write_report(store, "hybrid", runs["work"] / "report")
    text = path.read_text()
    assert "## Design models" in text and "| claude-sonnet-5-5 | 2 |" in text
    assert "LLM structure change" in text or "search refinement" in text
    assert (path.parent / "lineage.png").is_file()
    programs = metrics.REGISTRY.get_sample_value(
        "aivc_design_model_programs",
        {"campaign_namespace": metrics.LOCAL_NAMESPACE, "campaign": "hybrid", "model": "claude-sonnet-5-5"})
    assert programs == 2
