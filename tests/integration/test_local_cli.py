"""`aivc get`, `describe`, `report` and `run` on a real run directory."""

from __future__ import annotations

import os

import localcamp
import pytest
from localcamp import manifest, write_manifest

from aivc.cli import main

pytestmark = pytest.mark.slow
clips_dir, cache_dir, baseline_run = localcamp.clips_dir, localcamp.cache_dir, localcamp.baseline_run
finished_run = localcamp.finished_run


def test_get_experiments_prints_the_crd_printer_columns(finished_run, capsys):
    assert main(["get", "experiments", "--run-dir", str(finished_run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "CAMPAIGN", "PHASE", "VERSION", "BD-RATE", "KBPS", "PSNR-YUV",
                                "VERDICT", "AGE"]
    assert lines[1].split()[:4] == ["tiny-0000", "tiny", "Succeeded", "v0"]
    assert len(lines) == 3


def test_get_campaigns_shows_counts_and_the_best_version(finished_run, capsys):
    assert main(["get", "camp", "--run-dir", str(finished_run)]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[:4] == ["tiny", "Completed", "2", "v1"]


def test_describe_experiment_shows_hypothesis_metrics_and_commit(finished_run, capsys):
    assert main(["describe", "experiment", "tiny-0001", "--run-dir", str(finished_run)]) == 0
    out = capsys.readouterr().out
    for part in ("Hypothesis:", "motion compensation", "Metrics:", "score: BD-rate (PSNR-YUV 6:1:1) vs x264", "main.yuv",
                 "Commit:", "v1 ", "Source:", "Parent:"):
        assert part in out


def test_an_unknown_resource_or_name_is_one_line(finished_run, capsys):
    assert main(["get", "pods", "--run-dir", str(finished_run)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["describe", "exp", "nope", "--run-dir", str(finished_run)]) == 2
    assert "Experiment nope not found" in capsys.readouterr().err


def test_report_writes_markdown_with_leaderboard_story_and_charts(finished_run, tmp_path, capsys):
    assert main(["report", "--run-dir", str(finished_run), "--out", str(tmp_path / "r")]) == 0
    path = tmp_path / "r" / "report.md"
    assert capsys.readouterr().out.strip() == str(path)
    text = path.read_text()
    for part in ("## Leaderboard", "| 1 | v1 | tiny-0001", "## The story", "### What worked",
                 "H.264-compressed", "bd_rate_over_experiments.png", "## Rate–distortion curves"):
        assert part in text
    # the repo the versions were committed to, as the experiments recorded it
    assert "/evolution/tiny.git`, tagged per version" in text
    pngs = sorted(p.name for p in (tmp_path / "r").glob("*.png"))
    assert "bd_rate_over_experiments.png" in pngs and any(p.startswith("rd_0_") for p in pngs)
    assert all((tmp_path / "r" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)


def test_run_with_a_bad_manifest_is_one_line(tmp_path, clips_dir):
    doc = manifest(clips_dir)
    doc["spec"]["budget"]["maxExperiments"] = 0
    path = write_manifest(tmp_path / "bad.yaml", doc)
    proc = localcamp.aivc("run", str(path), "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "aivc run: error: spec.budget.maxExperiments: 0 is less than the " \
                                  "minimum of 1"


def test_the_llm_planner_without_a_key_names_the_variable_and_the_alternative(tmp_path, clips_dir):
    path = write_manifest(tmp_path / "llm.yaml", manifest(clips_dir, planner="llm"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    proc = localcamp.aivc("run", str(path), "--run-dir", str(tmp_path / "run"), env=env)
    assert proc.returncode == 2
    assert "ANTHROPIC_API_KEY" in proc.stderr and "planner: search" in proc.stderr
    assert proc.stderr.count("\n") == 1
