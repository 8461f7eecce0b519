"""`aivc evaluate`: a real codec file measured on real frames, compared with the anchors,
results written; bad input is one line on stderr with exit status 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from aivc import cli
from aivc.evaluate import ffmpeg
from aivc.evaluate.results import EvaluationResult

CLIP = "carphone:16"  # shares the session's anchor cache with the unit tests

DPCM = '''
"""Closed-loop temporal DPCM with a uniform quantiser and zlib: simple, real compression."""
import struct
import zlib

import numpy as np

LEVELS = 4
STEPS = (4, 8, 16, 32)


def _planes(video):
    return video[0], video[1], video[2]


def encode(video, level):
    step, out = STEPS[level], []
    y, u, v = _planes(video)
    for plane in (y, u, v):
        prev = np.full(plane.shape[1:], 128, np.int16)
        for frame in plane:
            q = np.round((frame.astype(np.int16) - prev) / step).astype(np.int16)
            prev = np.clip(prev + q * step, 0, 255).astype(np.int16)
            out.append(q.astype(np.int8).tobytes())
    t, h, w = y.shape
    return struct.pack("<IIIB", t, h, w, step) + zlib.compress(b"".join(out), 9)


def decode(bitstream):
    t, h, w, step = struct.unpack("<IIIB", bitstream[:13])
    data = np.frombuffer(zlib.decompress(bitstream[13:]), np.int8)
    planes, pos = [], 0
    for ph, pw in ((h, w), (h // 2, w // 2), (h // 2, w // 2)):
        prev = np.full((ph, pw), 128, np.int16)
        rec = np.empty((t, ph, pw), np.uint8)
        for i in range(t):
            prev = np.clip(prev + data[pos:pos + ph * pw].reshape(ph, pw) * step, 0, 255)
            prev = prev.astype(np.int16)
            pos += ph * pw
            rec[i] = prev
        planes.append(rec)
    return tuple(planes)
'''


@pytest.fixture(autouse=True)
def session_cache(aivc_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIVC_CACHE_DIR", str(aivc_cache))
    monkeypatch.delenv("AIVC_CLIPS_DIR", raising=False)
    return aivc_cache


def codec_file(tmp_path: Path, source: str, name: str = "codec.py") -> Path:
    path = tmp_path / name
    path.write_text(source)
    return path


def run_cli(*argv: str) -> int:
    return cli.main(list(argv))


@pytest.mark.slow
def test_a_working_codec_gets_a_table_bd_rates_results_and_a_plot(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    codec, out = codec_file(tmp_path, DPCM, "dpcm.py"), tmp_path / "out"
    assert run_cli("evaluate", str(codec), "--clips", CLIP, "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "PSNR-YUV" in printed and "BD-rate (PSNR-YUV) vs" in printed and "BD-rate vs x264 on" in printed
    result = EvaluationResult.from_json((out / "results.json").read_text())
    assert result.ok and result.levels_declared == 4
    rows = result.for_clip(CLIP)
    assert [r.level for r in rows] == [0, 1, 2, 3]
    assert [r.psnr_y for r in rows] == sorted((r.psnr_y for r in rows), reverse=True)
    assert all(r.kbps == pytest.approx(8 * r.bytes / (16 / (30000 / 1001)) / 1000) for r in rows)
    score = json.loads((out / "score.json").read_text())
    assert score["references"] == ["x264", "x265"]
    bd = score["clips"][0]["vs"]["x264"]["bd_rate"]
    assert bd["psnr_yuv"] > 100  # a toy DPCM needs far more bits than x264; the score says so
    assert f"{bd['psnr_yuv']:+.2f}%" in printed and set(bd) >= {"psnr_y", "psnr_u", "psnr_v"}
    assert (out / "rd.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_a_codec_that_crashes_at_one_level_exits_1_and_keeps_the_other_levels(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crashing = DPCM.replace("step, out = STEPS[level], []",
                            "step, out = STEPS[level], []\n    assert level < 2, 'level 2 broke'")
    codec, out = codec_file(tmp_path, crashing), tmp_path / "out"
    assert run_cli("evaluate", str(codec), "--clips", CLIP, "--out", str(out)) == 1
    result = EvaluationResult.from_json((out / "results.json").read_text())
    assert [r.level for r in result.levels] == [0, 1]
    err = result.errors[0]
    assert (err.category, err.stage, err.level) == ("crash", "encode", 2)
    assert "AssertionError: level 2 broke" in err.message and "line" in err.message
    printed = capsys.readouterr().out
    assert "error (crash, encode)" in printed and "level 2 broke" in printed


def _odd_sized_video(tmp_path: Path) -> Path:
    path = tmp_path / "odd.mkv"
    ffmpeg.run(["-f", "lavfi", "-i", "testsrc=s=63x47:r=25", "-frames:v", "3", "-pix_fmt",
                "yuv444p", "-c:v", "ffv1", str(path)], "make an odd-sized test video")
    return path


@pytest.mark.parametrize(("case", "message"), [
    ("missing-codec", "codec file not found"),
    ("no-decode", "does not meet the codec contract: codec does not define decode"),
    ("syntax", "cannot be loaded"),
    ("unknown-clip", "unknown clip 'nosuchclip'"),
    ("odd-size", "4:2:0 needs even sizes"),
    ("bad-anchor", "unknown anchor encoder(s) vp9"),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str) -> None:
    codec, clips, extra = codec_file(tmp_path, DPCM), "carphone:4", []
    if case == "missing-codec":
        codec = tmp_path / "absent.py"
    elif case == "no-decode":
        codec = codec_file(tmp_path, DPCM.replace("def decode(", "def not_decode("))
    elif case == "syntax":
        codec = codec_file(tmp_path, "LEVELS = (\n")
    elif case == "unknown-clip":
        clips = "nosuchclip"
    elif case == "odd-size":
        clips = str(_odd_sized_video(tmp_path))
    elif case == "bad-anchor":
        extra = ["--anchors", "x264,vp9"]
    assert run_cli("evaluate", str(codec), "--clips", clips, "--out", str(tmp_path / "o"), *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("aivc evaluate: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_the_console_script_reports_a_missing_codec_in_one_line(tmp_path: Path) -> None:
    aivc = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "aivc"
    proc = subprocess.run([str(aivc), "evaluate", str(tmp_path / "nope.py")], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"aivc evaluate: error: codec file not found: {tmp_path / 'nope.py'}"]
