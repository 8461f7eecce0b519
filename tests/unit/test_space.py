"""The design space: reading and rewriting the template's parameter block, and every
parameter really changing what the generated codec does."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from aivc.codec import space
from aivc.codec.contract import as_video, check_codec_namespace, check_video
from aivc.codec.reference import TEMPLATE, V0, reference_source
from aivc.evaluate.clips import synthetic_clip
from aivc.evaluate.quality import psnr

# A value other than the default for each parameter, chosen so the change shows on a small
# moving clip at level 1 (GOP 2 forces a second intra frame, SEARCH_RANGE changes the
# vector alphabet, ...).
ALTERNATIVES: dict[str, Any] = {
    "BLOCK": 16, "QSTEP": 10.0, "QSTEP_RATIO": 2.4, "DEADZONE": 0.45, "CHROMA_QP_OFFSET": 6,
    "INTER_QSCALE": 1.0, "INTRA_PRED": "none", "INTER": False, "MOTION_BLOCK": 8,
    "SEARCH": "diamond", "SEARCH_RANGE": 8, "HALF_PEL": False, "MV_LAMBDA": 0.2, "GOP": 2,
    "DEBLOCK": 0, "ENTROPY_CONTEXT": "band", "ENTROPY_ADAPT": "static",
}
# Corners of the space where the options interact: every one must still be a working codec.
CORNERS = [
    {"BLOCK": 4, "MOTION_BLOCK": 8, "SEARCH": "diamond", "HALF_PEL": False, "SEARCH_RANGE": 4,
     "ENTROPY_CONTEXT": "single", "INTRA_PRED": "left", "DEBLOCK": 4, "GOP": 1},
    {"BLOCK": 16, "MOTION_BLOCK": 8, "SEARCH_RANGE": 32, "ENTROPY_CONTEXT": "band-last",
     "ENTROPY_ADAPT": "static", "QSTEP": 2.0, "QSTEP_RATIO": 2.6, "CHROMA_QP_OFFSET": -3},
    {"BLOCK": 16, "MOTION_BLOCK": 16, "DEADZONE": 0.05, "MV_LAMBDA": 0.1, "INTER_QSCALE": 2.0,
     "QSTEP": 16.0, "QSTEP_RATIO": 1.4, "GOP": 3, "CHROMA_QP_OFFSET": 9},
]


def load(source: str) -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "aivc_candidate"}
    exec(compile(source, "candidate.py", "exec"), ns)
    return ns


@pytest.fixture(scope="module")
def clip():
    return synthetic_clip(width=64, height=48, frames=5, seed=2)


@pytest.fixture(scope="module")
def default_stream(clip) -> bytes:
    return load(space.generate_source({}))["encode"](clip, 1)


def test_the_defaults_are_the_values_the_template_ships_with():
    assert space.read_params(reference_source(TEMPLATE)) == space.defaults()
    assert [p.name for p in space.PARAMETERS] == list(space.defaults())


@pytest.mark.parametrize("param", space.PARAMETERS, ids=lambda p: p.name)
def test_every_parameter_is_described_and_its_default_is_allowed(param):
    assert param.kind in ("int", "float", "categorical") and param.description
    assert (param.choices is None) != (param.range is None)
    assert param.check(param.default) == param.default
    assert param.check(ALTERNATIVES[param.name]) != param.default


def test_generating_a_source_rewrites_only_the_parameter_block():
    base = reference_source(TEMPLATE)
    wanted = {"BLOCK": 16, "DEADZONE": 0.25, "SEARCH": "diamond", "HALF_PEL": False}
    source = space.generate_source(wanted)
    assert space.read_params(source) == {**space.defaults(), **wanted}
    changed = [(a, b) for a, b in zip(base.splitlines(), source.splitlines(), strict=True) if a != b]
    assert len(changed) == len(wanted)
    for old, new in changed:
        assert old.split("=")[0] == new.split("=")[0]
        assert old[old.index("#"):] == new[new.index("#"):]   # the note survives, in its column


def test_a_generated_source_uses_plain_literals_one_per_line():
    source = space.generate_source({"SEARCH": "diamond", "MV_LAMBDA": 2.5, "GOP": 12})
    assert re.search(r'^SEARCH = "diamond" +# ', source, re.M)
    assert re.search(r"^MV_LAMBDA = 2\.5 +# ", source, re.M)
    assert re.search(r"^GOP = 12 +# ", source, re.M)


@pytest.mark.parametrize("params, message", [
    ({"NOPE": 1}, "unknown parameters"),
    ({"BLOCK": 12}, "BLOCK must be one of"),
    ({"QSTEP": 100.0}, r"QSTEP must be a float in \[2, 16\]"),
    ({"GOP": 2.5}, "GOP must be an int"),
    ({"INTER": 1}, "INTER must be one of"),
    ({"DEBLOCK": True}, "DEBLOCK must be an int"),
    ({"MV_LAMBDA": float("nan")}, "MV_LAMBDA must be a float"),
])
def test_values_outside_the_space_are_refused(params, message):
    with pytest.raises(space.DesignSpaceError, match=message):
        space.generate_source(params)


def test_a_source_without_a_parameter_block_cannot_be_read_or_rewritten():
    with pytest.raises(space.DesignSpaceError, match="no single PARAMETERS block"):
        space.read_params(reference_source(V0))
    with pytest.raises(space.DesignSpaceError, match="no single PARAMETERS block"):
        space.generate_source({"BLOCK": 4}, base=reference_source(V0))


def test_a_change_is_described_parameter_by_parameter():
    old = space.defaults()
    new = {**old, "BLOCK": 16, "DEBLOCK": 0, "MV_LAMBDA": 2.5}
    assert space.describe_change(old, new) == "BLOCK 8→16, MV_LAMBDA 1→2.5, DEBLOCK 2→0"
    assert space.describe_change(old, dict(old)) == "no change"


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_each_parameter_changes_what_the_codec_does(name, clip, default_stream):
    ns = load(space.generate_source({name: ALTERNATIVES[name]}))
    stream = ns["encode"](clip, 1)
    assert stream != default_stream, f"{name}={ALTERNATIVES[name]!r} made no difference"
    first, again = ns["decode"](stream), ns["decode"](stream)
    decoded = check_video(as_video(first, clip.fps))
    assert decoded.y.shape == clip.y.shape
    assert all(np.array_equal(a, b) for a, b in zip(first[:3], again[:3], strict=True))
    assert psnr(clip.y, decoded.y) > 28.0


@pytest.mark.parametrize("corner", CORNERS, ids=["small", "wide", "coarse"])
def test_corners_of_the_space_are_working_codecs(corner):
    ns = load(space.generate_source(corner))
    assert check_codec_namespace(ns) == 4
    video = synthetic_clip(width=50, height=38, frames=5, seed=4)
    quality = []
    for level in (0, 3):
        decoded = check_video(as_video(ns["decode"](ns["encode"](video, level)), video.fps))
        assert decoded.y.shape == video.y.shape
        quality.append(psnr(video.y, decoded.y))
    assert quality[0] > max(quality[1], 25.0)


def test_v0_params_code_like_the_intra_dct_reference(clip):
    v0, template = load(reference_source(V0)), load(space.generate_source(space.v0_params()))
    for level in (0, 2):
        a, b = v0["encode"](clip, level), template["encode"](clip, level)
        quality_a = psnr(clip.y, v0["decode"](a)[0])
        quality_b = psnr(clip.y, template["decode"](b)[0])
        assert abs(quality_a - quality_b) < 0.05
        assert abs(len(a) - len(b)) < 0.03 * len(a)
