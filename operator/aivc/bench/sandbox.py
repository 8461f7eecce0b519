"""Bench section `sandbox`: what running candidates in the sandbox costs.

The reference codec on carphone (30 frames, every level) evaluated three ways: inside this
process (the trusted runner, no isolation), through the sandbox one process at a time, and
through the sandbox with its default parallelism (one job per core), every level decoded
twice (``redecode="all"``, as for a would-be adoption). One process encodes every level of
the clip and each decode is a fresh process, so the overhead is mostly process start-ups
(namespaces, the view, the libraries, the parent's check of the layers); the last row
measures one start-up on its own. The numbers of the runs must agree exactly.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from aivc.evaluate.clips import ClipSpec, load_clip
from aivc.evaluate.inprocess import evaluate_in_process
from aivc.evaluate.results import EvaluationResult
from aivc.sandbox import SandboxLimits, evaluate_codec
from aivc.sandbox.policy import scan_source
from aivc.sandbox.session import Session
from aivc.sandbox.workspace import Workspace

CLIP = "carphone:30"
REFERENCE = Path(__file__).parents[1] / "codec" / "reference"
CANDIDATES = ("intra_dct.py", "inter_dct.py")


def reference_codec() -> Path:
    for name in CANDIDATES:
        if (REFERENCE / name).is_file():
            return REFERENCE / name
    raise FileNotFoundError(f"no reference codec in {REFERENCE}")


def run() -> dict[str, Any]:
    codec = reference_codec()
    clips = [ClipSpec.parse(CLIP)]
    load_clip(clips[0])  # decode and cache the clip first, so no run pays for it
    base, plain = _timed(lambda: evaluate_in_process(codec, clips))
    rows = [_row("in-process (no isolation)", base, base, plain)]
    for label, limits in (("sandbox, 1 job at a time", SandboxLimits(parallel=1)),
                          (f"sandbox, {os.cpu_count()} jobs (default)", SandboxLimits())):
        seconds, boxed = _timed(lambda limits=limits: evaluate_codec(codec, clips, limits,
                                                                     redecode="all"))
        if _numbers(boxed) != _numbers(plain):
            raise AssertionError(f"{label}: sandboxed numbers differ from the in-process run")
        rows.append(_row(label, seconds, base, boxed))
    rows.append({"runner": "one child process start-up (probe)", "wall_s": round(_startup(codec), 3),
                 "overhead_s": None, "overhead_pct": None, "levels": None})
    return {
        "title": f"Sandbox overhead: {codec.name} on {CLIP}",
        "rows": rows,
        "notes": [
            "overhead = wall time minus the in-process wall time; bytes, PSNR and SSIM of "
            "every level are identical across the runs (checked).",
            "one sandboxed process encodes every level; each level is then decoded twice "
            "(determinism), each decode a fresh process; the default runs them side by "
            "side, one per core.",
            f"mode: {'root' if os.geteuid() == 0 else 'user (user namespaces)'}; layers seen "
            f"by the parent: {', '.join(_layers(codec))}.",
        ],
    }


def _timed(fn: Any) -> tuple[float, EvaluationResult]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _row(label: str, seconds: float, base: float, result: EvaluationResult) -> dict[str, Any]:
    if not result.ok:
        raise AssertionError(f"{label}: the reference codec failed: {result.first_error()}")
    return {"runner": label, "wall_s": round(seconds, 3), "overhead_s": round(seconds - base, 3),
            "overhead_pct": round(100 * (seconds - base) / base, 1), "levels": len(result.levels)}


def _layers(codec: Path) -> list[str]:
    result = evaluate_codec(codec, [ClipSpec.parse("carphone:2")], SandboxLimits(), levels=[0])
    return [*result.sandbox.get("layers", []), *result.sandbox.get("reported", [])]


def _numbers(result: EvaluationResult) -> list[tuple[Any, ...]]:
    return [(r.clip, r.level, r.bytes, r.psnr_y, r.psnr_yuv, r.ssim_y) for r in result.levels]


def _startup(codec: Path) -> float:
    source = codec.read_bytes()
    scan = scan_source(source.decode())
    with Workspace(source) as ws:
        start = time.perf_counter()
        run = Session(ws, SandboxLimits(), scan.preimports, scan.levels or 1).run("probe", {}, {})
        seconds = time.perf_counter() - start
        run.outputs.close()
    if not run.ok:
        raise AssertionError(f"probe failed: {run.message}")
    return seconds
