"""Tiny real campaigns for the local-mode tests: synthetic clips on disk, fast settings.

Clips are written as raw .yuv files (a panning texture with a moving block, so motion
compensation pays off as on real footage) and scored against a real x264 anchor.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from aivc.api.documents import LLMCall
from aivc.api.spec import CampaignSpec
from aivc.codec.reference import reference_source
from aivc.evaluate.clips import synthetic_clip, write_yuv
from aivc.research.planning import DesignRequest, Lesson, Outcome, PlannerError, Proposal
from aivc.settings import PathSettings, Settings

REPO = Path(__file__).resolve().parents[2]
W, H, FRAMES = 64, 48, 6


def write_clip(folder: Path, name: str, seed: int) -> str:
    """A synthetic clip as a raw .yuv file; returns its clip spec."""
    path = folder / f"{name}.yuv"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_yuv(synthetic_clip(W, H, FRAMES, seed=seed), path)
    return f"{path}:{FRAMES}::{W}x{H}@25"


def manifest(clips_dir: Path, name: str = "tiny", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "budget": {"maxExperiments": 3},
        "planner": "search",
        "baseCodec": "intra-dct",
        "dataset": {"clips": [write_clip(clips_dir, "main", 1)]},
        "evaluation": {"anchors": ["x264"], "heldOutTolerance": 50.0},
    }
    for key, value in spec.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return {"apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": name},
            "spec": body}


def campaign(clips_dir: Path, **spec: Any) -> CampaignSpec:
    return CampaignSpec.from_manifest(copy.deepcopy(manifest(clips_dir, **spec)))


def write_manifest(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def settings(cache_dir: Path) -> Settings:
    return Settings(paths=PathSettings(cache_dir=cache_dir))


def aivc(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real `aivc` command line in a fresh process."""
    return subprocess.run([sys.executable, "-m", "aivc.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO, check=False)


BROKEN = "LEVELS = 4\n\ndef encode(video, level):\n    raise RuntimeError('not written yet')\n\n" \
         "def decode(bitstream):\n    raise RuntimeError('not written yet')\n"


@dataclass
class ScriptedPlanner:
    """A planner double: working reference codecs, or broken ones until a person's note.

    It records every request, so tests can check what reached the planner.
    """

    name: str = "scripted"
    broken_until_note: bool = False
    cost_usd: float = 0.0
    requests: list[DesignRequest] = field(default_factory=list)
    learned: list[Outcome] = field(default_factory=list)
    replayed: list[Outcome] = field(default_factory=list)
    fail_design: bool = False

    def propose(self, request: DesignRequest) -> Proposal:
        self.requests.append(request)
        if self.fail_design:
            raise PlannerError("the planner has no idea", category="planner")
        broken = self.broken_until_note and not request.note
        source = BROKEN if broken else reference_source("inter-dct")
        hypothesis = "a codec that does not work" if broken else \
            f"motion compensation (request {len(self.requests)})"
        calls = (LLMCall("design", "scripted", "ok", cost_usd=self.cost_usd),) if self.cost_usd else ()
        return Proposal(source=source, hypothesis=hypothesis, parent_version=0, calls=calls)

    def learn(self, outcome: Outcome) -> Lesson:
        self.learned.append(outcome)
        return Lesson(f"learned from #{outcome.sequence}")

    def replay(self, outcomes: list[Outcome]) -> None:
        self.replayed = list(outcomes)


# Fixtures are imported into each test module (`clips_dir = localcamp.clips_dir`), so pytest
# sees one definition per module; `_SHARED` makes them share the work across modules anyway.
_SHARED: dict[str, Path] = {}


def _once(key: str, make: Callable[[], Path]) -> Path:
    if key not in _SHARED:
        _SHARED[key] = make()
    return _SHARED[key]


@pytest.fixture(scope="session")
def clips_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic clips shared by the session's tests (import this fixture into a test module)."""
    return _once("clips", lambda: tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clip and anchor cache for the session, so x264 anchors are encoded once."""
    return _once("cache", lambda: tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def baseline_run(tmp_path_factory: pytest.TempPathFactory, clips_dir: Path, cache_dir: Path) -> Path:
    """A run directory whose campaign has measured and adopted its baseline (v0), once."""
    def make() -> Path:
        from aivc.research.local import run_campaign

        run_dir = tmp_path_factory.mktemp("baseline")
        run_campaign(campaign(clips_dir, budget={"maxExperiments": 1}, finishUp={"report": False}),
                     run_dir, planner=ScriptedPlanner(), settings=settings(cache_dir), progress=False)
        return run_dir
    return _once("baseline", make)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory, baseline_run: Path, clips_dir: Path,
                 cache_dir: Path) -> Path:
    """The baseline run carried on to two experiments (v0, v1), with its report."""
    def make() -> Path:
        from aivc.research.local import run_campaign

        run_dir = resumed(baseline_run, tmp_path_factory.mktemp("finished") / "run")
        run_campaign(campaign(clips_dir, budget={"maxExperiments": 2}), run_dir,
                     planner=ScriptedPlanner(), settings=settings(cache_dir), progress=False)
        return run_dir
    return _once("finished", make)


def resumed(baseline_run: Path, run_dir: Path) -> Path:
    """A copy of the baseline run to carry on from (resuming is how a budget is raised)."""
    shutil.copytree(baseline_run, run_dir)
    return run_dir
