"""A stuck experiment waits for a person; `aivc approve` lets the campaign carry on."""

from __future__ import annotations

import localcamp
import pytest
from localcamp import ScriptedPlanner, campaign, resumed, settings

from aivc.api.documents import Counts
from aivc.api.types import DECISION_ANNOTATION
from aivc.cli import main
from aivc.research.local import run_campaign
from aivc.store.local import LocalStore

pytestmark = pytest.mark.slow
clips_dir, cache_dir, baseline_run = localcamp.clips_dir, localcamp.cache_dir, localcamp.baseline_run


def test_a_needs_human_experiment_continues_after_a_retry_with_a_note(baseline_run, tmp_path,
                                                                      clips_dir, cache_dir):
    run_dir = resumed(baseline_run, tmp_path / "run")
    spec = campaign(clips_dir, budget={"maxExperiments": 2}, retries={"validation": 1},
                    finishUp={"report": False})
    planner = ScriptedPlanner(broken_until_note=True)
    first = run_campaign(spec, run_dir, planner=planner, settings=settings(cache_dir), progress=False)
    store = LocalStore(run_dir)
    stuck = store.get("Experiment", "tiny-0001")["status"]
    assert first.needs_human == ("tiny-0001",)
    assert stuck["phase"] == "NeedsHuman" and "validation failed 2 times" in stuck["humanReason"]
    assert len(planner.requests) == 2 and planner.requests[1].repair is not None
    assert planner.requests[1].failed_source == localcamp.BROKEN  # the repair sees the failed code
    assert "not written yet" in planner.requests[1].repair.message

    assert main(["approve", "tiny-0001", "--decision", "retry", "--note", "use the reference codec",
                 "--run-dir", str(run_dir)]) == 0
    assert store.get("Experiment", "tiny-0001")["metadata"]["annotations"][DECISION_ANNOTATION] == "retry"

    second = run_campaign(spec, run_dir, planner=planner, settings=settings(cache_dir), progress=False)
    done = store.get("Experiment", "tiny-0001")
    assert planner.requests[-1].note == "use the reference codec"
    assert done["status"]["phase"] == "Succeeded" and done["status"]["verdict"] == "Adopted"
    assert done["status"]["humanNote"] == "use the reference codec"
    assert DECISION_ANNOTATION not in (done["metadata"].get("annotations") or {})
    assert done["status"]["decision"]["decision"] == "retry"
    assert [d["error"]["stage"] for d in done["status"]["failedDesigns"]] == ["validation", "validation"]
    assert second.needs_human == () and second.counts.adopted == 2


def test_a_skipped_experiment_is_recorded_as_failed(baseline_run, tmp_path, clips_dir, cache_dir):
    run_dir = resumed(baseline_run, tmp_path / "run")
    spec = campaign(clips_dir, budget={"maxExperiments": 2}, retries={"design": 0},
                    finishUp={"report": False})
    planner = ScriptedPlanner(fail_design=True)
    run_campaign(spec, run_dir, planner=planner, settings=settings(cache_dir), progress=False)
    store = LocalStore(run_dir)
    assert store.get("Experiment", "tiny-0001")["status"]["humanReason"].startswith("design failed 1 times")
    assert main(["approve", "tiny-0001", "--decision", "skip", "--run-dir", str(run_dir)]) == 0
    summary = run_campaign(spec, run_dir, planner=planner, settings=settings(cache_dir), progress=False)
    status = store.get("Experiment", "tiny-0001")["status"]
    assert (status["phase"], status["verdict"]) == ("Failed", "Skipped")
    assert summary.counts == Counts(total=2, adopted=1, rejected=0, failed=1, needs_human=0,
                                    running=0)
    assert summary.needs_human == ()


def test_approving_an_experiment_that_does_not_wait_is_one_clear_error(baseline_run, capsys):
    assert main(["approve", "tiny-0000", "--decision", "retry", "--run-dir", str(baseline_run)]) == 2
    err = capsys.readouterr().err
    assert err == "aivc approve: error: experiment tiny-0000 is Succeeded, not NeedsHuman: " \
                  "nothing to approve\n"
    assert main(["approve", "tiny-0042", "--decision", "skip", "--run-dir", str(baseline_run)]) == 2
    assert "tiny-0042 not found" in capsys.readouterr().err
