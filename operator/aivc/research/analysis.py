"""Score a measured candidate and decide whether it is kept: pure, shared by both drivers.

`analyze` turns an evaluation into the Experiment's `status.metrics` (the score — BD-rate on
PSNR-YUV against the campaign's anchor — plus BD-rates against every anchor and the best,
on every quality metric, means of rate, quality and speed, each clip's numbers) and hands
the direct comparisons with the best to the one adoption rule (`aivc.research.adoption`).
Held-out clips are scored like the others but only guard adoption; the headline numbers
are means over the campaign's own clips.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from aivc.api.documents import BEST, ClipMetrics, Metrics
from aivc.api.measurements import SCORE_METRIC, Quality
from aivc.api.spec import CampaignSpec
from aivc.evaluate.anchors import AnchorCurve
from aivc.evaluate.clips import ClipSpec
from aivc.evaluate.results import EvaluationResult, LevelResult
from aivc.evaluate.scoring import CHROMA, LUMA, METRICS, Score, score
from aivc.research.adoption import Evidence, Rules, decide

IMPLAUSIBLE_BD_RATE = -60.0
"""A hand-written Python codec beating x264/x265/AV1 medium by this much is more likely a
measuring or accounting bug than a breakthrough: a person looks first."""


@dataclass(frozen=True)
class Analysis:
    adopt: bool
    reason: str
    metrics: Metrics
    suspicious: str | None = None


def clip_names(texts: tuple[str, ...]) -> list[str]:
    """Canonical clip names, as results and anchor caches spell them."""
    return [str(ClipSpec.parse(t)) for t in texts]


def subset(result: EvaluationResult, clips: list[str]) -> EvaluationResult:
    """The part of `result` measured on `clips` (errors without a clip stay with every part)."""
    keep = set(clips)
    return replace(result, clips=[c for c in result.clips if c.name in keep],
                   levels=[r for r in result.levels if r.clip in keep],
                   errors=[e for e in result.errors if e.clip in keep or not e.clip])


def rules(spec: CampaignSpec) -> Rules:
    return Rules(spec.adoption_margin, spec.max_chroma_loss_db, spec.held_out_tolerance,
                 spec.max_luma_loss_percent)


def _r(value: float | None) -> float | None:
    """4 decimals, finite or nothing: status documents stay readable and stable."""
    return round(value, 4) if value is not None and math.isfinite(value) else None


def _quality(levels: list[LevelResult]) -> tuple[float | None, Quality]:
    n = len(levels)
    if not n:
        return None, Quality()
    mean = {m: _r(sum(getattr(r, m) for r in levels) / n) for m in METRICS}
    return _r(sum(r.kbps for r in levels) / n), Quality(**mean)


def _speed(levels: list[LevelResult], seconds: str) -> float | None:
    total = sum(getattr(r, seconds) for r in levels)
    return _r(sum(r.frames for r in levels) / total) if total > 0 else None


def _per_clip(result: EvaluationResult, found: Score, anchor: str,
              held_out: bool) -> dict[str, ClipMetrics]:
    out: dict[str, ClipMetrics] = {}
    for clip in found.clips:
        rates = {ref: v for ref in found.references
                 if (v := _r(clip.bd_rate(ref, SCORE_METRIC))) is not None}
        by_metric = {m: v for m in METRICS if (v := _r(clip.bd_rate(anchor, m))) is not None}
        best = clip.vs.get(BEST)
        chroma = {m: v for m in CHROMA
                  if best is not None and (v := _r(best.quality_delta.get(m))) is not None}
        why = {ref: w[:300] for ref in found.references if (w := clip.why_not(ref)) is not None}
        kbps, quality = _quality(result.for_clip(clip.clip))
        out[clip.clip] = ClipMetrics(rates, by_metric, chroma, kbps, quality, held_out, why)
    return out


def summarize(result: EvaluationResult, anchors: Mapping[str, dict[str, AnchorCurve]],
              best: EvaluationResult | None, spec: CampaignSpec) -> tuple[Metrics, Evidence]:
    """The metrics of `result`, and the evidence the adoption rule weighs."""
    clips, held = clip_names(spec.clips), clip_names(spec.held_out)
    mine = subset(result, clips)
    found = score(mine, anchors, None if best is None else subset(best, clips),
                  min_overlap=spec.min_overlap)
    per_clip = _per_clip(result, found, spec.anchor, held_out=False)
    held_score = None
    measured_held = [c for c in held if any(i.name == c for i in result.clips)]
    if measured_held:
        held_score = score(subset(result, measured_held), anchors,
                           None if best is None else subset(best, measured_held),
                           min_overlap=spec.min_overlap)
        per_clip.update(_per_clip(result, held_score, spec.anchor, held_out=True))
    kbps, quality = _quality(mine.levels)
    means = {ref: v for ref in found.references if (v := _r(found.mean(ref))) is not None}
    metrics = Metrics(
        bd_rate=means.get(spec.anchor), bd_rates=means,
        by_metric={m: v for m in METRICS if (v := _r(found.mean(spec.anchor, m))) is not None},
        chroma_vs_best={m: v for m in CHROMA if (v := _r(found.mean_quality_delta(m))) is not None},
        luma_vs_best=_r(found.mean(BEST, LUMA)) if BEST in found.references else None,
        kbps=kbps, quality=quality, encode_fps=_speed(mine.levels, "encode_seconds"),
        decode_fps=_speed(mine.levels, "decode_seconds"), per_clip=per_clip)
    dominant = frozenset(c for c in measured_held if best is not None and dominates(
        result.for_clip(c), best.for_clip(c)) and not any(e.clip == c for e in result.errors))
    return metrics, _evidence(found, held_score, spec.anchor, dominant)


PLANES = ("psnr_yuv", "psnr_y", "psnr_u", "psnr_v")


def dominates(mine: list[LevelResult], theirs: list[LevelResult]) -> bool:
    """Whether every rate point of `theirs` is matched by one of `mine` at no more rate and
    no less quality on every plane: "no worse" without a BD-rate's integration interval."""
    return bool(mine) and bool(theirs) and all(
        any(m.kbps <= t.kbps and all(getattr(m, q) >= getattr(t, q) for q in PLANES) for m in mine)
        for t in theirs)


