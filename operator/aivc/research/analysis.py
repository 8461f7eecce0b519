"""Score a measured candidate and decide whether it is kept: pure, shared by both drivers.

`analyze` turns an evaluation into the Experiment's `status.metrics` (BD-rate vs each anchor
and vs the current best, mean bitrate and quality, speed, per clip) and the adoption
verdict (`aivc.research.adoption`). Held-out clips are scored like the others but only
guard adoption; the headline numbers are means over the campaign's own clips.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from aivc.evaluate.anchors import AnchorCurve
from aivc.evaluate.clips import ClipSpec
from aivc.evaluate.results import EvaluationResult, LevelResult
from aivc.evaluate.scoring import BASELINE, Score, score
from aivc.research.adoption import Standing, decide
from aivc.research.spec import CampaignSpec

IMPLAUSIBLE_BD_RATE = -60.0
"""A hand-written Python codec beating x264/x265/AV1 medium by this much is more likely a
measuring or accounting bug than a breakthrough: a person looks first."""


@dataclass(frozen=True)
class Analysis:
    adopt: bool
    reason: str
    metrics: dict[str, Any]
    """Experiment `status.metrics`: bdRate, bdRate<Anchor>, bdRateVsBest, kbps, psnrY, ssimY,
    encodeFps, decodeFps (means over the campaign clips) and perClip."""
    suspicious: str | None = None


def metric_key(encoder: str) -> str:
    """`x265` → `bdRateX265`, `av1` → `bdRateAv1` (the CRD's spelling)."""
    return "bdRate" + encoder[:1].upper() + encoder[1:]


def clip_names(texts: tuple[str, ...]) -> list[str]:
    """Canonical clip names, as results and anchor caches spell them."""
    return [str(ClipSpec.parse(t)) for t in texts]


def subset(result: EvaluationResult, clips: list[str]) -> EvaluationResult:
    """The part of `result` measured on `clips` (errors without a clip stay with every part)."""
    keep = set(clips)
    return replace(result, clips=[c for c in result.clips if c.name in keep],
                   levels=[r for r in result.levels if r.clip in keep],
                   errors=[e for e in result.errors if e.clip in keep or not e.clip])


def _means(levels: list[LevelResult]) -> dict[str, float | None]:
    n = len(levels)
    if not n:
        return {"kbps": None, "psnrY": None, "ssimY": None}
    return {"kbps": sum(r.kbps for r in levels) / n, "psnrY": sum(r.psnr_y for r in levels) / n,
            "ssimY": sum(r.ssim_y for r in levels) / n}


def _per_clip(result: EvaluationResult, found: Score, held_out: bool) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for clip in found.clips:
        row: dict[str, Any] = {("bdRateVsBest" if ref == BASELINE else metric_key(ref)): value
                               for ref, value in clip.bd_rate.items()}
        row.update(_means(result.for_clip(clip.clip)))
        if clip.failures:
            row["notScored"] = {ref: why[:200] for ref, why in clip.failures.items()}
        if held_out:
            row["heldOut"] = True
        out[clip.clip] = row
    return out


def _speed(levels: list[LevelResult], seconds: str) -> float | None:
    total = sum(getattr(r, seconds) for r in levels)
    return sum(r.frames for r in levels) / total if total > 0 else None


def summarize(result: EvaluationResult, anchors: Mapping[str, dict[str, AnchorCurve]],
              best: EvaluationResult | None, spec: CampaignSpec) -> dict[str, Any]:
    """The metrics document: means over campaign clips plus `perClip` (held-out marked).

    A mean BD-rate counts only when every campaign clip could be scored: a candidate whose
    curve misses the anchor's range on one clip has no headline number, rather than a
    flattering one from the clips it did well on.
    """
    clips, held = clip_names(spec.clips), clip_names(spec.held_out)
    mine = subset(result, clips)
    found = score(mine, dict(anchors), None if best is None else subset(best, clips))
    means = {("bdRateVsBest" if ref == BASELINE else metric_key(ref)):
             (found.mean_bd_rate.get(ref) if found.complete(ref) else None) for ref in found.references}
    metrics: dict[str, Any] = {"bdRate": means.get(metric_key(spec.anchor))}
    metrics.update(sorted(means.items(), key=lambda kv: kv[0] == "bdRateVsBest"))
    metrics.update(_means(mine.levels))
    metrics["encodeFps"] = _speed(mine.levels, "encode_seconds")
    metrics["decodeFps"] = _speed(mine.levels, "decode_seconds")
    per_clip = _per_clip(result, found, held_out=False)
    if held:
        per_clip.update(_per_clip(result, score(subset(result, held), dict(anchors)), held_out=True))
    metrics["perClip"] = per_clip
    return _rounded(metrics)


def _rounded(value: Any) -> Any:
    """Drop unknowns and keep 4 decimals: status documents stay readable and stable."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items() if v is not None}
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    return value


def standing(metrics: Mapping[str, Any], spec: CampaignSpec) -> Standing:
    per_clip = metrics.get("perClip") or {}
    held = {c: (per_clip.get(c) or {}).get(metric_key(spec.anchor))
            for c in clip_names(spec.held_out)}
    return Standing(metrics.get("bdRate"), held)


def suspicion(metrics: Mapping[str, Any], result: EvaluationResult) -> str | None:
    """Why the numbers look wrong enough for a person to check before adopting."""
    bad = [f"{r.clip} level {r.level}" for r in result.levels
           if not all(math.isfinite(x) for x in (r.kbps, r.psnr_y, r.ssim_y))]
    if bad:
        return f"non-finite measurements at {', '.join(bad[:3])}"
    for key, value in metrics.items():
        if key.startswith("bdRate") and key != "bdRateVsBest" and isinstance(value, float) \
                and value < IMPLAUSIBLE_BD_RATE:
            return (f"{key} {value:+.1f}% is implausibly good for this kind of codec "
                    f"(below {IMPLAUSIBLE_BD_RATE:.0f}%); check the bitstream accounting")
    return None


def analyze(result: EvaluationResult, anchors: Mapping[str, dict[str, AnchorCurve]],
            best: EvaluationResult | None, spec: CampaignSpec,
            held_out_result: EvaluationResult | None = None) -> Analysis:
    """Score `result` (campaign clips, plus held-out clips unless given separately)."""
    if held_out_result is not None:
        result = replace(result, clips=result.clips + held_out_result.clips,
                         levels=result.levels + held_out_result.levels,
                         errors=result.errors + held_out_result.errors)
    metrics = summarize(result, anchors, best, spec)
    best_standing = None
    if best is not None:
        best_standing = standing(summarize(best, anchors, None, spec), spec)
    verdict = decide(standing(metrics, spec), best_standing, spec.held_out_tolerance)
    return Analysis(verdict.adopt, verdict.reason, metrics, suspicion(metrics, result))
