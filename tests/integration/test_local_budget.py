"""Budgets stop a local campaign cleanly: experiment count, LLM cost, deadline."""

from __future__ import annotations

import datetime as dt

import localcamp
import pytest
from localcamp import ScriptedPlanner, campaign, resumed, settings

from aivc.research.local import run_campaign
from aivc.store.base import experiment_name, new_document
from aivc.store.local import LocalStore

pytestmark = pytest.mark.slow
clips_dir, cache_dir, baseline_run = localcamp.clips_dir, localcamp.cache_dir, localcamp.baseline_run


def names(run_dir) -> list[str]:
    return [d["metadata"]["name"] for d in LocalStore(run_dir).list("Experiment")]


def test_the_experiment_budget_stops_the_campaign_and_a_report_is_written(baseline_run, tmp_path,
                                                                          clips_dir, cache_dir):
    run_dir = resumed(baseline_run, tmp_path / "run")
    spec = campaign(clips_dir, budget={"maxExperiments": 2})
    summary = run_campaign(spec, run_dir, planner=ScriptedPlanner(), settings=settings(cache_dir),
                           progress=False)
    assert names(run_dir) == ["tiny-0000", "tiny-0001"]
    assert summary.stop_reason == "budget.maxExperiments reached (2 of 2)"
    assert summary.counts.total == 2 and summary.counts.running == 0
    status = LocalStore(run_dir).get("Campaign", "tiny")["status"]
    assert status["phase"] == "Completed" and status["stopReason"] == summary.stop_reason
    assert summary.report is not None and status["report"] == str(summary.report)
    assert "Stopped: budget.maxExperiments reached" in summary.report.read_text()


def test_the_cost_budget_stops_new_experiments_once_spent(baseline_run, tmp_path, clips_dir, cache_dir):
    run_dir = resumed(baseline_run, tmp_path / "run")
    spec = campaign(clips_dir, budget={"maxExperiments": 10, "maxCostUSD": 1.0},
                    finishUp={"report": False})
    summary = run_campaign(spec, run_dir, planner=ScriptedPlanner(cost_usd=0.6),
                           settings=settings(cache_dir), progress=False)
    # the baseline costs nothing; two proposals spend $1.20, past the $1.00 budget
    assert names(run_dir) == ["tiny-0000", "tiny-0001", "tiny-0002"]
    assert summary.stop_reason == "budget.maxCostUSD reached ($1.20 of $1.00)"
    assert LocalStore(run_dir).get("Campaign", "tiny")["status"]["costUSD"] == pytest.approx(1.2)


def test_a_passed_deadline_starts_nothing_new_but_finishes_what_is_in_flight(baseline_run, tmp_path,
                                                                               clips_dir, cache_dir):
    run_dir = resumed(baseline_run, tmp_path / "run")
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    spec = campaign(clips_dir, budget={"maxExperiments": 10, "deadline": past},
                    finishUp={"report": False})
    store = LocalStore(run_dir)
    store.create(new_document("Experiment", experiment_name("tiny", 1), {"campaign": "tiny", "sequence": 1}))
    summary = run_campaign(spec, run_dir, planner=ScriptedPlanner(), settings=settings(cache_dir),
                           progress=False)
    assert summary.stop_reason.startswith("deadline reached")
    assert names(run_dir) == ["tiny-0000", "tiny-0001"]
    assert store.get("Experiment", "tiny-0001")["status"]["phase"] == "Succeeded"
