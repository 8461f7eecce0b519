"""Plain-text tables for the terminal: evaluation results, scores and anchor curves."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from aivc.evaluate.anchors import AnchorCurve
from aivc.evaluate.bdrate import RDCurveError, bd_rate
from aivc.evaluate.results import EvaluationResult
from aivc.evaluate.scoring import HEADLINE, LABELS, METRICS, Score

_NUMBER = re.compile(r"^([+-]?\d+(\.\d+)?%?|n/a|inf)$")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [bool(rows) and all(_NUMBER.match(r[i]) for r in cells[1:])
               for i in range(len(headers))]
    lines = []
    for r in cells:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric, strict=True)]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def levels_table(result: EvaluationResult) -> str:
    rows = [[r.clip, r.level, r.kbps, r.psnr_yuv, r.psnr_y, r.psnr_u, r.psnr_v, f"{r.ssim_y:.4f}",
             _fps(r.frames, r.encode_seconds), _fps(r.frames, r.decode_seconds)]
            for info in result.clips for r in result.for_clip(info.name)]
    return format_table(["clip", "level", "kbps", "PSNR-YUV", "PSNR-Y", "PSNR-U", "PSNR-V",
                         "SSIM-Y", "enc fps", "dec fps"], rows)


def score_table(score: Score) -> str:
    """The score — BD-rate on PSNR-YUV — per clip and reference with the mean; then BD-rate
    on every quality metric against the first anchor; reasons for any gaps."""
    refs = score.references
    rows: list[list[str]] = [[c.clip] + [_pct(c.bd_rate(ref)) for ref in refs] for c in score.clips]
    rows.append(["mean"] + [_pct(score.mean(ref)) for ref in refs])
    text = format_table([f"BD-rate ({LABELS[HEADLINE]}) vs"] + refs, rows)
    if refs:
        anchor = refs[0]
        by_metric = [[c.clip] + [_pct(c.bd_rate(anchor, m)) for m in METRICS] for c in score.clips]
        by_metric.append(["mean"] + [_pct(score.mean(anchor, m)) for m in METRICS])
        text += "\n\n" + format_table([f"BD-rate vs {anchor} on"] + [LABELS[m] for m in METRICS],
                                       by_metric)
    notes = [f"  {clip} vs {ref}: {why}" for clip, ref, why in score.failures()]
    return text + ("\nnot scored:\n" + "\n".join(notes) if notes else "")


def anchors_table(curves: Mapping[str, Mapping[str, AnchorCurve]]) -> str:
    """Per clip and encoder: the (kbps / PSNR-YUV) points, encode fps and BD-rate vs x264."""
    width = max((len(c.points) for per in curves.values() for c in per.values()), default=0)
    rows = []
    for clip, per_clip in curves.items():
        reference = per_clip.get("x264")
        for enc, curve in per_clip.items():
            points = [f"{p.kbps:.1f} / {p.psnr_yuv:.2f}" for p in curve.points]
            points += [""] * (width - len(points))
            rows.append([clip, enc, *points, f"{curve.encode_fps:.1f}", _bd_vs(reference, curve)])
    headers = ["clip", "encoder"] + [f"kbps / PSNR-YUV #{i + 1}" for i in range(width)]
    return format_table(headers + ["enc fps", "BD-rate (PSNR-YUV) vs x264"], rows)


def _bd_vs(reference: AnchorCurve | None, curve: AnchorCurve) -> str:
    if reference is None:
        return "n/a (no x264)"
    if reference is curve:
        return "(anchor)"
    try:
        return _pct(bd_rate(reference.kbps, reference.psnr_yuv, curve.kbps, curve.psnr_yuv))
    except RDCurveError as exc:
        return f"n/a: {exc}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}%"


def _fps(frames: int, seconds: float) -> str:
    return f"{frames / seconds:.1f}" if seconds > 0 else "inf"
