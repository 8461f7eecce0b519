"""The in-process runner (`evaluate_in_process`, used by benches and trusted code): every
level measured from the bitstream alone, and each kind of failure recorded by category."""

from __future__ import annotations

from pathlib import Path

import pytest

from aivc.evaluate.clips import ClipSpec
from aivc.evaluate.inprocess import evaluate_in_process
from aivc.evaluate.results import EvaluationResult

CLIPS = [ClipSpec("carphone", 4)]

ZEROS = '''
import numpy as np
LEVELS = 2
def encode(video, level):
    t, h, w = video.y.shape
    return bytes([t, h // 4, w // 4, level])
def decode(bits):
    t, h, w = bits[0], bits[1] * 4, bits[2] * 4
    fill = 128 if bits[3] == 0 else 64
    return (np.full((t, h, w), fill, np.uint8), np.full((t, h // 2, w // 2), 128, np.uint8),
            np.full((t, h // 2, w // 2), 128, np.uint8))
'''


def run(tmp_path: Path, source: str, cache: Path) -> EvaluationResult:
    path = tmp_path / "codec.py"
    path.write_text(source)
    return evaluate_in_process(path, CLIPS, cache_dir=cache)


def test_every_level_is_measured_from_its_bitstream(tmp_path: Path, aivc_cache: Path) -> None:
    res = run(tmp_path, ZEROS, aivc_cache)
    assert res.ok and res.levels_declared == 2
    rows = res.for_clip("carphone:4")
    assert [r.bytes for r in rows] == [4, 4]
    assert rows[0].psnr_y != rows[1].psnr_y and rows[0].psnr_y < 20  # flat grey vs real frames
    assert rows[0].psnr_u == rows[1].psnr_u


def test_a_candidate_that_overwrites_its_input_cannot_change_the_reference(
        tmp_path: Path, aivc_cache: Path) -> None:
    cheat = ZEROS.replace("t, h, w = video.y.shape", "t, h, w = video.y.shape\n    video.y[:] = 128")
    honest = run(tmp_path, ZEROS, aivc_cache).levels[0]
    cheated = run(tmp_path, cheat, aivc_cache).levels[0]
    assert cheated.psnr_y == honest.psnr_y < 20  # not 100 dB against a grey "reference"


@pytest.mark.parametrize(("source", "category", "stage"), [
    ("raise RuntimeError('broken at import')", "import", "import"),
    ("LEVELS = 2\ndef encode(v, l): return b''", "contract", "validate"),
    (ZEROS.replace("return bytes([t, h // 4, w // 4, level])", "return 'text'"), "contract", "encode"),
    (ZEROS.replace("t, h, w = bits[0]", "t, h, w = bits[0] - 1"), "mismatch", "check"),
    (ZEROS.replace("fill = 128", "fill = 1 // 0"), "crash", "decode"),
    (ZEROS.replace("fill, np.uint8)", "fill, np.float32)"), "contract", "check"),
])
def test_failures_are_recorded_by_category_and_stage(
        tmp_path: Path, aivc_cache: Path, source: str, category: str, stage: str) -> None:
    res = run(tmp_path, source, aivc_cache)
    err = res.first_error()
    assert err is not None and (err.category, err.stage) == (category, stage), err
    assert res.clips[0].name == "carphone:4"
    if category == "crash":
        assert "ZeroDivisionError" in err.message and "line" in err.message
