"""Local mode honours `parallelism`: several experiments in flight at once, each in its own
sandbox, with the operator's guarantees — versions in order, one analysis at a time."""

from __future__ import annotations

import threading
import time

import pytest

from aivc.api.documents import ExperimentDoc
from aivc.research.labwork import Lab
from aivc.research.local import run_campaign
from aivc.store.local import LocalStore
from tests.integration import localcamp
from tests.integration.localcamp import ScriptedPlanner, campaign, resumed, settings

pytestmark = pytest.mark.slow
clips_dir, cache_dir, baseline_run = localcamp.clips_dir, localcamp.cache_dir, localcamp.baseline_run


class Counting:
    """How many calls of a method run at once, at most."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self.lock = threading.Lock()

    def wrap(self, method):  # type: ignore[no-untyped-def]
        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            try:
                time.sleep(0.3)  # long enough for a second worker to arrive
                return method(*args, **kwargs)
            finally:
                with self.lock:
                    self.now -= 1
        return counted


def test_experiments_run_side_by_side_and_versions_stay_in_order(baseline_run, tmp_path, clips_dir,
                                                                 cache_dir, monkeypatch):
    executions, analyses = Counting(), Counting()
    monkeypatch.setattr(Lab, "execute", executions.wrap(Lab.execute))
    monkeypatch.setattr(Lab, "analyze", analyses.wrap(Lab.analyze))
    run_dir = resumed(baseline_run, tmp_path / "run")
    spec = campaign(clips_dir, budget={"maxExperiments": 5}, parallelism=2, finishUp={"report": False})
    summary = run_campaign(spec, run_dir, planner=ScriptedPlanner(), settings=settings(cache_dir),
                           progress=False)
    assert executions.most == 2 and analyses.most == 1
    docs = [ExperimentDoc.parse(d) for d in LocalStore(run_dir).list("Experiment")]
    assert summary.counts.total == 5 and all(e.status.finished for e in docs)
    adopted = sorted((e for e in docs if e.status.adopted), key=lambda e: e.status.version or 0)
    assert [e.status.version for e in adopted] == list(range(len(adopted)))  # no gap, no twice
    times = [e.status.completion_time or "" for e in adopted]
    assert times == sorted(times)  # a later version was never analysed before an earlier one
