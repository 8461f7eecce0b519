"""Map the phase machine's state to and from an Experiment's `status` (CR-shaped dict).

Both drivers persist state only through these two functions, so a restarted operator or a
resumed local run reads back exactly what the machine last decided.
"""

from __future__ import annotations

from typing import Any

from aivc.research.phases import Attempts, ExperimentState, Failure, Phase, Verdict


def state_to_status(state: ExperimentState) -> dict[str, Any]:
    """The status fields the phase machine owns (drivers add metrics, timestamps, etc.)."""
    err = state.last_error
    return {
        "phase": state.phase.value,
        "attempts": {"design": state.attempts.design, "validation": state.attempts.validation,
                     "execution": state.attempts.execution},
        "lastError": None if err is None else {"stage": err.stage, "category": err.category,
                                               "message": err.message},
        "verdict": None if state.verdict is None else state.verdict.value,
        "humanReason": state.human_reason,
        "humanNote": state.human_note,
        "hasResults": state.has_results,
        "version": state.version,
    }


def state_from_status(status: dict[str, Any] | None) -> ExperimentState:
    status = status or {}
    att = status.get("attempts") or {}
    err = status.get("lastError")
    verdict = status.get("verdict")
    return ExperimentState(
        phase=Phase(status.get("phase") or Phase.PENDING.value),
        attempts=Attempts(int(att.get("design", 0)), int(att.get("validation", 0)),
                          int(att.get("execution", 0))),
        last_error=None if not err else Failure(err.get("stage", ""), err.get("category", ""),
                                                err.get("message", "")),
        verdict=None if not verdict else Verdict(verdict),
        human_reason=status.get("humanReason"),
        human_note=status.get("humanNote"),
        has_results=bool(status.get("hasResults", False)),
        version=status.get("version"),
    )