def _first_reason(found: Score, reference: str, metric: str = SCORE_METRIC) -> str | None:
    return next((f"{clip}: {why}" for clip, ref, why in found.failures(metric) if ref == reference),
                None)


def _evidence(found: Score, held: Score | None, anchor: str,
              dominant: frozenset[str] = frozenset()) -> Evidence:
    held_vs: dict[str, float | None] = {}
    held_why: dict[str, str] = {}
    for clip in held.clips if held is not None and BEST in held.references else []:
        held_vs[clip.clip] = clip.bd_rate(BEST)
        if clip.bd_rate(BEST) is None:
            held_why[clip.clip] = clip.why_not(BEST) or "not measured"
    has_best = BEST in found.references
    return Evidence(
        score=found.mean(anchor), score_missing=_first_reason(found, anchor),
        vs_best=found.mean(BEST) if has_best else None,
        vs_best_missing=_first_reason(found, BEST) if has_best else None,
        chroma_vs_best={m[-1].upper(): found.mean_quality_delta(m) for m in CHROMA} if has_best else {},
        luma_vs_best=found.mean(BEST, LUMA) if has_best else None,
        luma_vs_best_missing=_first_reason(found, BEST, LUMA) if has_best else None,
        held_out_vs_best=held_vs, held_out_missing=held_why,
        held_out_dominant=frozenset(c for c in dominant if held_vs.get(c, 0.0) is None))


def suspicion(metrics: Metrics, result: EvaluationResult) -> str | None:
    """Why the numbers look wrong enough for a person to check before adopting."""
    bad = [f"{r.clip} level {r.level}" for r in result.levels
           if not all(math.isfinite(getattr(r, m)) for m in ("kbps", *METRICS))]
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
    """Score `result` (campaign clips, plus held-out clips unless given separately) and judge
    it against `best` (None: nothing adopted yet)."""
    if held_out_result is not None:
        result = replace(result, clips=result.clips + held_out_result.clips,
                         levels=result.levels + held_out_result.levels,
                         errors=result.errors + held_out_result.errors)
    metrics, evidence = summarize(result, anchors, best, spec)
    if best is not None and spec.held_out and not evidence.held_out_vs_best:
        evidence = replace(evidence, held_out_vs_best={c: None for c in clip_names(spec.held_out)},
                           held_out_missing={c: "not measured" for c in clip_names(spec.held_out)})
    verdict = decide(evidence, best is not None, rules(spec))
    return Analysis(verdict.adopt, verdict.reason, metrics, suspicion(metrics, result))
