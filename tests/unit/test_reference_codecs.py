"""The shipped reference codecs meet the codec contract on small synthetic clips.

Each codec is loaded from its source text, as the sandbox loads a candidate, and measured
on real encodes and decodes; the real-clip rate–distortion checks live in
test_reference_codecs_rd.py.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aivc.codec.contract import Video, as_video, check_codec_namespace, check_video
from aivc.codec.reference import (
    REFERENCE_CODECS,
    TEMPLATE,
    V0,
    UnknownCodecError,
    reference_path,
    reference_source,
)
from aivc.evaluate.clips import synthetic_clip
from aivc.evaluate.quality import psnr

NAMES = sorted(REFERENCE_CODECS)
ALLOWED_IMPORTS = {"math", "struct", "numpy", "scipy", "constriction", "zlib", "lzma", "bz2"}


def load(source: str) -> dict[str, Any]:
    """The candidate's globals, executed from source as the sandbox does."""
    ns: dict[str, Any] = {"__name__": "aivc_candidate"}
    exec(compile(source, "candidate.py", "exec"), ns)
    return ns


@pytest.fixture(scope="module", params=NAMES)
def codec(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, load(reference_source(request.param))


@pytest.fixture(scope="module")
def clip() -> Video:
    return synthetic_clip(width=64, height=48, frames=6, seed=3)


def roundtrip(ns: dict[str, Any], video: Video, level: int) -> tuple[bytes, Video]:
    """Encode, decode, check the planes; the decoder must also return the clip's fps."""
    bitstream = ns["encode"](video, level)
    assert isinstance(bitstream, bytes)
    decoded = ns["decode"](bitstream)
    assert len(decoded) == 4 and decoded[3] == pytest.approx(video.fps)
    return bitstream, check_video(as_video(decoded, video.fps))


def test_the_registry_names_each_shipped_file_in_kebab_case():
    assert {V0, TEMPLATE} <= set(NAMES)
    for name, entry in REFERENCE_CODECS.items():
        assert name == entry.name and name == name.lower() and "_" not in name
        assert reference_path(name).is_file()
        assert reference_source(name).startswith('"""')


def test_an_unknown_reference_codec_is_a_one_line_error():
    with pytest.raises(UnknownCodecError, match="unknown reference codec 'nope'.*intra-dct"):
        reference_source("nope")


@pytest.mark.parametrize("name", NAMES)
def test_a_reference_codec_imports_only_what_candidates_may(name: str):
    tree = ast.parse(reference_source(name))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert imported <= ALLOWED_IMPORTS


def test_a_reference_codec_meets_the_contract(codec, clip):
    name, ns = codec
    assert check_codec_namespace(ns) == 4
    for level in range(ns["LEVELS"]):
        _, decoded = roundtrip(ns, clip, level)
        assert decoded.y.shape == clip.y.shape and decoded.u.shape == clip.u.shape


def test_levels_trade_rate_for_quality(codec, clip):
    name, ns = codec
    sizes, qualities = [], []
    for level in range(ns["LEVELS"]):
        bitstream, decoded = roundtrip(ns, clip, level)
        sizes.append(len(bitstream))
        qualities.append(psnr(clip.y, decoded.y))
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    assert qualities == sorted(qualities, reverse=True) and len(set(qualities)) == len(qualities)
    assert qualities[0] > 38.0, f"{name} level 0 is only {qualities[0]:.1f} dB"


def test_encoding_and_decoding_are_deterministic(codec, clip):
    _, ns = codec
    first = ns["encode"](clip, 1)
    assert ns["encode"](clip, 1) == first
    a, b = ns["decode"](first), ns["decode"](first)
    for x, y in zip(a[:3], b[:3], strict=True):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("size", [(50, 38), (2, 2), (18, 130)])
def test_frame_sizes_that_are_not_whole_blocks_round_trip(codec, size):
    _, ns = codec
    width, height = size
    video = synthetic_clip(width=width, height=height, frames=3, seed=5)
    _, decoded = roundtrip(ns, video, 0)
    assert decoded.y.shape == video.y.shape and decoded.v.shape == video.v.shape
    assert psnr(video.y, decoded.y) > 30.0


def test_a_single_frame_clip_round_trips(codec):
    _, ns = codec
    video = synthetic_clip(width=32, height=32, frames=1)
    _, decoded = roundtrip(ns, video, 2)
    assert decoded.frames == 1


DECODE_ALONE = """
import sys, numpy as np
ns = {"__name__": "aivc_candidate"}
exec(compile(open(sys.argv[1]).read(), "candidate.py", "exec"), ns)
y, u, v, *rest = ns["decode"](open(sys.argv[2], "rb").read())
np.savez(sys.argv[3], y=y, u=u, v=v, fps=rest[0] if rest else -1.0)
"""


def test_the_decoder_rebuilds_the_clip_from_the_bitstream_alone(codec, clip, tmp_path: Path):
    name, ns = codec
    bitstream = ns["encode"](clip, 1)
    here = ns["decode"](bitstream)
    (tmp_path / "stream.bin").write_bytes(bitstream)
    subprocess.run([sys.executable, "-c", DECODE_ALONE, str(reference_path(name)),
                    str(tmp_path / "stream.bin"), str(tmp_path / "out.npz")],
                   check=True, cwd=tmp_path, timeout=120)
    there = np.load(tmp_path / "out.npz")
    for plane, mine in zip("yuv", here[:3], strict=True):
        assert np.array_equal(there[plane], mine)
    assert float(there["fps"]) == pytest.approx(clip.fps)


def test_motion_compensation_pays_off_on_moving_content(clip):
    intra, inter = load(reference_source(V0)), load(reference_source(TEMPLATE))
    moving = synthetic_clip(width=96, height=64, frames=8, seed=1)
    for level in (1, 2):
        a, decoded_a = roundtrip(intra, moving, level)
        b, decoded_b = roundtrip(inter, moving, level)
        assert len(b) < 0.7 * len(a)
        assert psnr(moving.y, decoded_b.y) > psnr(moving.y, decoded_a.y) - 1.5
