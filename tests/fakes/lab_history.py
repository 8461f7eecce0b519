"""A campaign's past written into a real LocalStore — adopted versions with results, a
rejected and a failed experiment, anchor curves — so the lab's own `_request` and
`outcome_of` build what the LLM planner sees, without running a sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aivc.api.documents import ExperimentDoc
from aivc.api.spec import CampaignSpec
from aivc.evaluate.anchors import AnchorCurve, AnchorPoint
from aivc.evaluate.results import ClipInfo, EvaluationResult, LevelResult
from aivc.research.labwork import Lab
from aivc.research.planning import Planner
from aivc.store.base import new_document
from aivc.store.local import LocalStore

CLIP, HELD = "carphone:8", "bikes:8"
V0 = "LEVELS = 2\nQ = 30\n\n\ndef encode(video, level):\n    return b'v0'\n\n\ndef decode(bits):\n    return None\n"
V1 = V0.replace("Q = 30", "Q = 20")
REJECTED = V1.replace("Q = 20", "Q = 19")
FAILED = V1.replace("return b'v0'", "return undefined")


def campaign(**llm: Any) -> CampaignSpec:
    return CampaignSpec.from_manifest({
        "apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": "lab"},
        "spec": {"goal": {"anchor": "x264"}, "planner": "llm", "seed": 11,
                 "dataset": {"clips": [CLIP], "heldOut": [HELD]},
                 "evaluation": {"adoptionMargin": 0.6, "maxChromaLossDB": 0.3, "minOverlap": 0.75,
                                "heldOutTolerance": 2.0},
                 "llm": {"model": "claude-sonnet-4-6", "reviewEvery": 0, "maxTokens": 2000, **llm}}})


def level(clip: str, lvl: int, kbps: float, yuv: float) -> LevelResult:
    return LevelResult(clip, lvl, 8, int(kbps * 40), kbps, yuv - 0.5, yuv + 2.5, yuv + 3.25, yuv,
                       0.95 - lvl / 50, 0.1, 0.05)


def results(shift: float) -> dict[str, Any]:
    return EvaluationResult(
        "evaluate", "sha", 2, clips=[ClipInfo(CLIP, 176, 144, 8, 29.97), ClipInfo(HELD, 640, 272, 8, 25.0)],
        levels=[level(CLIP, 0, 812.5 - shift, 41.25), level(CLIP, 1, 402.0 - shift, 37.5),
                level(HELD, 0, 1500.0 - shift, 39.0), level(HELD, 1, 700.0 - shift, 35.0)]).to_dict()


def metrics(bd: float, held: float, fps: float = 12.0) -> dict[str, Any]:
    return {"bdRate": bd, "kbps": 400.0, "psnrYuv": 39.0, "encodeFps": fps,
            "perClip": {CLIP: {"bdRateX264": bd}, HELD: {"bdRateX264": held, "heldOut": True}}}


def _put(store: LocalStore, seq: int, source: str, spec: dict[str, Any], status: dict[str, Any],
         result: dict[str, Any] | None = None) -> None:
    name = f"lab-{seq:04d}"
    store.create(new_document("Experiment", name, {"campaign": "lab", "sequence": seq, **spec}))
    store.patch_status("Experiment", name, status)
    store.put_source(name, source)
    if result is not None:
        store.put_results(name, result)


def write_history(store: LocalStore) -> None:
    """v0 (#0, fast), v1 (#1 from v0, the best), #2 rejected and #3 failed in validation, both
    from v1, and #4 waiting for its design. v0 and v1 are the elites."""
    done = {"phase": "Succeeded", "learned": True}
    _put(store, 0, V0, {"hypothesis": "Baseline", "codec": {"sha256": "s0"}},
         {**done, "verdict": "Adopted", "version": 0, "metrics": metrics(30.0, 45.0, fps=40.0)}, results(0.0))
    _put(store, 1, V1, {"hypothesis": "a finer quantiser", "parentVersion": "v0", "codec": {"sha256": "s1"}},
         {**done, "verdict": "Adopted", "version": 1, "metrics": metrics(21.5, 40.5)}, results(50.0))
    _put(store, 2, REJECTED, {"hypothesis": "a slightly finer one", "parentVersion": "v1",
                              "codec": {"sha256": "s2"}},
         {**done, "verdict": "Rejected", "metrics": metrics(21.4, 40.0),
          "analysis": {"reason": "its BD-rate against the best is -0.1 %, not -0.6 %"}}, results(51.0))
    _put(store, 3, FAILED, {"hypothesis": "an undefined helper", "parentVersion": "v1",
                            "codec": {"sha256": "s3"}},
         {"phase": "Failed", "lastError": {"stage": "validation", "category": "import",
                                           "message": "NameError: name 'undefined' is not defined"}})
    store.create(new_document("Experiment", "lab-0004", {"campaign": "lab", "sequence": 4}))
    store.patch_status("Experiment", "lab-0004", {"phase": "Designing"})


def anchors() -> dict[str, dict[str, AnchorCurve]]:
    def curve(clip: str, encoder: str, scale: float) -> AnchorCurve:
        pts = [AnchorPoint(kbps=950.0 * scale, psnr_y=41.5, psnr_u=44.0, psnr_v=45.0, psnr_yuv=42.5,
                           ssim_y=0.97, encode_seconds=0.1, param=23),
               AnchorPoint(kbps=90.0 * scale, psnr_y=30.5, psnr_u=37.0, psnr_v=38.0, psnr_yuv=31.75,
                           ssim_y=0.8, encode_seconds=0.1, param=41)]
        return AnchorCurve(encoder, clip, pts, "x264 core 164", {}, frames=8)
    return {CLIP: {"x264": curve(CLIP, "x264", 1.0)}, HELD: {"x264": curve(HELD, "x264", 2.0)}}


def lab(tmp: Path, planner: Planner, spec: CampaignSpec | None = None) -> Lab:
    store = LocalStore(tmp)
    write_history(store)
    return Lab(spec or campaign(), store, planner, anchors(), tmp / "cache")


def experiments(store: LocalStore) -> list[ExperimentDoc]:
    return sorted((ExperimentDoc.parse(d) for d in store.list("Experiment", campaign="lab")),
                  key=lambda e: e.sequence)
