"""inter-rdo, the search template: its encoder predicts from exactly what its decoder
rebuilds, its fast paths equal the slow ones they stand for, its learned filter is exact,
and golden rate-distortion points pin down what each tool does.

The golden points (tests/expected/inter-rdo-golden.json) are real encodes of the first
frames of carphone, one per tool switched off; after an intended change to the codec,
regenerate them with ``AIVC_REGEN_EXPECTED=1 pytest tests/unit/test_inter_rdo.py`` and
review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aivc.codec import space
from aivc.codec.contract import Video, as_video
from aivc.evaluate.clips import synthetic_clip
from aivc.evaluate.quality import kbps, measure

GOLDEN = Path(__file__).resolve().parents[1] / "expected" / "inter-rdo-golden.json"
TOOLS_OFF: dict[str, dict[str, Any]] = {
    "full": {},
    "quarter-pel off": {"SUBPEL": "off"},
    "B frames off": {"GOP": 1},
    "partitions off": {"PARTITION_DEPTH": 0},
    "RD decisions off": {"MODE_DECISION": "sad"},
    "macroblock tree off": {"MBTREE": False},
    "two references": {"NUM_REFS": 2},
    "contexts off": {"ENTROPY_CONTEXTS": "single"},
    "deblocking off": {"DEBLOCK": 0.0},
    "learned filter on": {"LEARNED_FILTER": True, "FILTER_STEPS": 60},
}


def codec(**params: Any) -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "aivc_candidate"}
    exec(compile(space.generate_source(params), "inter_rdo.py", "exec"), ns)
    return ns


def encode_with_reconstruction(ns: dict[str, Any], video: Video, level: int) -> tuple[bytes, list]:
    """The encoder's own bitstream and the frames it predicted from (its reconstruction)."""
    g = ns
    geo = g["Geometry"](*video.y.shape)
    src = [geo.pad(p, c) for c, p in enumerate(video.planes())]
    order = g["schedule"](geo.frames)
    look = g["Lookahead"](src[0])
    offsets = g["macroblock_tree"](order, look, geo)
    models, ch, hist, store = g["make_models"](), g["Channel"](), g["History"](geo), g["Store"](geo, order)
    for i, frame in enumerate(order):
        planes = g["encode_frame"](geo, frame, level, [s[frame.t] for s in src], store, look,
                                   offsets[frame.t], models, hist, ch)
        store.keep(i, frame, planes)
    head = g["HEADER"].pack(g["MAGIC"], level, geo.frames, geo.height, geo.width, float(video.fps), 0)
    return head + ch.coder.get_compressed().astype("<u4").tobytes(), store.clip()


@pytest.mark.parametrize("params", [{}, {"GOP": 1, "NUM_REFS": 3}, {"PARTITION_DEPTH": 2, "GOP": 4},
                                    {"INTRA_PERIOD": 3, "GOP": 2, "SUBPEL": "half"}],
                         ids=["defaults", "low-delay", "4x4", "intra-period"])
def test_the_encoder_predicts_from_exactly_what_the_decoder_rebuilds(params):
    ns = codec(**params)
    video = synthetic_clip(width=72, height=56, frames=7, seed=5)
    for level in (0, 3):
        bitstream, mine = encode_with_reconstruction(ns, video, level)
        theirs = ns["decode"](bitstream)
        assert bitstream == ns["encode"](video, level)
        for a, b in zip(mine, theirs[:3], strict=True):
            assert np.array_equal(a, b)


def random_frame(ns: dict[str, Any], rng: np.random.Generator, bidir: bool):
    """A random partition with random modes, merges and motion."""
    geo = ns["Geometry"](1, 64, 80)
    part = ns["Partition"](geo, rng.random((geo.mbh, geo.mbw)) < 0.5,
                           rng.random((geo.mbh, geo.mbw, 2, 2)) < 0.5)
    nodes, leaves = len(part.node_size), len(part.leaf_size)
    mode = rng.choice([0, 1, 2], nodes, p=[0.5, 0.35, 0.15])
    mode[part.node_split & (mode == 0)] = 1                   # 4x4 leaves are never skipped
    motion = {"dir": rng.integers(0, 3 if bidir else 1, leaves),
              "ref": rng.integers(0, 2, (leaves, 2)), "mv": rng.integers(-40, 41, (leaves, 2, 2))}
    return part, mode, rng.integers(0, 2, nodes), motion


