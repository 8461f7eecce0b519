"""The campaign's versions as a tree: which version each one was built on, what it changed
and what it scored — as markdown for the report and as a PNG.

Parents are drawn from the archive's elites (`aivc.research.evolution`), so versions form a
tree, not a line; the tree shows which branches paid off. Candidates that were not adopted
are drawn as grey dots off the version they started from, so a reader sees where effort
went and where it failed. With the hybrid planner, a version the LLM wrote (a structure
change) and one a search found by tuning a program's declared parameters (a refinement)
are told apart: in the markdown by their label, in the PNG by the edge (solid green for the
LLM, dashed orange for the search). Built from the Experiment documents alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aivc.api.documents import ExperimentDoc, parse_version
from aivc.research.display import one_line

TICKS = (-80, -50, -20, -10, 0, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


@dataclass(frozen=True)
class Node:
    version: int
    sequence: int
    parent: int | None
    bd_rate: float | None
    hypothesis: str
    made_by: str = ""
    """llm, search, base, or "" when not recorded."""
    family: int | None = None
    model: str | None = None


@dataclass(frozen=True)
class Attempt:
    """A candidate that was not adopted, and the version it started from."""

    sequence: int
    parent: int
    bd_rate: float | None
    made_by: str = ""
    family: int | None = None
    """For a search refinement: the experiment whose program it tunes."""


def versions(experiments: Sequence[ExperimentDoc]) -> list[Node]:
    """Every adopted version, in version order, with the version it was built on."""
    nodes = [Node(int(e.status.version or 0), e.sequence, parse_version(e.spec.parent_version),
                  e.status.metrics.bd_rate if e.status.metrics else None, e.spec.hypothesis or "",
                  e.status.origin.planner if e.status.origin else "",
                  e.status.origin.family if e.status.origin else None,
                  e.status.origin.model if e.status.origin else None)
             for e in experiments if e.status.adopted]
    return sorted(nodes, key=lambda n: n.version)


def attempts(experiments: Sequence[ExperimentDoc]) -> list[Attempt]:
    """Finished candidates that were not adopted and named their parent."""
    out = []
    for e in experiments:
        parent = parse_version(e.spec.parent_version)
        if e.status.finished and not e.status.adopted and parent is not None:
            out.append(Attempt(e.sequence, parent, e.status.metrics.bd_rate if e.status.metrics else None,
                               e.status.origin.planner if e.status.origin else "",
                               e.status.origin.family if e.status.origin else None))
    return out


def _children(nodes: Sequence[Node]) -> dict[int | None, list[Node]]:
    known = {n.version for n in nodes}
    out: dict[int | None, list[Node]] = {}
    for n in nodes:
        out.setdefault(n.parent if n.parent in known else None, []).append(n)
    return out


def _kind(node: Node) -> str:
    """How a version came about, when the campaign recorded it."""
    if node.made_by == "search":
        return f" [search refinement of program #{node.family}]"
    if node.made_by == "llm":
        return f" [LLM structure change{f', {node.model}' if node.model else ''}]"
    return ""


def _score(bd: float | None) -> str:
    return "n/a" if bd is None else f"{bd:+.2f}%"


def markdown(experiments: Sequence[ExperimentDoc]) -> list[str]:
    """A nested list: each version under the one it was built on, with its score, the change
    against its parent, how many candidates were tried from it, and its hypothesis."""
    nodes = versions(experiments)
    if not nodes:
        return ["No version was adopted."]
    kids = _children(nodes)
    by_version = {n.version: n for n in nodes}
    tried: dict[int, int] = {}
    searched: dict[int, int] = {}
    for a in attempts(experiments):
        tried[a.parent] = tried.get(a.parent, 0) + 1
        if a.made_by == "search":
            searched[a.parent] = searched.get(a.parent, 0) + 1
    lines: list[str] = []

    def walk(node: Node, depth: int) -> None:
        parent = by_version.get(node.parent) if node.parent is not None else None
        gain = ""
        if parent is not None and parent.bd_rate is not None and node.bd_rate is not None:
            gain = f" ({node.bd_rate - parent.bd_rate:+.2f} points vs v{parent.version})"
        n = tried.get(node.version, 0)
        others = f"; {n} other candidate{'s' if n > 1 else ''} from it not adopted" if n else ""
        if searched.get(node.version):
            k = searched[node.version]
            others += f" ({n - k} LLM structure change{'s' if n - k != 1 else ''}, {k} search refinement{'s' if k != 1 else ''})"
        lines.append(f"{'  ' * depth}- **v{node.version}** (#{node.sequence}) {_score(node.bd_rate)}"
                     f"{gain}{others}{_kind(node)}: {one_line(node.hypothesis, 120)}")
        for child in kids.get(node.version, []):
            walk(child, depth + 1)

    for root in kids.get(None, []):
        walk(root, 0)
    return lines


def plot(path: Path, experiments: Sequence[ExperimentDoc], anchor: str) -> Path | None:
    """The tree over time: x the experiment, y its score; edges from parent to child."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    nodes = [n for n in versions(experiments) if n.bd_rate is not None]
    if not nodes:
        return None
    at = {n.version: n for n in nodes}
    fig = Figure(figsize=(8.0, 4.8), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    scored = {e.sequence: e.status.metrics.bd_rate for e in experiments
              if e.status.metrics is not None and e.status.metrics.bd_rate is not None}
    for a in attempts(experiments):
        p = at.get(a.parent)
        if p is not None and a.bd_rate is not None and p.bd_rate is not None:
            search = a.made_by == "search"
            # a refinement hangs off the program it tunes, when that program was scored
            start = (a.family, scored[a.family]) if search and a.family in scored \
                else (p.sequence, p.bd_rate)
            ax.plot([start[0], a.sequence], [start[1], a.bd_rate], color="0.85", linewidth=0.6,
                    linestyle="--" if search else "-", zorder=1)
            label = "search refinement, not adopted" if search else "not adopted"
            shown = ax.get_legend_handles_labels()[1]
            ax.scatter([a.sequence], [a.bd_rate], color="tab:orange" if search else "0.7",
                       marker="x" if search else "o", s=14 if search else 10, alpha=0.7, zorder=2,
                       label=label if label not in shown else None)
    for n in nodes:
        p = at.get(n.parent) if n.parent is not None else None
        if p is not None and p.bd_rate is not None and n.bd_rate is not None:
            search = n.made_by == "search"
            ax.annotate("", xy=(n.sequence, n.bd_rate), xytext=(p.sequence, p.bd_rate),
                        arrowprops={"arrowstyle": "->", "lw": 1.2,
                                    "color": "tab:orange" if search else "tab:green",
                                    "linestyle": "--" if search else "-"}, zorder=3)
    if any(n.made_by == "search" for n in nodes):
        ax.plot([], [], color="tab:green", label="LLM structure change")
        ax.plot([], [], color="tab:orange", linestyle="--", label="search refinement")
    ax.scatter([n.sequence for n in nodes], [n.bd_rate or 0.0 for n in nodes], color="tab:green", s=30,
               zorder=4, label="adopted version")
    for n in nodes:
        ax.annotate(f"v{n.version}: {one_line(n.hypothesis, 32)}", (n.sequence, n.bd_rate or 0.0),
                    textcoords="offset points", xytext=(5, 4), fontsize=7)
    scores = [n.bd_rate or 0.0 for n in nodes]
    if max(scores) - min(scores) > 100:  # a poor baseline would flatten the rest
        ax.set_yscale("symlog", linthresh=10)
        lo, hi = min(scores), max(scores)
        ax.set_yticks([t for t in TICKS if lo - abs(lo) * 0.3 - 5 <= t <= hi * 1.3 + 5])
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+.0f}"))
    ax.set_xlabel("experiment")
    ax.set_ylabel(f"BD-rate (PSNR-YUV) vs {anchor} (%), lower is better")
    ax.set_title("Lineage: each version drawn from the version it was built on")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig).print_png(str(path))
    return path
