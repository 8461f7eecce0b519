"""A local run killed with SIGKILL mid-experiment continues without losing or repeating work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import localcamp
import pytest
import yaml
from localcamp import REPO, manifest, resumed, write_manifest

from aivc.store.local import LocalStore

pytestmark = pytest.mark.slow
clips_dir, cache_dir, baseline_run = localcamp.clips_dir, localcamp.cache_dir, localcamp.baseline_run
BUDGET = 3


def start(path: Path, run_dir: Path, cache: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AIVC_CACHE_DIR": str(cache)}
    return subprocess.Popen([sys.executable, "-m", "aivc.cli", "run", str(path), "--run-dir",
                             str(run_dir), "--quiet"], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def phase_of(run_dir: Path, name: str) -> str | None:
    try:
        doc = yaml.safe_load((run_dir / "experiments" / f"{name}.yaml").read_text())
    except (FileNotFoundError, yaml.YAMLError):
        return None
    return (doc.get("status") or {}).get("phase")


def kill_when(proc: subprocess.Popen[bytes], run_dir: Path, name: str, phase: str) -> None:
    deadline = time.monotonic() + 240
    while phase_of(run_dir, name) != phase:
        assert proc.poll() is None, f"the run ended before {name} reached {phase}: {proc.stderr.read()}"
        assert time.monotonic() < deadline, f"{name} never reached {phase}"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and any sandbox children it started
    proc.wait()
    proc.stderr.close()


def finish(path: Path, run_dir: Path, cache: Path) -> None:
    proc = start(path, run_dir, cache)
    _, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err.decode()


def end_state(run_dir: Path) -> list[tuple]:
    store = LocalStore(run_dir)
    rows = []
    for exp in store.list("Experiment"):
        s = exp["status"]
        rows.append((exp["metadata"]["name"], exp["spec"]["sequence"], s["phase"], s.get("verdict"),
                     s.get("versionName"), s.get("params"), s["metrics"].get("bdRate"),
                     exp["spec"]["codec"]["sha256"], (s.get("commit") or {}).get("tag")))
    return rows


def tags(run_dir: Path) -> list[str]:
    repo = run_dir / "evolution" / "tiny.git"
    return subprocess.run(["git", "-C", str(repo), "log", "--format=%s", "aivc/evolution"],
                          capture_output=True, text=True, check=True).stdout.splitlines()


def test_a_killed_run_resumes_to_the_same_end_state_as_an_uninterrupted_one(
        baseline_run, tmp_path, clips_dir, cache_dir):
    path = write_manifest(tmp_path / "tiny.yaml", manifest(clips_dir, budget={"maxExperiments": BUDGET},
                                                           finishUp={"report": False}))
    straight = resumed(baseline_run, tmp_path / "straight")
    killed = resumed(baseline_run, tmp_path / "killed")
    finish(path, straight, cache_dir)

    kill_when(start(path, killed, cache_dir), killed, "tiny-0001", "Executing")
    kill_when(start(path, killed, cache_dir), killed, "tiny-0002", "Validating")
    kill_when(start(path, killed, cache_dir), killed, "tiny-0002", "Executing")
    finish(path, killed, cache_dir)

    expected = end_state(straight)
    assert [row[0] for row in expected] == [f"tiny-{i:04d}" for i in range(BUDGET)]
    assert all(row[2] in ("Succeeded", "Failed") for row in expected)
    got = end_state(killed)
    diffs = [(a[0], [(x, y) for x, y in zip(a, b, strict=True) if x != y])
             for a, b in zip(got, expected, strict=True) if a != b]
    assert not diffs, f"killed vs uninterrupted: {diffs}"
    assert tags(killed) == tags(straight)
    assert sorted(p.name for p in (killed / "sources").iterdir()) == \
        [f"tiny-{i:04d}.py" for i in range(BUDGET)]
    campaign = LocalStore(killed).get("Campaign", "tiny")["status"]
    assert campaign["phase"] == "Completed" and campaign["experiments"]["total"] == BUDGET