@pytest.mark.parametrize("seed", range(6))
def test_the_encoders_batch_motion_resolution_equals_the_decoders_sequential_one(seed):
    ns = codec()
    rng = np.random.default_rng(seed)
    bidir = seed % 2 == 1
    part, mode, merge, motion = random_frame(ns, rng, bidir)
    fast, mvd = ns["resolve_encoder"](part, mode, motion, merge, bidir)
    slow_mvd = np.zeros_like(mvd)
    slow = ns["resolve_motion"](part, mode, {k: v.copy() for k, v in motion.items()}, merge,
                                slow_mvd, bidir, True)
    coded = mode[part.leaf_node] != 2
    for key in fast:
        assert np.array_equal(fast[key][coded], slow[key][coded]), key
    inter = mode[part.leaf_node] == 1
    for lst, unused in ((0, 1), (1, 0)):                    # only a used list's difference is coded
        slow_mvd[slow["dir"] == unused, lst] = 0
    assert np.array_equal(mvd[inter], slow_mvd[inter])
    decoded = ns["resolve_motion"](part, mode, {"dir": motion["dir"], "ref": motion["ref"],
                                                "mv": np.zeros_like(motion["mv"])},
                                   merge, mvd, bidir, False)
    for key in fast:
        assert np.array_equal(fast[key][coded], decoded[key][coded]), key


def reference_net(planes: np.ndarray, net: tuple) -> np.ndarray:
    """The quantised filter in plain int64 numpy, to hold the float64 torch path to."""
    s1, s2, w1, b1, w2, b2 = net
    x = planes.astype(np.int64)
    pad = np.pad(x - 128, ((0, 0), (1, 1), (1, 1)), mode="edge")
    t, h, w = x.shape
    taps = [pad[:, i:i + h, j:j + w] for i in range(3) for j in range(3)]
    hidden = np.maximum(np.einsum("ck,kthw->cthw", w1.reshape(len(w1), 9).astype(np.int64),
                                  np.stack(taps)) + b1.astype(np.int64)[:, None, None, None], 0)
    hp = np.pad(hidden, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    acc = sum(np.einsum("c,cthw->thw", w2[0, :, i, j].astype(np.int64), hp[:, :, i:i + h, j:j + w])
              for i in range(3) for j in range(3)) + int(b2[0])
    shift = 1 << (s1 + s2)
    return np.clip(x + np.floor_divide(acc + shift // 2, shift), 0, 255).astype(np.uint8)


@pytest.mark.slow
def test_the_learned_filter_is_exact_identical_twice_and_survives_packing():
    ns = codec(LEARNED_FILTER=True, FILTER_STEPS=50, FILTER_CHANNELS=4)
    video = synthetic_clip(width=48, height=40, frames=3, seed=1)
    noisy = np.clip(video.y.astype(int) + np.random.default_rng(0).integers(-6, 7, video.y.shape),
                    0, 255).astype(np.uint8)
    net = ns["quantise_net"](*ns["fit_net"](noisy, video.y, seed=3))
    once, twice = ns["run_net"](noisy, net), ns["run_net"](noisy, net)
    assert np.array_equal(once, twice)
    assert np.array_equal(once, reference_net(noisy, net))
    unpacked, end = ns["unpack_net"](ns["pack_net"](net), 0)
    assert end == len(ns["pack_net"](net))
    assert all(np.array_equal(a, b) for a, b in zip(unpacked, net, strict=True))
    before = np.mean((noisy.astype(float) - video.y) ** 2)
    assert np.mean((once.astype(float) - video.y) ** 2) < before      # it learnt to denoise


def golden_points(carphone_short: Video) -> dict[str, dict[str, float]]:
    video = Video(*(p[:8] for p in carphone_short.planes()), carphone_short.fps)
    out = {}
    for name, params in TOOLS_OFF.items():
        ns = codec(**params)
        bitstream = ns["encode"](video, 2)
        decoded = as_video(ns["decode"](bitstream), video.fps)
        q = measure(video, decoded)
        out[name] = {"kbps": round(kbps(len(bitstream), video.frames, video.fps), 2),
                     "psnr_yuv": round(q.psnr_yuv, 3), "psnr_y": round(q.psnr_y, 3)}
    return out


@pytest.mark.slow
def test_each_tool_keeps_its_golden_rate_distortion_point(carphone_short: Video):
    points = golden_points(carphone_short)
    if os.environ.get("AIVC_REGEN_EXPECTED"):
        GOLDEN.write_text(json.dumps(points, indent=1) + "\n")
    assert GOLDEN.is_file(), f"{GOLDEN} is missing: run with AIVC_REGEN_EXPECTED=1 and review it"
    golden = json.loads(GOLDEN.read_text())
    assert set(points) == set(golden)
    for name, point in points.items():
        want = golden[name]
        assert point["kbps"] == pytest.approx(want["kbps"], rel=0.01), name
        assert point["psnr_yuv"] == pytest.approx(want["psnr_yuv"], abs=0.03), name
        assert point["psnr_y"] == pytest.approx(want["psnr_y"], abs=0.03), name
