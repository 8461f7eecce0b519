"""The campaign report: leaderboard, story, RD curves and progress, as markdown with PNGs.

Written at the end of every `aivc run` (spec.finishUp.report) and by `aivc report`, from the
documents in the run directory alone, so it can be regenerated at any time.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from aivc.errors import AivcError
from aivc.evaluate.anchors import AnchorCurve
from aivc.evaluate.rdplot import Curve, plot_rd
from aivc.research import history
from aivc.research.analysis import clip_names, metric_key
from aivc.research.display import leaderboard
from aivc.research.spec import CampaignSpec
from aivc.research.story import story_lines
from aivc.store.base import ExperimentStore
from aivc.store.local import atomic_write

TOP = 5
CURVES_PER_PLOT = 3
SOURCE_NOTE = ("The built-in clips (carphone, bikes, bbb720) are themselves H.264-compressed "
               "sources, so every codec — candidates and anchors alike — is measured against "
               "already-lossy frames: the numbers are fair for comparing codecs with each other, "
               "not absolute measures of quality.")


def anchors_path(run_dir: Path, campaign: str) -> Path:
    return Path(run_dir) / "anchors" / f"{campaign}.json"


def save_anchors(run_dir: Path, campaign: str, anchors: dict[str, dict[str, AnchorCurve]]) -> None:
    doc = {clip: {enc: c.to_dict() for enc, c in per.items()} for clip, per in anchors.items()}
    atomic_write(anchors_path(run_dir, campaign), json.dumps(doc, indent=1))


def load_anchors(run_dir: Path, campaign: str) -> dict[str, dict[str, AnchorCurve]]:
    try:
        doc = json.loads(anchors_path(run_dir, campaign).read_text())
    except (OSError, ValueError):
        return {}
    return {clip: {enc: AnchorCurve.from_dict(c) for enc, c in per.items()} for clip, per in doc.items()}


def write_report(store: ExperimentStore, campaign: str, out_dir: Path, top: int = TOP, *,
                 run_dir: Path | None = None,
                 anchors: dict[str, dict[str, AnchorCurve]] | None = None) -> Path:
    """Write `out_dir/report.md` plus its PNGs; return the markdown's path.

    Anchor curves for the RD plots come from `anchors`, else from what `aivc run` saved in
    the run directory (`run_dir`, by default the local store's root).
    """
    doc = store.get("Campaign", campaign)
    if doc is None:
        raise AivcError(f"campaign {campaign} not found")
    spec = CampaignSpec.from_manifest({k: v for k, v in doc.items() if k != "status"})
    experiments = sorted(store.list("Experiment", campaign=campaign), key=history.sequence_of)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = run_dir or getattr(store, "root", None)
    if anchors is None:
        anchors = {} if root is None else load_anchors(Path(root), campaign)
    progress_png = plot_progress(out_dir / "bd_rate_over_experiments.png", experiments, spec.anchor)
    rd_pngs = plot_rd_curves(out_dir, store, spec, experiments, anchors)
    text = "\n".join(_markdown(doc, spec, experiments, top, progress_png, rd_pngs, root))
    path = out_dir / "report.md"
    atomic_write(path, text)
    return path


def _markdown(doc: dict[str, Any], spec: CampaignSpec, experiments: list[dict[str, Any]], top: int,
              progress_png: Path | None, rd_pngs: list[Path], run_dir: Path | None) -> list[str]:
    status = doc.get("status") or {}
    counts = status.get("experiments") or {}
    lines = [f"# Campaign `{spec.name}`", "",
             f"- Planner: `{spec.planner}`; base codec `{spec.base_codec}`; anchor `{spec.anchor}`",
             f"- Clips: {', '.join(spec.clips)}; held out: {', '.join(spec.held_out) or 'none'}",
             f"- Experiments: {counts.get('total', len(experiments))} "
             f"({counts.get('adopted', 0)} adopted, {counts.get('rejected', 0)} rejected, "
             f"{counts.get('failed', 0)} failed, {counts.get('needsHuman', 0)} waiting for a person)",
             f"- Stopped: {status.get('stopReason') or 'still running'}",
             f"- LLM spend: ${float(status.get('costUSD') or 0):.2f}", "", f"> {SOURCE_NOTE}", ""]
    lines += _leaderboard(experiments, spec, top)
    lines += _progress_summary(experiments)
    if progress_png:
        lines += ["", f"![BD-rate over experiments]({progress_png.name})"]
    if rd_pngs:
        lines += ["", "## Rate–distortion curves", "",
                  f"The best versions against {', '.join(a.upper() for a in spec.anchors)} "
                  "(PSNR-Y; rate on a log axis).", ""]
        lines += [f"![RD curves {p.stem}]({p.name})" for p in rd_pngs]
    lines += ["", "## The story", ""] + story_lines(experiments)
    repo = spec.git_repo or (run_dir and Path(run_dir) / "evolution" / f"{spec.name}.git")
    lines += ["", "## Evolution branch", "",
              f"Adopted versions are commits on `{spec.git_branch}` in `{repo or 'the evolution repo'}`,"
              " tagged per version."]
    return lines


def _leaderboard(experiments: list[dict[str, Any]], spec: CampaignSpec, top: int) -> list[str]:
    header, body = leaderboard(experiments, spec.anchors, top)
    if not body:
        return ["## Leaderboard", "", "No version was adopted.", ""]
    by_name = {e["metadata"]["name"]: e for e in experiments}
    header = header + ["HYPOTHESIS"]
    body = [r + [_short((by_name[r[2]].get("spec") or {}).get("hypothesis"), 90)] for r in body]
    lines = ["## Leaderboard", "", f"Top {len(body)} adopted versions by BD-rate vs "
             f"{spec.anchor} (mean over the campaign clips; negative = fewer bits than the anchor).",
             "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in body]
    return lines + [""]


def _progress_summary(experiments: list[dict[str, Any]]) -> list[str]:
    adopted = [e for e in experiments if history.status_of(e).get("verdict") == "Adopted"]
    rates: list[tuple[str, float]] = []
    for exp in adopted:
        bd = (history.status_of(exp).get("metrics") or {}).get("bdRate")
        if isinstance(bd, (int, float)):
            rates.append((str(history.status_of(exp).get("versionName")), float(bd)))
    if len(rates) < 2:
        return []
    first, best = rates[0], min(rates, key=lambda vr: vr[1])
    return ["## Progress", "",
            f"From {first[0]} at {first[1]:+.2f}% to {best[0]} at {best[1]:+.2f}%: "
            f"{first[1] - best[1]:.2f} BD-rate points better."]


def _short(text: Any, width: int) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def plot_progress(path: Path, experiments: list[dict[str, Any]], anchor: str) -> Path | None:
    """Every measured experiment's BD-rate, adopted ones marked, and the best so far.

    A baseline far worse than everything after it would flatten the interesting part, so
    the y-axis stops a little above most points and outliers sit on the top edge, labelled.
    """
    points: list[tuple[int, float, bool]] = []
    for exp in experiments:
        bd = (history.status_of(exp).get("metrics") or {}).get("bdRate")
        if isinstance(bd, (int, float)) and math.isfinite(bd):
            points.append((history.sequence_of(exp), float(bd),
                           history.status_of(exp).get("verdict") == "Adopted"))
    if not points:
        return None
    fig = Figure(figsize=(7.0, 4.2), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    top = _top(sorted(b for _, b, _ in points))
    for adopted, color, label in ((False, "0.6", "rejected"), (True, "tab:green", "adopted")):
        chosen = [(s, min(b, top)) for s, b, a in points if a is adopted]
        if chosen:
            ax.scatter(*zip(*chosen, strict=True), color=color, label=label, zorder=2 + adopted)
    for s, b, _ in points:
        if b > top:
            ax.annotate(f"{b:+.0f}%", (s, top), textcoords="offset points", xytext=(4, -12), fontsize=8)
    steps, best = [], math.inf
    for s, b, a in points:
        if a:
            best = min(best, b)
            steps.append((s, min(best, top)))
    if steps:
        steps.append((max(s for s, _, _ in points), steps[-1][1]))
        ax.step(*zip(*steps, strict=True), where="post", color="tab:green", alpha=0.6, label="best so far")
    ax.axhline(0.0, color="0.3", linewidth=0.8, linestyle="--")
    ax.set_xlabel("experiment")
    ax.set_ylabel(f"BD-rate vs {anchor} (%), lower is better")
    ax.grid(True, alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig).print_png(str(path))
    return path


def _top(values: list[float]) -> float:
    """The y-axis top: a margin above the 85th percentile, or above everything if that fits."""
    lo, hi = values[0], values[min(len(values) - 1, int(0.85 * len(values)))]
    top = hi + 0.3 * max(hi - lo, 1.0)
    return values[-1] + 0.05 * max(values[-1] - lo, 1.0) if values[-1] <= top else top


def plot_rd_curves(out_dir: Path, store: ExperimentStore, spec: CampaignSpec,
                   experiments: list[dict[str, Any]],
                   anchors: dict[str, dict[str, AnchorCurve]]) -> list[Path]:
    """One PNG per clip: the top versions' curves and the anchors'."""
    adopted = [e for e in experiments if history.status_of(e).get("verdict") == "Adopted"]
    adopted.sort(key=lambda e: _bd_key(e, spec.anchor))
    results = {e["metadata"]["name"]: store.get_results(e["metadata"]["name"])
               for e in adopted[:CURVES_PER_PLOT]}
    paths = []
    for i, clip in enumerate(clip_names(spec.clips + spec.held_out)):
        curves: list[Curve] = []
        for exp in adopted[:CURVES_PER_PLOT]:
            rows = [r for r in (results[exp["metadata"]["name"]] or {}).get("levels", [])
                    if r["clip"] == clip]
            label = history.status_of(exp).get("versionName") or exp["metadata"]["name"]
            curves.append((str(label), [r["kbps"] for r in rows], [r["psnr_y"] for r in rows]))
        curves += [(enc, c.kbps, c.psnr_y) for enc, c in (anchors.get(clip) or {}).items()]
        if any(k for _, k, _ in curves):
            title = f"{clip}" + (" (held out)" if clip not in clip_names(spec.clips) else "")
            paths.append(plot_rd(out_dir / f"rd_{i}_{_slug(clip)}.png", curves, title))
    return paths


def _bd_key(exp: dict[str, Any], anchor: str) -> float:
    value = (history.status_of(exp).get("metrics") or {}).get(metric_key(anchor))
    return float(value) if isinstance(value, (int, float)) else math.inf


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text)
