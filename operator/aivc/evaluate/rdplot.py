"""Rate–distortion plots (PNG): a candidate's curve next to the anchors on the same axes.

Uses matplotlib's Agg canvas directly, without pyplot, so no global figure state or GUI
backend is involved and plotting is safe from any thread or process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from aivc.evaluate.anchors import AnchorCurve
from aivc.evaluate.results import EvaluationResult

Curve = tuple[str, Sequence[float], Sequence[float]]  # label, kbps, PSNR-Y


def plot_rd(path: Path, curves: list[Curve], title: str) -> Path:
    """One RD plot (kbps on a log axis, PSNR-Y in dB) of the given curves, saved as PNG."""
    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    _draw(fig.add_subplot(1, 1, 1), curves, title)
    return _save(fig, path)


def plot_result(path: Path, result: EvaluationResult,
                anchors: Mapping[str, Mapping[str, AnchorCurve]], label: str = "candidate",
                title: str = "") -> Path:
    """One panel per clip: the candidate's levels and each anchor encoder's curve."""
    names = [c.name for c in result.clips] or sorted(anchors)
    cols = min(len(names), 2) or 1
    rows = (len(names) + cols - 1) // cols or 1
    fig = Figure(figsize=(6.0 * cols, 4.5 * rows), dpi=100)
    for i, clip in enumerate(names):
        levels = result.for_clip(clip)
        curves: list[Curve] = [(label, [r.kbps for r in levels], [r.psnr_y for r in levels])]
        curves += [(enc, c.kbps, c.psnr_y) for enc, c in sorted(anchors.get(clip, {}).items())]
        _draw(fig.add_subplot(rows, cols, i + 1), curves, clip)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _draw(ax: Axes, curves: list[Curve], title: str) -> None:
    for label, rates, psnrs in curves:
        pairs = sorted(zip(rates, psnrs, strict=True))
        if not pairs:
            continue
        ax.plot([p[0] for p in pairs], [p[1] for p in pairs], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("rate (kbit/s)")
    ax.set_ylabel("PSNR-Y (dB)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if any(rates for _, rates, _ in curves):
        ax.legend(loc="lower right")


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    FigureCanvasAgg(fig).print_png(str(path))
    return path
