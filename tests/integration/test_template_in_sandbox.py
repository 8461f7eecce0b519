"""The template codec (inter-rdo) in the real sandbox: the bitstream that comes out of the
locked-down encoder is exactly the one this process makes, and the two sandboxed decoders
rebuild exactly what this process decodes.

With the learned filter, the encoder fits the filter's weights in float32, so another
process (other thread pools, other kernels) may fit slightly different weights; the
decoder is exact integer arithmetic, and the sandbox's own two decodes must agree (else a
`mismatch` error), so there the test asks for a clean validation and the same sizes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aivc.codec import space
from aivc.evaluate.clips import ClipSpec, synthetic_clip
from aivc.evaluate.inprocess import evaluate_in_process
from aivc.sandbox import SandboxLimits, evaluate_codec, validate_codec

pytestmark = pytest.mark.slow


def run_both(params: dict, tmp_path: Path):
    codec = tmp_path / "inter_rdo.py"
    codec.write_text(space.generate_source(params))
    clips = [ClipSpec.parse("carphone:5")]
    boxed = evaluate_codec(codec, clips, SandboxLimits(parallel=2))
    plain = evaluate_in_process(codec, clips)
    assert boxed.ok and plain.ok, (boxed.errors, plain.errors)
    assert len(boxed.levels) == len(plain.levels) == 4
    return boxed.levels, plain.levels


def test_a_bitstream_survives_the_sandbox_round_trip_unchanged(tmp_path: Path) -> None:
    boxed, plain = run_both({}, tmp_path)
    assert [(r.level, r.bytes, r.psnr_y, r.psnr_u, r.psnr_v, r.ssim_y) for r in boxed] == \
        [(r.level, r.bytes, r.psnr_y, r.psnr_u, r.psnr_v, r.ssim_y) for r in plain]


def test_the_learned_filter_decodes_identically_twice_in_the_sandbox(tmp_path: Path) -> None:
    codec = tmp_path / "inter_rdo.py"
    codec.write_text(space.generate_source({"LEARNED_FILTER": True, "FILTER_STEPS": 50,
                                            "FILTER_CHANNELS": 4}))
    boxed = validate_codec(codec)          # torch imported and run under every layer
    assert boxed.ok, boxed.errors         # a second decode that differed would be a mismatch
    ns: dict = {"__name__": "aivc_candidate"}
    exec(compile(codec.read_text(), str(codec), "exec"), ns)
    video = synthetic_clip(64, 48, 4, 25.0, seed=0)
    for row in boxed.levels:
        assert row.bytes == len(ns["encode"](video, row.level))
