"""Read a campaign's history out of its Experiment documents (pure, shared by both drivers).

Planners keep no state of their own (`aivc.research.planner`): everything they learn is
rebuilt from these `Outcome`s, so the documents are the only memory that must survive a
restart.
"""

from __future__ import annotations

import math
from typing import Any

from aivc.research.phases import Phase, Verdict
from aivc.research.planner import Outcome
from aivc.research.status import state_from_status


def status_of(exp: dict[str, Any]) -> dict[str, Any]:
    return exp.get("status") or {}


def sequence_of(exp: dict[str, Any]) -> int:
    return int((exp.get("spec") or {}).get("sequence", 0))


def version_name(version: int | None) -> str | None:
    return None if version is None else f"v{version}"


def parse_version(name: str | None) -> int | None:
    """`"v3"` → 3; None for empty or malformed names."""
    if not name or not name.startswith("v") or not name[1:].isdigit():
        return None
    return int(name[1:])


def is_finished(exp: dict[str, Any]) -> bool:
    return status_of(exp).get("phase") in (Phase.SUCCEEDED, Phase.FAILED)


def outcome_of(exp: dict[str, Any]) -> Outcome | None:
    """What a finished experiment taught (None while it is still in flight)."""
    if not is_finished(exp):
        return None
    status, spec = status_of(exp), exp.get("spec") or {}
    state = state_from_status(status)
    metrics = dict(status.get("metrics") or {})
    verdict = state.verdict.value if state.verdict else "Failed"
    failed = state.phase == Phase.FAILED or not metrics
    return Outcome(
        sequence=sequence_of(exp), hypothesis=str(spec.get("hypothesis") or ""),
        verdict=verdict, parent_version=parse_version(spec.get("parentVersion")),
        params=status.get("params"), bd_rate=number(metrics.get("bdRate")),
        bd_rate_vs_best=number(metrics.get("bdRateVsBest")), metrics=metrics,
        error=state.last_error if failed else None, lesson=status.get("lesson"),
    )


def outcomes(experiments: list[dict[str, Any]]) -> list[Outcome]:
    """Outcomes of the finished experiments in sequence order."""
    found = [outcome_of(e) for e in sorted(experiments, key=sequence_of)]
    return [o for o in found if o is not None]


def next_version(experiments: list[dict[str, Any]]) -> int:
    """The number the next adopted version gets: 0 for the first, then one more than the last."""
    versions = [status_of(e).get("version") for e in experiments
                if status_of(e).get("verdict") == Verdict.ADOPTED]
    numbers = [v for v in versions if isinstance(v, int)]
    return max(numbers) + 1 if numbers else 0


def spent_usd(experiments: list[dict[str, Any]]) -> float:
    """LLM spend over all experiments (each keeps its own `status.costUSD`)."""
    return float(sum(number(status_of(e).get("costUSD")) or 0.0 for e in experiments))


def number(value: Any) -> float | None:
    """A finite number from a document field, else None (documents may hold anything)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
