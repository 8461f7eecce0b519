"""Design spaces declared in a codec's own source: one reader for every codec's block, the
conditions between parameters, rewriting a block (and its optional imports), and every
template parameter really changing what the generated codec does."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from aivc.codec import space
from aivc.codec.contract import as_video, check_codec_namespace, check_video
from aivc.codec.reference import REFERENCE_CODECS, TEMPLATE, V0, reference_source
from aivc.evaluate.clips import synthetic_clip
from aivc.evaluate.quality import psnr

DESIGNS = space.template_space()
PARAMETRIC = [name for name in sorted(REFERENCE_CODECS) if name != V0]

# A value other than the default for each template parameter, with what it needs switched on
# for it to matter, chosen so the change shows on a small moving clip at level 1.
ALTERNATIVES: dict[str, dict[str, Any]] = {
    "QP": {"QP": 30}, "QP_SPACING": {"QP_SPACING": 8}, "CHROMA_QP_OFFSET": {"CHROMA_QP_OFFSET": 4},
    "I_QP_OFFSET": {"I_QP_OFFSET": 0}, "GOP": {"GOP": 2}, "B_QP_STEP": {"B_QP_STEP": 3},
    "INTRA_PERIOD": {"INTRA_PERIOD": 2}, "NUM_REFS": {"NUM_REFS": 2},
    "PARTITION_DEPTH": {"PARTITION_DEPTH": 0}, "SUBPEL": {"SUBPEL": "off"},
    "INTERP_TAPS": {"INTERP_TAPS": 2}, "SUBPEL_PATTERN": {"SUBPEL_PATTERN": "square"},
    "SEARCH": {"SEARCH": "predictive", "NUM_REFS": 3}, "SEARCH_RANGE": {"SEARCH_RANGE": 8},
    "MODE_DECISION": {"MODE_DECISION": "sad"}, "LAMBDA": {"LAMBDA": 3.0},
    "CHROMA_WEIGHT": {"CHROMA_WEIGHT": 4.0}, "MBTREE": {"MBTREE": False},
    "MBTREE_STRENGTH": {"MBTREE_STRENGTH": 4.0}, "ENTROPY_CONTEXTS": {"ENTROPY_CONTEXTS": "single"},
    "DEBLOCK": {"DEBLOCK": 0.0},
    "LEARNED_FILTER": {"LEARNED_FILTER": True, "FILTER_STEPS": 50},
    "FILTER_CHANNELS": {"LEARNED_FILTER": True, "FILTER_STEPS": 50, "FILTER_CHANNELS": 4},
    "FILTER_STEPS": {"LEARNED_FILTER": True, "FILTER_STEPS": 60},
}
BASE_OF: dict[str, dict[str, Any]] = {  # what the comparison starts from, where it is not defaults
    "FILTER_CHANNELS": {"LEARNED_FILTER": True, "FILTER_STEPS": 50},
    "FILTER_STEPS": {"LEARNED_FILTER": True, "FILTER_STEPS": 50},
    "SEARCH": {"NUM_REFS": 3},
    "NUM_REFS": {"GOP": 1},          # five frames: only low-delay P frames have two references
}
CORNERS = [
    {"GOP": 1, "NUM_REFS": 4, "PARTITION_DEPTH": 0, "SUBPEL": "half", "INTERP_TAPS": 8,
     "ENTROPY_CONTEXTS": "position", "DEBLOCK": 2.0, "MBTREE": False},
    {"GOP": 16, "INTRA_PERIOD": 3, "PARTITION_DEPTH": 2, "SUBPEL": "off", "SEARCH": "predictive",
     "SEARCH_RANGE": 48, "QP": 14, "QP_SPACING": 9, "CHROMA_QP_OFFSET": -6, "LAMBDA": 0.25},
    {"GOP": 4, "B_QP_STEP": 3, "QP": 40, "QP_SPACING": 3, "MODE_DECISION": "sad",
     "CHROMA_QP_OFFSET": 6, "I_QP_OFFSET": -8, "MBTREE_STRENGTH": 4.0, "LAMBDA": 4.0},
]


def load(source: str) -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "aivc_candidate"}
    exec(compile(source, "candidate.py", "exec"), ns)
    return ns


@pytest.fixture(scope="module")
def clip():
    return synthetic_clip(width=64, height=48, frames=5, seed=2)


# ---------------------------------------------------------------- reading blocks

@pytest.mark.parametrize("name", PARAMETRIC)
def test_every_parametric_reference_codec_declares_its_space_the_same_way(name):
    source = reference_source(name)
    declared = space.parse_space(source)
    assert declared.defaults() == space.read_params(source)
    for param in declared.params:
        assert param.description and param.kind in space.KINDS
        assert param.check(param.default) == param.default
        assert f"# {param.declaration()}" in source


def test_the_template_is_the_search_planners_space_and_ships_its_defaults():
    assert TEMPLATE == "inter-rdo"
    assert space.defaults() == space.read_params(reference_source(TEMPLATE))
    assert space.generate_source({}) == reference_source(TEMPLATE)


def test_the_space_exposes_structure_not_only_scalars():
    kinds = {p.name: p.kind for p in DESIGNS.params}
    for name in ("MBTREE", "LEARNED_FILTER"):
        assert kinds[name] == "bool"
    for name in ("GOP", "SUBPEL", "SUBPEL_PATTERN", "SEARCH", "ENTROPY_CONTEXTS", "FILTER_CHANNELS"):
        assert kinds[name] == "choice"
    assert DESIGNS.by_name["PARTITION_DEPTH"].range == (0, 2)
    conditional = {p.name: [str(c) for c in p.when] for p in DESIGNS.params if p.when}
    assert conditional["FILTER_CHANNELS"] == ["LEARNED_FILTER"]
    assert conditional["INTERP_TAPS"] == ["SUBPEL != off"]
    assert conditional["B_QP_STEP"] == ["GOP > 1"]


@pytest.mark.parametrize("block, message", [
    ("A = 1  # integer: 0..2; what", "KIND one of"),
    ("A = 1  # int: 0..2", "KIND.*MEANING"),
    ("A = 1  # int: 0-2; what", "needs a range"),
    ("A = 3  # int: 0..2; what", r"must be an int in \[0, 2\]"),
    ('A = "c"  # choice: a|b; what', "must be one of"),
    ("A = 1  # int: 0..2; what; when B", "not declared above it"),
    ("A = 1  # int: 0..2; what\nA = 2  # int: 0..2; what", "declared twice"),
    ("A = max(1, 2)  # int: 0..2; what", "not a literal"),
    ("A = 0.5  # float: 0..2 log; what", "log scale needs a positive range"),
    ("A = 1  # int: 0..2; what; when B ~ 3", "cannot read condition"),
])
def test_a_malformed_declaration_is_a_one_line_error_naming_the_parameter(block, message):
    source = f"{space.BEGIN}\nB = True  # bool; switch\n{block}\n{space.END}\n"
    if "when B" in block and "~" not in block:
        source = f"{space.BEGIN}\n{block}\nB = True  # bool; switch\n{space.END}\n"
    with pytest.raises(space.DesignSpaceError, match=message):
        space.parse_space(source)


def test_a_candidate_may_declare_its_own_space_in_the_same_format():
    source = f'''"""A candidate of an LLM's."""
{space.BEGIN}
MODE = "fast"     # choice: fast|slow|exact; how hard to try
STEPS = 3         # int: 1..9; iterations; when MODE in slow|exact
GAIN = 0.5        # float: 0.01..1 log; a scale
USE_X = False     # bool; an optional tool
X_SIZE = 4        # choice: 2|4|8; the tool's size; when USE_X and STEPS >= 2
{space.END}
LEVELS = 2
'''
    declared = space.parse_space(source)
    assert declared.names == ["MODE", "STEPS", "GAIN", "USE_X", "X_SIZE"]
    assert declared.by_name["GAIN"].log
    assert [p.name for p in declared.active(declared.defaults())] == ["MODE", "GAIN", "USE_X"]
    active = declared.active({"MODE": "exact", "USE_X": True, "STEPS": 2})
    assert [p.name for p in active] == declared.names
    rewritten = space.generate_source({"MODE": "slow", "X_SIZE": 8}, base=source)
    assert space.read_params(rewritten) == {**declared.defaults(), "MODE": "slow", "X_SIZE": 8}


def test_a_parameter_may_say_it_only_places_the_rate_points():
    source = f"""{space.BEGIN}
STEP = 6.5   # float: 2..20 log; quantiser step of level 0; operating point
SPREAD = 2   # int: 1..4; levels apart; operating point; when STEP > 3
FILTER = 1   # int: 0..2; filter strength
{space.END}
"""
    declared = space.parse_space(source)
    assert [p.name for p in declared.params if p.operating_point] == ["STEP", "SPREAD"]
    assert declared.by_name["SPREAD"].description == "levels apart"
    assert [p.name for p in declared.tunable(declared.defaults())] == ["FILTER"]
    rewritten = space.generate_source({"FILTER": 2}, base=source)
    again = space.parse_space(rewritten)  # the mark survives a rewrite
    assert [p.operating_point for p in again.params] == [True, True, False]
    template = space.template_space()
    assert {p.name for p in template.params if p.operating_point} == {"QP", "QP_SPACING"}


@pytest.mark.parametrize("text, params, holds", [
    ("GOP > 1", {"GOP": 2}, True), ("GOP > 1", {"GOP": 1}, False),
    ("SUBPEL != off", {"SUBPEL": "quarter"}, True), ('SUBPEL != "off"', {"SUBPEL": "off"}, False),
    ("SUBPEL in half|quarter", {"SUBPEL": "half"}, True), ("MBTREE", {"MBTREE": False}, False),
    ("MBTREE == True", {"MBTREE": 1}, False), ("GOP <= 4", {"GOP": "4"}, False),
])
def test_conditions_compare_values_of_the_same_kind(text, params, holds):
    assert space.Condition.parse(text).holds(params) is holds


def test_inactive_parameters_do_not_count_when_designs_are_compared():
    off = {"SUBPEL": "off", "INTERP_TAPS": 2, "SUBPEL_PATTERN": "square"}
    assert DESIGNS.canonical(off) == DESIGNS.canonical({"SUBPEL": "off"})
    assert DESIGNS.canonical({"SUBPEL": "half", "INTERP_TAPS": 2}) != DESIGNS.canonical({"SUBPEL": "half"})


# ---------------------------------------------------------------- writing sources

def test_generating_a_source_rewrites_only_the_parameter_block():
    base = reference_source(TEMPLATE)
    wanted = {"GOP": 4, "LAMBDA": 1.5, "SUBPEL": "half", "MBTREE": False}
    source = space.generate_source(wanted)
    assert space.read_params(source) == {**space.defaults(), **wanted}
    changed = [(a, b) for a, b in zip(base.splitlines(), source.splitlines(), strict=True) if a != b]
    assert len(changed) == len(wanted)
    for old, new in changed:
        assert old.split("=")[0] == new.split("=")[0]
        assert old[old.index("#"):] == new[new.index("#"):]   # the declaration, in its column


def test_an_optional_import_follows_its_condition():
    on = space.generate_source({"LEARNED_FILTER": True})
    assert re.search(r"^import torch  # when LEARNED_FILTER$", on, re.M)
    assert not re.search(r"^torch = None", on, re.M)
    off = space.generate_source({"LEARNED_FILTER": False}, base=on)
    assert off == reference_source(TEMPLATE)
    assert re.search(r"^torch = None  # when LEARNED_FILTER$", off, re.M)


def test_a_generated_source_uses_plain_literals_one_per_line():
    source = space.generate_source({"SUBPEL": "half", "LAMBDA": 2.5, "GOP": 16})
    assert re.search(r'^SUBPEL = "half" +# choice: ', source, re.M)
    assert re.search(r"^LAMBDA = 2\.5 +# float: ", source, re.M)
    assert re.search(r"^GOP = 16 +# choice: ", source, re.M)


@pytest.mark.parametrize("params, message", [
    ({"NOPE": 1}, "unknown parameters"),
    ({"GOP": 3}, "GOP must be one of"),
    ({"QP": 100}, r"QP must be an int in \[14, 40\]"),
    ({"QP": 24.5}, "QP must be an int"),
    ({"MBTREE": 1}, "MBTREE must be one of"),
    ({"PARTITION_DEPTH": True}, "PARTITION_DEPTH must be an int"),
    ({"LAMBDA": float("nan")}, "LAMBDA must be a float"),
])
def test_values_outside_the_space_are_refused(params, message):
    with pytest.raises(space.DesignSpaceError, match=message):
        space.generate_source(params)


def test_a_source_without_a_parameter_block_cannot_be_read_or_rewritten():
    with pytest.raises(space.DesignSpaceError, match="no single PARAMETERS block"):
        space.read_params(reference_source(V0))
    with pytest.raises(space.DesignSpaceError, match="no single PARAMETERS block"):
        space.generate_source({"GOP": 4}, base=reference_source(V0))


def test_a_change_is_described_parameter_by_parameter():
    old = space.defaults()
    new = {**old, "GOP": 4, "DEBLOCK": 0.0, "LAMBDA": 2.5}
    assert space.describe_change(old, new, DESIGNS) == "GOP 8→4, LAMBDA 1→2.5, DEBLOCK 1→0"
    assert space.describe_change(old, dict(old)) == "no change"


# ---------------------------------------------------------------- the codec behind the space

BASE_STREAMS: dict[str, bytes] = {}


def base_stream(name: str, clip) -> bytes:
    """The stream of the design a parameter's change is compared with (encoded once)."""
    key = repr(sorted(BASE_OF.get(name, {}).items()))
    if key not in BASE_STREAMS:
        BASE_STREAMS[key] = load(space.generate_source(BASE_OF.get(name, {})))["encode"](clip, 1)
    return BASE_STREAMS[key]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_each_parameter_changes_what_the_codec_does(name, clip):
    base = base_stream(name, clip)
    ns = load(space.generate_source({**BASE_OF.get(name, {}), **ALTERNATIVES[name]}))
    stream = ns["encode"](clip, 1)
    assert stream != base, f"{ALTERNATIVES[name]} made no difference"
    first, again = ns["decode"](stream), ns["decode"](stream)
    decoded = check_video(as_video(first, clip.fps))
    assert all(np.array_equal(a, b) for a, b in zip(first[:3], again[:3], strict=True))
    assert psnr(clip.y, decoded.y) > 26.0


@pytest.mark.slow
@pytest.mark.parametrize("corner", CORNERS, ids=["low-delay", "long-gop", "coarse"])
def test_corners_of_the_space_are_working_codecs(corner):
    ns = load(space.generate_source(corner))
    assert check_codec_namespace(ns) == 4
    video = synthetic_clip(width=50, height=38, frames=5, seed=4)
    quality = []
    for level in (0, 3):
        decoded = check_video(as_video(ns["decode"](ns["encode"](video, level)), video.fps))
        quality.append(psnr(video.y, decoded.y))
    assert quality[0] > max(quality[1], 24.0)


@pytest.mark.parametrize("line", [
    "DEPTH = " + "(" * 5000 + "1" + ")" * 5000 + "  # int: 0..9; nested",
    "STEP = 1.5  # float: 1.2.3..4; a range that is no number",
    "BIG = 1  # int: 0..1e999999; an endless range",
    "WORD = 1  # choice: ((((; words",
])
def test_a_hostile_block_is_a_design_space_error_never_a_crash(line):
    source = f"{space.BEGIN}\n{line}\n{space.END}\n"
    with pytest.raises(space.DesignSpaceError):
        space.parse_space(source)
