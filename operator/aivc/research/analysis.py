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

from aivc.api.documents import BEST, ClipMetrics, Metrics
from aivc.api.spec import CampaignSpec
from aivc.evaluate.anchors import AnchorCurve
from aivc.evaluate.clips import ClipSpec
from aivc.evaluate.results import EvaluationResult, LevelResult
from aivc.evaluate.scoring import BASELINE, Score, score
from aivc.research.adoption import Standing, decide

IMPLAUSIBLE_BD_RATE = -60.0
"""A hand-written Python codec beating x264/x265/AV1 medium by this much is more likely a
measuring or accounting bug than a breakthrough: a person looks first."""


@dataclass(frozen=True)
class Analysis:
    adopt: bool
    reason: str
    metrics: Metrics
    """Experiment `status.metrics`: the score, BD-rate against each anchor and the best,
    bitrate, quality and speed (means over the campaign clips), and each clip's numbers."""
    suspicious: str | None = None


def _ref(reference: str) -> str:
    """The scoring module's name for the best version is the documents' `BEST`."""
    return BEST if reference == BASELINE else reference


def clip_names(texts: tuple[str, ...]) -> list[str]:
    """Canonical clip names, as results and anchor caches spell them."""
    return [str(ClipSpec.parse(t)) for t in texts]


def subset(result: EvaluationResult, clips: list[str]) -> EvaluationResult:
    """The part of `result` measured on `clips` (errors without a clip stay with every part)."""
    keep = set(clips)
    return replace(result, clips=[c for c in result.clips if c.name in keep],
                   levels=[r for r in result.levels if r.clip in keep],
                   errors=[e for e in result.errors if e.clip in keep or not e.clip])


def _means(levels: list[LevelResult]) -> tuple[float | None, float | None, float | None]:
    n = len(levels)
    if not n:
        return None, None, None
    return (_r(sum(r.kbps for r in levels) / n), _r(sum(r.psnr_y for r in levels) / n),
            _r(sum(r.ssim_y for r in levels) / n))


def _r(value: float | None) -> float | None:
    """4 decimals, finite or nothing: status documents stay readable and stable."""
    return round(value, 4) if value is not None and math.isfinite(value) else None


def _per_clip(result: EvaluationResult, found: Score, held_out: bool) -> dict[str, ClipMetrics]:
    out: dict[str, ClipMetrics] = {}
    for clip in found.clips:
        rates = {_ref(ref): r for ref, value in clip.bd_rate.items() if (r := _r(value)) is not None}
        kbps, psnr, ssim = _means(result.for_clip(clip.clip))
        out[clip.clip] = ClipMetrics(rates, kbps, psnr, ssim, held_out,
                                     {_ref(ref): why[:200] for ref, why in clip.failures.items()})
    return out


def _speed(levels: list[LevelResult], seconds: str) -> float | None:
    total = sum(getattr(r, seconds) for r in levels)
    return _r(sum(r.frames for r in levels) / total) if total > 0 else None


def summarize(result: EvaluationResult, anchors: Mapping[str, dict[str, AnchorCurve]],
              best: EvaluationResult | None, spec: CampaignSpec) -> Metrics:
    """The metrics of `result`: means over the campaign clips plus each clip (held out marked).

    A mean BD-rate counts only when every campaign clip could be scored: a candidate whose
    curve misses the anchor's range on one clip has no headline number, rather than a
    flattering one from the clips it did well on.
    """
    clips, held = clip_names(spec.clips), clip_names(spec.held_out)
    mine = subset(result, clips)
    found = score(mine, dict(anchors), None if best is None else subset(best, clips))
    means = {_ref(ref): r for ref in found.references
             if found.complete(ref) and (r := _r(found.mean_bd_rate.get(ref))) is not None}
    per_clip = _per_clip(result, found, held_out=False)
    if held:
        per_clip.update(_per_clip(result, score(subset(result, held), dict(anchors)), held_out=True))
    kbps, psnr, ssim = _means(mine.levels)
    return Metrics(bd_rate=means.get(spec.anchor), bd_rates=means, kbps=kbps, psnr_y=psnr,
                   ssim_y=ssim, encode_fps=_speed(mine.levels, "encode_seconds"),
                   decode_fps=_speed(mine.levels, "decode_seconds"), per_clip=per_clip)


def standing(metrics: Metrics, spec: CampaignSpec) -> Standing:
    held = {c: (metrics.per_clip.get(c) or ClipMetrics()).bd_rate.get(spec.anchor)
            for c in clip_names(spec.held_out)}
    return Standing(metrics.bd_rate, held)


def suspicion(metrics: Metrics, result: EvaluationResult) -> str | None:
    """Why the numbers look wrong enough for a person to check before adopting."""
    bad = [f"{r.clip} level {r.level}" for r in result.levels
           if not all(math.isfinite(x) for x in (r.kbps, r.psnr_y, r.ssim_y))]
    if bad:
        return f"non-finite measurements at {', '.join(bad[:3])}"
    for ref, value in metrics.bd_rates.items():
        if ref != BEST and value < IMPLAUSIBLE_BD_RATE:
            return (f"BD-rate vs {ref} {value:+.1f}% is implausibly good for this kind of codec "
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
