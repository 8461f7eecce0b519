"""The sandbox end to end: real child processes, real layers, real clips.

As root the child drops to nobody; as a normal user it gets a user namespace in which it
appears as nobody. The layers that hold without any namespace are checked by turning them
off (`Session(namespaces=False)`, which needs `accept_weaker`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aivc.codec.contract import Video
from aivc.evaluate.clips import ClipSpec, synthetic_clip, write_yuv
from aivc.evaluate.inprocess import evaluate_in_process
from aivc.evaluate.results import ErrorRecord, LevelResult
from aivc.sandbox import HarnessError, SandboxLimits, evaluate_codec, validate_codec
from aivc.sandbox.process import child_env
from aivc.sandbox.session import Session
from aivc.sandbox.steps import decode_level, encode_clip, measure
from aivc.sandbox.workspace import Workspace

CANDIDATES = Path(__file__).parents[1] / "adversarial" / "candidates"
HONEST = CANDIDATES / "honest.py"
FAKE_KEY = "sk-ant-api03-FAKE-KEY-FOR-THE-SANDBOX-TEST-0123456789"
SEEN = ["mntns", "netns", "ipcns", "pidns", "utsns", "view", "uid", "nocaps", "nnp", "seccomp",
        "rlimits", "workcap"]
WEAKER = SandboxLimits(accept_weaker=True)


def probe(limits: SandboxLimits | None = None, namespaces: bool = True) -> tuple[list[str], dict]:
    with Workspace(HONEST.read_bytes()) as ws:
        run = Session(ws, limits or SandboxLimits(), ("numpy",), 2, namespaces=namespaces).run(
            "probe", {}, {})
        run.outputs.close()
    assert run.ok, run.message
    return run.seen.layers, run.report


def roundtrip(session: Session, clip: str, video: Video, level: int) -> LevelResult | ErrorRecord:
    """Encode one level, decode it twice: what `evaluate_codec` does for every level."""
    out = session.workspace.bitstreams / "0"
    out.mkdir(exist_ok=True)
    enc = encode_clip(session, clip, video, [level], out)
    if enc.error is not None:
        return enc.error
    path = enc.bitstreams[level]
    dec = decode_level(session, clip, video, level, path, runs=2)
    if isinstance(dec, ErrorRecord):
        return dec
    return measure(video, clip, level, path.stat().st_size, enc, dec)


def test_child_runs_as_nobody_with_no_network_and_an_empty_environment() -> None:
    layers, report = probe()
    assert [x for x in layers if x != "userns"] == SEEN
    assert (report["uid"], report["gid"]) == (65534, 65534)
    assert report["interfaces"] == ["lo"]
    assert report["env"] == sorted(child_env(Path("/x"), 1))
    assert report["pid"] == 1  # PID 1 of its own PID namespace
    limits = SandboxLimits()
    assert report["rlimits"]["RLIMIT_AS"] == [limits.address_space_bytes] * 2
    assert report["rlimits"]["RLIMIT_NPROC"] == [limits.max_processes] * 2
    assert report["rlimits"]["RLIMIT_CPU"] == [limits.cpu_seconds, limits.cpu_seconds]


def test_without_namespaces_the_kernel_layers_still_apply() -> None:
    layers, report = probe(WEAKER, namespaces=False)
    assert not {"netns", "view", "pidns", "workcap"} & set(layers)
    assert {"rlimits", "seccomp", "nnp"} <= set(layers)
    assert report["rlimits"]["RLIMIT_FSIZE"][0] == SandboxLimits().max_file_bytes


@pytest.mark.parametrize("name", ["decoder_reads_source", "dev_shm_state", "fork_exec_unaudited",
                                  "socket_from_loaded_module"])
def test_without_namespaces_escapes_are_still_forbidden(name: str, scratch: Path) -> None:
    source = (CANDIDATES / f"{name}.py").read_bytes()
    with Workspace(source) as ws:
        session = Session(ws, SandboxLimits(wall_seconds=20, accept_weaker=True),
                          ("numpy", "scipy", "importlib", "sys", "os"), 1, namespaces=False)
        out = roundtrip(session, "tiny", synthetic_clip(64, 48, 2), 0)
    assert getattr(out, "category", None) == "forbidden", out


def test_the_api_key_never_reaches_the_encoder(monkeypatch: pytest.MonkeyPatch,
                                               scratch: Path) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_fake")
    source = (CANDIDATES / "api_key_in_bitstream.py").read_bytes()
    video = synthetic_clip(64, 48, 2)
    with Workspace(source) as ws:
        session = Session(ws, SandboxLimits(), ("numpy", "struct", "os"), 1)
        run = session.run("encode", {"source.yuv": lambda p: write_yuv(video, p)},
                          {"width": 64, "height": 48, "frames": 2, "fps": 25.0, "levels": [0]})
        with run.outputs:
            assert run.ok, run.message
            f = run.outputs.open("bitstream-0.bin")
            assert f is not None
            with f:
                bitstream = f.read()
    assert FAKE_KEY.encode() not in bitstream and b"ghp_fake" not in bitstream
    assert b"OMP_NUM_THREADS" in bitstream  # it did read its environment: only ours is there


@pytest.mark.slow
def test_sandbox_numbers_equal_the_in_process_evaluator_on_a_real_clip(scratch: Path) -> None:
    clips = [ClipSpec.parse("carphone:6")]
    boxed = evaluate_codec(HONEST, clips, SandboxLimits(parallel=2))
    plain = evaluate_in_process(HONEST, clips)
    assert boxed.ok and plain.ok, (boxed.errors, plain.errors)
    assert [(r.level, r.bytes, r.psnr_y, r.psnr_yuv, r.ssim_y) for r in boxed.levels] == \
        [(r.level, r.bytes, r.psnr_y, r.psnr_yuv, r.ssim_y) for r in plain.levels]
    assert all(r.encode_seconds > 0 and r.decode_seconds > 0 for r in boxed.levels)
    assert boxed.levels_declared == 2 and boxed.clips[0].frames == 6
    assert not list(scratch.iterdir()), "scratch directories left behind"


def test_levels_come_from_a_probe_when_not_a_literal(scratch: Path, tmp_path: Path) -> None:
    codec = tmp_path / "computed.py"
    codec.write_text(HONEST.read_text().replace("LEVELS = 2", "LEVELS = 1 + 1"))
    result = validate_codec(codec)
    assert result.ok, result.errors
    assert result.levels_declared == 2 and [r.level for r in result.levels] == [0, 1]


def test_a_broken_contract_and_a_syntax_error_are_reported_not_raised(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("LEVELS = 0\ndef encode(v, l):\n    return b''\ndef decode(b):\n    return b\n")
    assert validate_codec(bad).first_error().category == "contract"  # type: ignore[union-attr]
    bad.write_text("def encode(:\n")
    err = validate_codec(bad).first_error()
    assert err is not None and err.category == "import" and "line 1" in err.message
    bad.write_text("import numpy\nimport no_such_module_here\nLEVELS = 1\n")
    assert validate_codec(bad).first_error().category == "forbidden"  # type: ignore[union-attr]


def test_a_failure_of_the_harness_itself_raises_instead_of_blaming_the_codec() -> None:
    with Workspace(HONEST.read_bytes()) as ws, \
            pytest.raises(HarnessError, match="before loading the codec"):
        Session(ws, SandboxLimits(), (), 2).run("encode", {}, {"levels": [0]})  # no source frames


def test_cli_prints_the_json_and_writes_a_summary_under_4_kib(tmp_path: Path) -> None:
    summary = tmp_path / "termination-log"
    out = _cli("validate", "--codec", str(HONEST), "--summary-file", str(summary))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ok"] is True
    assert json.loads(summary.read_text())["ok"] is True and summary.stat().st_size < 4096


def test_cli_exits_zero_when_the_codec_fails_and_nonzero_for_bad_input(tmp_path: Path) -> None:
    failed = _cli("validate", "--codec", str(CANDIDATES / "wrong_dtype.py"))
    assert failed.returncode == 0
    assert json.loads(failed.stdout)["errors"][0]["category"] == "mismatch"
    assert _cli("validate", "--codec", str(tmp_path / "missing.py")).returncode == 2
    bad_clip = _cli("evaluate", "--codec", str(HONEST), "--clips", "no_such_clip")
    assert bad_clip.returncode == 2 and "no_such_clip" in bad_clip.stderr


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aivc.sandbox", *args], capture_output=True,
                          text=True, timeout=120, check=False)
