"""The campaign report: leaderboard, story, RD curves and progress, as markdown with PNGs.

Written at the end of every `aivc run` (spec.finishUp.report) and by `aivc report`, from the
documents in the run directory alone, so it can be regenerated at any time.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from aivc.api.documents import CampaignDoc, ExperimentDoc, Metrics
from aivc.api.spec import CampaignSpec
from aivc.errors import AivcError
from aivc.evaluate.anchors import AnchorCurve
from aivc.evaluate.rdplot import Curve, plot_rd
from aivc.research import anchoring, archive, campaigning, lineage
from aivc.research.analysis import clip_names
from aivc.research.display import leaderboard, one_line
from aivc.research.story import story_lines
from aivc.store.base import ExperimentStore
from aivc.store.local import atomic_write

TOP = 5
CURVES_PER_PLOT = 3
SOURCE_NOTE = ("The built-in clips (carphone, bikes, bbb720) are themselves H.264-compressed "
               "sources, so every codec — candidates and anchors alike — is measured against "
               "already-lossy frames: the numbers are fair for comparing codecs with each other, "
               "not absolute measures of quality.")


def write_report(store: ExperimentStore, campaign: str, out_dir: Path, top: int = TOP, *,
                 run_dir: Path | None = None,
                 anchors: dict[str, dict[str, AnchorCurve]] | None = None) -> Path:
    """Write `out_dir/report.md` plus its PNGs; return the markdown's path.

    Anchor curves for the RD plots come from `anchors`, else from what `aivc run` saved in
    the run directory (`run_dir`, by default the local store's root).
    """
    raw = store.get("Campaign", campaign)
    if raw is None:
        raise AivcError(f"campaign {campaign} not found")
    doc = CampaignDoc.parse(raw)
    spec = doc.spec
    experiments = sorted((ExperimentDoc.parse(e) for e in store.list("Experiment", campaign=campaign)),
                         key=lambda e: e.sequence)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = run_dir or getattr(store, "root", None)
    if anchors is None:
        anchors = {} if root is None else anchoring.load(Path(root), campaign)
    progress_png = plot_progress(out_dir / "bd_rate_over_experiments.png", experiments, spec.anchor)
    lineage_png = lineage.plot(out_dir / "lineage.png", experiments, spec.anchor)
    rd_pngs = plot_rd_curves(out_dir, store, spec, experiments, anchors)
    text = "\n".join(_markdown(doc, spec, experiments, top, progress_png, rd_pngs, root)
                     + _lineage(experiments, lineage_png))
    path = out_dir / "report.md"
    atomic_write(path, text)
    return path


def _markdown(doc: CampaignDoc, spec: CampaignSpec, experiments: list[ExperimentDoc], top: int,
              progress_png: Path | None, rd_pngs: list[Path], run_dir: Path | None) -> list[str]:
    status = doc.status
    counts = status.counts
    lines = [f"# Campaign `{spec.name}`", "",
             f"- Planner: `{spec.planner}`; base codec `{spec.base_codec}`; anchor `{spec.anchor}`",
             f"- Clips: {', '.join(spec.clips)}; held out: {', '.join(spec.held_out) or 'none'}",
             f"- Experiments: {counts.total or len(experiments)} "
             f"({counts.adopted} adopted, {counts.rejected} rejected, "
             f"{counts.failed} failed, {counts.needs_human} waiting for a person)",
             f"- Stopped: {status.stop_reason or 'still running'}",
             f"- LLM spend: ${status.cost_usd:.2f}", "", f"> {SOURCE_NOTE}", ""]
    lines += _leaderboard(experiments, spec, top)
    lines += _progress_summary(experiments)
    if progress_png:
        lines += ["", f"![BD-rate over experiments]({progress_png.name})"]
    if rd_pngs:
        lines += ["", "## Rate–distortion curves", "",
                  f"The best versions against {', '.join(a.upper() for a in spec.anchors)} "
                  "(PSNR-YUV 6:1:1, the score's quality; rate on a log axis).", ""]
        lines += [f"![RD curves {p.stem}]({p.name})" for p in rd_pngs]
    lines += _design_models(spec, experiments)
    lines += ["", "## The story", ""] + story_lines(experiments)
    committed = [d.status.commit for d in experiments if d.status.commit and d.status.commit.repo]
    repo = committed[-1].repo if committed else \
        spec.git_repo or (run_dir and Path(run_dir) / "evolution" / f"{spec.name}.git")
    lines += ["", "## Evolution branch", "",
              f"Adopted versions are commits on `{spec.git_branch}` in `{repo or 'the evolution repo'}`,"
              " tagged per version."]
    return lines


def _design_models(spec: CampaignSpec, experiments: list[ExperimentDoc]) -> list[str]:
    """The hybrid planner's bandit: what each design model's programs gained per dollar."""
    arms = campaigning.design_arms(spec, experiments)
    if not arms:
        return []
    searched = sum(1 for e in experiments if e.status.origin and e.status.origin.planner == "search")
    lines = ["", "## Design models", "",
             f"Programs the LLM wrote and the {searched} search experiments that tuned their "
             "parameters. The bandit (UCB1) picks the next program's model by the BD-rate gain "
             "per dollar its programs produced (value: scaled to the best seen).", "",
             "| model | programs | gain (BD-rate points) | cost | value | UCB1 score |",
             "|---|---:|---:|---:|---:|---:|"]
    for a in arms:
        score = "untried" if a.score == float("inf") else f"{a.score:.3f}"
        lines.append(f"| {a.model} | {a.programs} | {a.gain:.2f} | ${a.cost_usd:.3f} | "
                     f"{a.value:.3f} | {score} |")
    return lines


def _lineage(experiments: list[ExperimentDoc], png: Path | None) -> list[str]:
    lines = ["", "## Lineage", "",
             "Each version under the version it was built on (parents are drawn from the "
             "archive's elites, so versions form a tree), with its score and the change against "
             "its parent.", ""]
    lines += lineage.markdown(experiments)
    return lines + (["", f"![Lineage]({png.name})"] if png else [])


def _leaderboard(experiments: list[ExperimentDoc], spec: CampaignSpec, top: int) -> list[str]:
    header, body = leaderboard(experiments, spec.anchors, top)
    if not body:
        return ["## Leaderboard", "", "No version was adopted.", ""]
    by_name = {e.name: e for e in experiments}
    header = header + ["HYPOTHESIS"]
    body = [r + [one_line(by_name[r[2]].spec.hypothesis, 90)] for r in body]
    lines = ["## Leaderboard", "", f"Top {len(body)} adopted versions by their score, BD-rate "
             f"(PSNR-YUV 6:1:1) vs {spec.anchor} (mean over the campaign clips; negative = fewer "
             "bits than the anchor). BD-RATE columns are on PSNR-YUV.",
             "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in body]
    return lines + [""]


def _progress_summary(experiments: list[ExperimentDoc]) -> list[str]:
    rates = [(str(e.status.version_name), bd) for e in archive.adopted(experiments)
             if (bd := (e.status.metrics or Metrics()).bd_rate) is not None]
    if len(rates) < 2:
        return []
    first, best = rates[0], min(rates, key=lambda vr: vr[1])
    return ["## Progress", "",
            f"From {first[0]} at {first[1]:+.2f}% to {best[0]} at {best[1]:+.2f}%: "
            f"{first[1] - best[1]:.2f} BD-rate points better."]


def plot_progress(path: Path, experiments: list[ExperimentDoc], anchor: str) -> Path | None:
    """Every measured experiment's BD-rate, adopted ones marked, and the best so far.

    A baseline far worse than everything after it would flatten the interesting part, so
    the y-axis stops a little above most points and outliers sit on the top edge, labelled.
    """
    points = [(e.sequence, bd, e.status.adopted) for e in experiments
              if (bd := (e.status.metrics or Metrics()).bd_rate) is not None]
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
    ax.set_ylabel(f"BD-rate (PSNR-YUV) vs {anchor} (%), lower is better")
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
                   experiments: list[ExperimentDoc],
                   anchors: dict[str, dict[str, AnchorCurve]]) -> list[Path]:
    """One PNG per clip: the top versions' curves and the anchors'."""
    top = sorted(archive.adopted(experiments), key=archive.score_key)[:CURVES_PER_PLOT]
    results = {e.name: store.get_results(e.name) or {} for e in top}
    paths = []
    for i, clip in enumerate(clip_names(spec.clips + spec.held_out)):
        curves: list[Curve] = []
        for exp in top:
            rows = [r for r in results[exp.name].get("levels", []) if r["clip"] == clip]
            curves.append((exp.status.version_name or exp.name, [r["kbps"] for r in rows],
                           [r["psnr_yuv"] for r in rows]))
        curves += [(enc, c.kbps, c.psnr_yuv) for enc, c in (anchors.get(clip) or {}).items()]
        if any(k for _, k, _ in curves):
            title = f"{clip}" + (" (held out)" if clip not in clip_names(spec.clips) else "")
            paths.append(plot_rd(out_dir / f"rd_{i}_{_slug(clip)}.png", curves, title))
    return paths


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text)
