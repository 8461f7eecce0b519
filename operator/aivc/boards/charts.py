"""Draw a Grafana board with matplotlib from a real Prometheus: the README's pictures.

Each panel is placed where its `gridPos` puts it and drawn from its own PromQL (template
variables filled in as Grafana would), so the picture shows what the board shows: range
queries for time series, stat values and scatter plots, instant queries for bar gauges and
tables. Only the panel types the AIVC boards use are supported.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402  (the backend must be chosen first)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from aivc.boards import dashboards  # noqa: E402
from aivc.boards.promserver import Prometheus  # noqa: E402

ROW_INCHES, WIDTH_INCHES, DPI = 0.36, 16.0, 72
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Window:
    """The time range drawn and the values of the board's variables over it."""

    start: float
    end: float
    variables: Mapping[str, str]

    @property
    def step(self) -> float:
        return max(1.0, (self.end - self.start) / 400)


def legend(fmt: str, labels: Mapping[str, str]) -> str:
    if not fmt or fmt == "__auto":
        return ", ".join(f"{k}={v}" for k, v in labels.items() if k != "__name__") or "value"
    return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt).strip()


def fmt_value(value: float, unit: str | None, decimals: int | None = None) -> str:
    """Grafana's formatting for the units the boards use."""
    if not math.isfinite(value):
        return "n/a"
    if unit == "percentunit":
        return f"{value * 100:.{1 if decimals is None else decimals}f} %"
    if unit == "bps":
        return f"{value / 1000:.0f} kb/s" if abs(value) >= 1000 else f"{value:.0f} b/s"
    if unit == "currencyUSD":
        return f"${value:.{2 if decimals is None else decimals}f}"
    if unit == "s":
        return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"
    if unit == "dateTimeAsIso":
        return dt.datetime.fromtimestamp(value / 1000).strftime("%Y-%m-%d %H:%M:%S")
    if unit == "prefix:v":
        return f"v{value:.0f}"
    if unit == "dB":
        return f"{value:.2f} dB"
    return f"{value:.{0 if decimals is None else decimals}f}" if decimals is not None or \
        float(value).is_integer() else f"{value:.3g}"


def _series(prom: Prometheus, panel: dict[str, Any], window: Window, instant: bool) -> list[tuple[str, dict[str, str], Any]]:
    """(refId, labels, values) per series; values: [(t, v)] or a single float."""
    out: list[tuple[str, dict[str, str], Any]] = []
    for t in panel["targets"]:
        expr = dashboards.substitute(t["expr"], window.variables)
        if instant:
            for s in prom.query(expr, at=window.end):
                out.append((t["refId"], {**s["metric"], "__legend__": t.get("legendFormat", "")},
                            float(s["value"][1])))
        else:
            for s in prom.query_range(expr, window.start, window.end, window.step):
                points = [(float(ts), float(v)) for ts, v in s["values"]]
                out.append((t["refId"], {**s["metric"], "__legend__": t.get("legendFormat", "")},
                            points))
    return out


def _unit(panel: dict[str, Any]) -> tuple[str | None, int | None]:
    d = panel.get("fieldConfig", {}).get("defaults", {})
    return d.get("unit"), d.get("decimals")


def _label(labels: Mapping[str, str]) -> str:
    return legend(labels.get("__legend__", ""), {k: v for k, v in labels.items() if k != "__legend__"})


def draw_timeseries(ax: Axes, panel: dict[str, Any], prom: Prometheus, window: Window) -> int:
    unit, decimals = _unit(panel)
    right_refs = {o["matcher"]["options"] for o in panel["fieldConfig"].get("overrides", [])
                  if any(p["id"] == "custom.axisPlacement" and p["value"] == "right"
                         for p in o["properties"])}
    points_refs = {o["matcher"]["options"] for o in panel["fieldConfig"].get("overrides", [])
                   if any(p["id"] == "custom.drawStyle" and p["value"] == "points"
                          for p in o["properties"])}
    twin, drawn = None, 0
    if right_refs:
        box = ax.get_position()
        ax.set_position((box.x0, box.y0, box.width - 0.03, box.height))  # room for the labels
        twin = ax.twinx()
    for ref, labels, values in _series(prom, panel, window, instant=False):
        if not values:
            continue
        target = twin if (twin is not None and ref in right_refs) else ax
        xs = [dt.datetime.fromtimestamp(t) for t, _ in values]
        ys = [v for _, v in values]
        style = dict(marker="o", linestyle="none", markersize=3) if ref in points_refs else dict(linewidth=1.6)
        target.plot(xs, ys, label=_label(labels), color=f"C{drawn % 10}", **style)  # type: ignore[arg-type]
        drawn += 1
    if decimals == 0:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(lambda v, _: fmt_value(v, unit, decimals))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=5))
    handles, names = ax.get_legend_handles_labels()
    if twin is not None:
        twin.yaxis.set_major_formatter(lambda v, _: f"{v:.1f} dB")
        h2, n2 = twin.get_legend_handles_labels()
        handles, names = handles + h2, names + n2
    if handles:
        ax.legend(handles, names, fontsize=7, loc="best", ncol=2, framealpha=0.7)
    return drawn


