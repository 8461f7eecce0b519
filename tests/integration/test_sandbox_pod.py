"""The three steps of a sandbox pod (`aivc.sandbox.podsteps`), run as the Job runs them:
encode and decode with candidate code, measure without, each a separate process that sees
only its own volumes. Their numbers equal a local run's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aivc.evaluate.clips import ClipSpec
from aivc.evaluate.results import EvaluationResult
from aivc.sandbox import SandboxLimits, evaluate_codec

CANDIDATES = Path(__file__).parents[1] / "adversarial" / "candidates"
HONEST = CANDIDATES / "honest.py"
CLIPS = "carphone:3:32x32,carphone:2:48x32"
POD = ["--limit", "pod=true", "--limit", "wall_seconds=30"]


def step(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aivc.sandbox", *args], capture_output=True,
                          text=True, timeout=300, check=False, cwd=cwd)


def pod(codec: Path, tmp: Path, *what: str, redecode: str = "all") -> tuple[EvaluationResult, Path]:
    for name in ("bitstreams", "decoded", "report"):
        (tmp / name).mkdir(exist_ok=True)
    exchange = ["--bitstreams", str(tmp / "bitstreams"), "--decoded", str(tmp / "decoded")]
    enc = step("encode", "--codec", str(codec), *what, *exchange[:2], "--report",
               str(tmp / "report"), *POD, cwd=tmp)
    assert enc.returncode == 0, enc.stderr
    dec = step("decode", "--codec", str(codec), *exchange, "--redecode", redecode, *POD, cwd=tmp)
    assert dec.returncode == 0, dec.stderr
    summary = tmp / "termination-log"
    out = step("measure", "--codec", str(codec), *what, *exchange, "--report", str(tmp / "report"),
               "--summary-file", str(summary), cwd=tmp)
    assert out.returncode == 0, out.stderr
    return EvaluationResult.from_json(out.stdout), summary


@pytest.mark.slow
def test_the_three_pod_steps_measure_what_a_local_run_measures(tmp_path: Path) -> None:
    boxed, summary = pod(HONEST, tmp_path, "--clips", CLIPS)
    local = evaluate_codec(HONEST, [ClipSpec.parse(c) for c in CLIPS.split(",")],
                           SandboxLimits(parallel=2))
    assert boxed.ok and local.ok, (boxed.errors, local.errors)
    key = [(r.clip, r.level, r.bytes, r.psnr_y, r.psnr_yuv, r.ssim_y) for r in boxed.levels]
    assert key == [(r.clip, r.level, r.bytes, r.psnr_y, r.psnr_yuv, r.ssim_y) for r in local.levels]
    assert all(r.redecoded and r.encode_seconds > 0 and r.decode_seconds > 0 for r in boxed.levels)
    assert boxed.sandbox["mode"] == "pod" and boxed.sandbox["missing"] == []
    assert json.loads(summary.read_text())["ok"] is True


def test_the_decode_step_leaves_raw_planes_of_each_run_and_samples_one_level(tmp_path: Path) -> None:
    result, _ = pod(HONEST, tmp_path, "--validation", redecode="sample")
    assert result.ok, result.errors
    runs = sorted(p.relative_to(tmp_path / "decoded").as_posix()
                  for p in (tmp_path / "decoded").glob("*/*/*"))
    assert len(runs) == 3 and sum(r.redecoded for r in result.levels) == 1
    assert sorted(p.name for p in (tmp_path / "bitstreams" / "0").iterdir()) == ["0.bin", "1.bin"]


def test_a_candidate_failure_in_a_candidate_step_reaches_the_measuring_step(tmp_path: Path) -> None:
    result, _ = pod(CANDIDATES / "wrong_dtype.py", tmp_path, "--validation")
    assert result.first_error() is not None
    assert result.first_error().category == "mismatch"  # type: ignore[union-attr]
    (tmp_path / "exit").mkdir()
    crashed, _ = pod(CANDIDATES / "sys_exit.py", tmp_path / "exit", "--validation")
    assert crashed.first_error() is not None
    assert crashed.first_error().category == "crash"  # type: ignore[union-attr]


def test_the_measuring_step_never_runs_the_candidate(tmp_path: Path) -> None:
    pod(HONEST, tmp_path, "--validation")
    bomb = tmp_path / "bomb.py"
    bomb.write_text(HONEST.read_text() + "\nraise SystemExit('imported by the measuring step')\n")
    exchange = ["--bitstreams", str(tmp_path / "bitstreams"), "--decoded", str(tmp_path / "decoded"),
                "--report", str(tmp_path / "report")]
    out = step("measure", "--codec", str(bomb), "--validation", *exchange, cwd=tmp_path)
    assert out.returncode == 0 and EvaluationResult.from_json(out.stdout).ok, out.stderr


def test_a_hostile_report_is_a_harness_error_not_a_crash_of_the_measuring_step(
        tmp_path: Path) -> None:
    pod(HONEST, tmp_path, "--validation")
    (tmp_path / "decoded" / "decode.json").write_text("[" * 100000)
    summary = tmp_path / "termination-log"
    out = step("measure", "--codec", str(HONEST), "--validation", "--bitstreams",
               str(tmp_path / "bitstreams"), "--decoded", str(tmp_path / "decoded"), "--report",
               str(tmp_path / "report"), "--summary-file", str(summary), cwd=tmp_path)
    assert out.returncode == 2 and "decode.json" in summary.read_text()


def test_levels_encoded_before_a_failure_are_still_measured_in_a_pod(tmp_path: Path) -> None:
    codec = tmp_path / "breaks.py"
    codec.write_text(HONEST.read_text().replace("    q = 2 << level\n",
                                                "    q = 2 << level\n    assert level < 1, 'level 1 broke'\n"))
    result, _ = pod(codec, tmp_path, "--validation")
    assert [r.level for r in result.levels] == [0]
    error = result.first_error()
    assert error is not None and (error.category, error.stage, error.level) == ("crash", "encode", 1)
