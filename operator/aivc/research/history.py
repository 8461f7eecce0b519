"""A campaign's history as planners see it, read from its Experiment documents (pure).

Planners keep no state of their own (`aivc.research.planning`): everything they learn is
rebuilt from these `Outcome`s, so the documents are the only memory that must survive a
restart.
"""

from __future__ import annotations

from collections.abc import Iterable

from aivc.api.documents import ExperimentDoc, parse_version
from aivc.api.types import Phase
from aivc.research.planning import Outcome


def outcome_of(exp: ExperimentDoc) -> Outcome | None:
    """What a finished experiment taught (None while it is still in flight)."""
    status = exp.status
    if not status.finished:
        return None
    metrics = status.metrics
    failed = status.phase is Phase.FAILED or metrics is None
    return Outcome(
        sequence=exp.sequence, hypothesis=exp.spec.hypothesis or "",
        verdict=status.verdict.value if status.verdict else Phase.FAILED.value,
        parent_version=parse_version(exp.spec.parent_version),
        params=dict(status.params) if status.params is not None else None,
        bd_rate=metrics.bd_rate if metrics else None,
        bd_rate_vs_best=metrics.bd_rate_vs_best if metrics else None,
        metrics=metrics, error=status.last_error if failed else None, lesson=status.lesson,
        reason=status.cascade.stopped_early or (status.analysis.reason if status.analysis else None),
        origin=status.origin, cost_usd=status.cost_usd,
    )


def outcomes(experiments: Iterable[ExperimentDoc]) -> list[Outcome]:
    """Outcomes of the finished experiments in sequence order."""
    found = [outcome_of(e) for e in sorted(experiments, key=lambda e: e.sequence)]
    return [o for o in found if o is not None]


def next_version(experiments: Iterable[ExperimentDoc]) -> int:
    """The number the next adopted version gets: 0 for the first, then one more than the last."""
    numbers = [e.status.version for e in experiments if e.status.adopted]
    return max(n for n in numbers if n is not None) + 1 if numbers else 0


def spent_usd(experiments: Iterable[ExperimentDoc]) -> float:
    """LLM spend over all experiments (each keeps its own `status.costUSD`)."""
    return float(sum(e.status.cost_usd for e in experiments))