def draw_stat(ax: Axes, panel: dict[str, Any], prom: Prometheus, window: Window) -> int:
    unit, decimals = _unit(panel)
    lines = []
    for _, labels, values in _series(prom, panel, window, instant=False):
        last = next((v for _, v in reversed(values) if math.isfinite(v)), float("nan"))
        lines.append((fmt_value(last, unit, decimals), _label(labels)))
    ax.axis("off")
    for i, (text, name) in enumerate(lines[:3]):
        y = 0.55 - i * 0.38 if len(lines) > 1 else 0.45
        ax.text(0.5, y, text, ha="center", va="center", fontsize=18 if len(lines) == 1 else 13,
                weight="bold", color="#1f77b4", transform=ax.transAxes)
        ax.text(0.5, y - 0.2, name, ha="center", va="center", fontsize=7, color="#555",
                transform=ax.transAxes)
    return len(lines)


def draw_bargauge(ax: Axes, panel: dict[str, Any], prom: Prometheus, window: Window) -> int:
    unit, decimals = _unit(panel)
    rows = [(_label(labels), v) for _, labels, v in _series(prom, panel, window, instant=True)
            if math.isfinite(v)]
    names, values = [r[0] for r in rows], [r[1] for r in rows]
    ax.barh(range(len(rows)), values, color="#2ca02c")
    ax.set_yticks(range(len(rows)), names, fontsize=7)
    ax.invert_yaxis()
    if decimals == 0:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_formatter(lambda v, _: fmt_value(v, unit, decimals))
    for i, v in enumerate(values):
        ax.text(v, i, " " + fmt_value(v, unit, decimals), va="center", fontsize=7)
    return len(rows)


def draw_xychart(ax: Axes, panel: dict[str, Any], prom: Prometheus, window: Window) -> int:
    found = {ref: dict(values) for ref, _, values in _series(prom, panel, window, instant=False)}
    xs, ys = found.get("A", {}), found.get("B", {})
    pairs = sorted({(xs[t], ys[t]) for t in xs.keys() & ys.keys()})
    ax.scatter([p[0] / 1000 for p in pairs], [p[1] for p in pairs], s=28, color="#d62728")
    ax.set_xlabel("mean bitrate (kb/s)", fontsize=8)
    ax.set_ylabel("mean PSNR-YUV (dB)", fontsize=8)
    return len(pairs)


def draw_table(ax: Axes, panel: dict[str, Any], prom: Prometheus, window: Window) -> int:
    unit, _ = _unit(panel)
    rows = [[labels.get("experiment", ""), fmt_value(v, unit)]
            for ref, labels, v in _series(prom, panel, window, instant=True) if ref == "A"]
    ax.axis("off")
    no_value = panel.get("fieldConfig", {}).get("defaults", {}).get("noValue")
    if not rows and no_value:
        ax.text(0.5, 0.5, no_value, ha="center", va="center", fontsize=9, color="#555",
                transform=ax.transAxes)
        return 1
    if not rows:
        return 0
    table = ax.table(cellText=rows[:8], colLabels=["Experiment", "Waiting since"], loc="upper center",
                     cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    return len(rows)


DRAW = {"timeseries": draw_timeseries, "stat": draw_stat, "bargauge": draw_bargauge,
        "xychart": draw_xychart, "table": draw_table}


def render_board(board: dict[str, Any], prom: Prometheus, window: Window, out: Path,
                 subtitle: str = "") -> Path:
    """Draw every panel of `board` at its grid position into the PNG `out`."""
    panels = list(dashboards.panels(board))
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    height = rows * ROW_INCHES + 0.6
    fig = plt.figure(figsize=(WIDTH_INCHES, height), dpi=DPI)
    fig.suptitle(f"{board['title']}  {subtitle}", x=0.01, ha="left", fontsize=13, weight="bold")
    top = 1 - 0.6 / height
    for panel in panels:
        g = panel["gridPos"]
        left, width = g["x"] / 24 + 0.006, g["w"] / 24 - 0.012
        bottom = top - (g["y"] + g["h"]) * ROW_INCHES / height + 0.35 / height
        pad = 0.04 if panel["type"] in ("bargauge", "timeseries", "xychart") else 0.02
        ax = fig.add_axes((left + pad, bottom, width - pad - 0.01,
                           g["h"] * ROW_INCHES / height - 0.62 / height))
        ax.set_title(panel["title"], fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
        if not DRAW[panel["type"]](ax, panel, prom, window):
            ax.cla()
            ax.axis("off")
            ax.set_title(panel["title"], fontsize=9, loc="left")
            ax.text(0.5, 0.5, "No data", ha="center", va="center", fontsize=10, color="#999",
                    transform=ax.transAxes)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out
