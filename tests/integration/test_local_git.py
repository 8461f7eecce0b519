"""Adopted versions land on the campaign's evolution branch in a real git repository."""

from __future__ import annotations

import json
import subprocess

import localcamp
import pytest
from localcamp import ScriptedPlanner, campaign, resumed, settings

from aivc.research.local import run_campaign
from aivc.store.local import LocalStore

pytestmark = pytest.mark.slow
clips_dir, cache_dir, baseline_run = localcamp.clips_dir, localcamp.cache_dir, localcamp.baseline_run
finished_run = localcamp.finished_run


def git(repo, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_every_adoption_is_a_tagged_commit_with_source_results_and_metrics(finished_run):
    store = LocalStore(finished_run)
    adopted = [e for e in store.list("Experiment") if e["status"].get("verdict") == "Adopted"]
    assert [e["status"]["versionName"] for e in adopted] == ["v0", "v1"]
    repo = finished_run / "evolution" / "tiny.git"
    assert git(repo, "tag").splitlines() == ["v0", "v1"]
    assert git(repo, "log", "--format=%s", "aivc/evolution").splitlines() == [
        "v1: motion compensation (request 1)", "v0: Baseline: the base codec 'intra-dct' as it is."]
    for exp in adopted:
        tag, name = exp["status"]["versionName"], exp["metadata"]["name"]
        assert exp["status"]["commit"]["sha"] == git(repo, "rev-list", "-n1", tag)
        assert git(repo, "show", f"{tag}:codec.py") == store.get_source(name).strip()
        results = json.loads(git(repo, "show", f"{tag}:results.json"))
        assert results["experiment"] == name and results["results"] == store.get_results(name)
        body = git(repo, "log", "-1", "--format=%B", tag)
        assert f"Experiment: {name}" in body
        assert f"Score: BD-rate (PSNR-YUV) vs x264: {exp['status']['metrics']['bdRate']:.3f}%" in body
        assert {"type": "Committed", "status": "True"}.items() <= committed(exp["status"]).items()


def test_a_commit_failure_is_reported_and_retried_but_never_loses_the_adoption(baseline_run, tmp_path,
                                                                              clips_dir, cache_dir):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the repo should be")
    run_dir = resumed(baseline_run, tmp_path / "run")
    spec = campaign(clips_dir, budget={"maxExperiments": 2}, git={"repo": str(blocker / "repo")},
                    finishUp={"report": False})
    run_campaign(spec, run_dir, planner=ScriptedPlanner(), settings=settings(cache_dir), progress=False)
    status = LocalStore(run_dir).get("Experiment", "tiny-0001")["status"]
    assert status["verdict"] == "Adopted" and "commit" not in status
    cond = committed(status)
    assert (cond["type"], cond["status"], cond["reason"]) == ("Committed", "False", "CommitFailed")
    assert "cannot open evolution repo" in cond["message"]

    blocker.unlink()  # fixed: the next run commits what the last one could not
    run_campaign(spec, run_dir, planner=ScriptedPlanner(), settings=settings(cache_dir), progress=False)
    status = LocalStore(run_dir).get("Experiment", "tiny-0001")["status"]
    assert status["commit"]["tag"] == "tiny/v1"
    assert git(blocker / "repo", "tag") == "tiny/v1"  # v0 went to the default repo before


def committed(status: dict) -> dict:
    """The Committed condition among an experiment's conditions."""
    return next(c for c in status["conditions"] if c["type"] == "Committed")
