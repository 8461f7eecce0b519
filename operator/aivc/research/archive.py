"""The archive of adopted versions a new candidate may start from, and the programs worth
showing beside the parent.

Starting every candidate from the latest version makes a search greedy: a slower but
better codec crowds out a fast one that a different idea could have built on. So parents
are the elites along rate, speed and complexity: the adopted versions no other version
beats on BD-rate, encode fps and program size (AST nodes) at once, within `GOOD_MARGIN`
points of the best. Without that margin the fast but poor baseline would stay a parent for
ever (an intra-only v0 is always the fastest and simplest). Which elite a design starts
from is drawn by `aivc.research.evolution`.

Beside the parent the model reads other programs with their code: the best (when it is not
the parent) and a diverse elite (`elite_programs`), and the most recent failures with their
reasons (`recent_failures`).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Sequence

from aivc.api.documents import ExperimentDoc, parse_version
from aivc.api.types import Phase, Verdict
from aivc.evaluate.results import EvaluationResult
from aivc.research.evidence import Program, rd_table
from aivc.research.planning import ParentCodec

MAX_PARENTS = 4
GOOD_MARGIN = 15.0
MAX_FAILURES_SHOWN = 2
MACHINE_FAILURES = frozenset({"infra", "llm", "auth", "unavailable"})
"""Failure categories of the platform, not of the candidate: never shown to the model."""


def adopted(experiments: Iterable[ExperimentDoc]) -> list[ExperimentDoc]:
    """Adopted experiments with a version number, in sequence order."""
    return sorted((e for e in experiments if e.status.adopted), key=lambda e: e.sequence)


def score_key(exp: ExperimentDoc) -> tuple[float, float, int]:
    """Sort key: score (unknown last), faster first, newer first."""
    m = exp.status.metrics
    bd = None if m is None else m.bd_rate
    fps = None if m is None else m.encode_fps
    return (math.inf if bd is None else bd, -(fps or 0.0), -int(exp.status.version or 0))


def complexity(source: str | None) -> int | None:
    """Program size in AST nodes (comments and formatting do not count); None if unparsable."""
    if source is None:
        return None
    try:
        return sum(1 for _ in ast.walk(ast.parse(source)))
    except (SyntaxError, ValueError):
        return None


def _beats(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def _dominated(exp: ExperimentDoc, others: list[ExperimentDoc],
               size: Callable[[ExperimentDoc], float] | None = None) -> bool:
    def point(e: ExperimentDoc) -> tuple[float, ...]:
        bd, fps, _ = score_key(e)
        return (bd, fps) if size is None else (bd, fps, size(e))

    mine = point(exp)
    return any(other is not exp and _beats(point(other), mine) for other in others)


def pareto_front(experiments: Iterable[ExperimentDoc]) -> list[ExperimentDoc]:
    """Adopted experiments no other adopted one beats on both score and encode speed."""
    chosen = adopted(experiments)
    return sorted((e for e in chosen if not _dominated(e, chosen)), key=score_key)


def best_experiment(experiments: Iterable[ExperimentDoc]) -> ExperimentDoc | None:
    """The adopted experiment with the lowest score (unknown scores count as worst)."""
    chosen = adopted(experiments)
    return min(chosen, key=score_key) if chosen else None


def to_parent(exp: ExperimentDoc, source: str, result: EvaluationResult | None = None) -> ParentCodec:
    m = exp.status.metrics
    return ParentCodec(version=int(exp.status.version or 0), source=source,
                       bd_rate=m.bd_rate if m else None, kbps=m.kbps if m else None,
                       psnr_yuv=m.psnr_yuv if m else None, encode_fps=m.encode_fps if m else None,
                       params=dict(exp.status.params) if exp.status.params is not None else None,
                       sequence=exp.sequence, hypothesis=exp.spec.hypothesis or "",
                       parent_version=parse_version(exp.spec.parent_version),
                       complexity=complexity(source), metrics=m,
                       rd=rd_table(result.levels) if result is not None else {})


def parents_from(experiments: Iterable[ExperimentDoc], load_source: Callable[[str], str | None],
                 limit: int = MAX_PARENTS,
                 load_results: Callable[[str], EvaluationResult | None] | None = None,
                 ) -> tuple[ParentCodec, ...]:
    """The elites: the best version first, then rate/speed/complexity trade-off points within
    `GOOD_MARGIN` of it (at most `limit`), each with its source and, given `load_results`,
    its rate points."""
    chosen = adopted(experiments)
    best = best_experiment(chosen)
    if best is None:
        return ()
    best_bd = score_key(best)[0]
    good = [e for e in chosen if e is best or score_key(e)[0] <= best_bd + GOOD_MARGIN]
    sources = {e.name: load_source(e.name) for e in good}
    sizes = {name: complexity(src) for name, src in sources.items()}

    def size(e: ExperimentDoc) -> float:
        found = sizes.get(e.name)
        return math.inf if found is None else float(found)

    elites = [best] + sorted((e for e in good if e is not best and not _dominated(e, good, size)),
                             key=score_key)
    parents: list[ParentCodec] = []
    for exp in elites:
        source = sources.get(exp.name)
        if source is not None and len(parents) < limit:
            result = load_results(exp.name) if load_results is not None else None
            parents.append(to_parent(exp, source, result))
    return tuple(parents)


# ---- the other programs shown beside the parent ------------------------------------------


def _failure(exp: ExperimentDoc) -> str | None:
    """Why an experiment failed or was rejected, in the model's terms; None if it did not or
    if only the platform was at fault."""
    status = exp.status
    if status.verdict is Verdict.REJECTED:
        reason = status.analysis.reason if status.analysis else status.cascade.stopped_early
        bd = status.metrics.bd_rate if status.metrics else None
        score = f" (score {bd:+.2f}%)" if bd is not None else ""
        return f"rejected{score}: {reason or 'not better than the best'}"
    err = status.last_error
    if status.phase is Phase.FAILED and err is not None and err.category not in MACHINE_FAILURES:
        return f"failed in {err.stage} ({err.category}): {err.message.strip()[:600]}"
    return None


def elite_programs(parents: Sequence[ParentCodec], parent_version: int | None) -> tuple[Program, ...]:
    """The best (unless it is the parent) and the elite most unlike the parent (the fastest,
    then the simplest, of the others), with their code."""
    out: list[Program] = []
    shown = {parent_version}
    if parents and parents[0].version not in shown:
        best = parents[0]
        out.append(Program("best", best.sequence or 0, best.version, best.hypothesis,
                           _adopted_line(best), best.source))
        shown.add(best.version)
    others = [p for p in parents if p.version not in shown]
    if others:
        diverse = max(others, key=lambda p: (p.encode_fps or 0.0, -(p.complexity or 0)))
        out.append(Program("diverse", diverse.sequence or 0, diverse.version, diverse.hypothesis,
                           _adopted_line(diverse), diverse.source))
    return tuple(out)


def recent_failures(experiments: Sequence[ExperimentDoc], load_source: Callable[[str], str | None],
                    limit: int = MAX_FAILURES_SHOWN) -> tuple[Program, ...]:
    """The `limit` most recent experiments that failed through the candidate's fault or were
    rejected, with their code and reason (platform failures are never shown)."""
    out: list[Program] = []
    for exp in sorted((e for e in experiments if e.status.finished), key=lambda e: -e.sequence):
        if len(out) >= limit:
            break
        why = _failure(exp)
        source = load_source(exp.name) if why else None
        if why and source:
            role = "rejected" if exp.status.verdict is Verdict.REJECTED else "failed"
            out.append(Program(role, exp.sequence, None, exp.spec.hypothesis or "", why, source))
    return tuple(out)


def _adopted_line(p: ParentCodec) -> str:
    bd = f"{p.bd_rate:+.2f}%" if p.bd_rate is not None else "n/a"
    fps = f", encodes {p.encode_fps:.1f} fps" if p.encode_fps else ""
    return f"adopted as v{p.version}, score {bd}{fps}"
