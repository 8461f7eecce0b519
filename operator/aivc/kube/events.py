"""Kubernetes Events and status conditions: how the operator tells people what happened.

Every phase change posts an Event on the Experiment (`kubectl describe experiment` and
`kubectl get events` show them): Normal for progress, Warning for failures and for anything
a person must act on. Conditions are the lasting version, one per type (Kubernetes style),
each with a CamelCase reason and a message that says why.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from aivc.research.phases import ExperimentState, Phase
from aivc.store.base import now_iso

log = logging.getLogger("aivc.operator")
WARNING_PHASES = (Phase.NEEDS_HUMAN, Phase.FAILED)


def post(obj: dict[str, Any], reason: str, message: str, *, warning: bool = False) -> None:
    """Queue an Event for `obj` (kopf posts it in the background; failures are only logged)."""
    ref: Any = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
           "metadata": {k: obj["metadata"].get(k) for k in ("name", "namespace", "uid")}}
    try:
        kopf.event(kopf.Body(ref), type="Warning" if warning else "Normal", reason=reason,
                   message=message[:1000])
    except LookupError:  # outside a running operator (unit tests): log only
        log.info("event %s/%s %s: %s", obj["metadata"].get("name"), reason, message)


def phase_message(old: ExperimentState, new: ExperimentState, detail: str | None,
                  name: str = "NAME") -> str:
    """One line for the phase-change Event: from where to where, and why."""
    why = detail or ""
    if new.phase is Phase.NEEDS_HUMAN:
        why = f"{new.human_reason}; decide with kubectl annotate experiment {name} " \
              "aivc.dev/decision=retry|skip|adopt|reject"
    elif new.phase is Phase.DESIGNING and new.last_error is not None and old.phase is not Phase.PENDING:
        err = new.last_error
        why = f"{err.stage} failed ({err.category}): {err.message[:300]}; asking for a repair"
    elif new.phase is Phase.SUCCEEDED and new.verdict is not None:
        version = f" as v{new.version}" if new.version is not None else ""
        why = f"{new.verdict.value}{version}" + (f": {detail}" if detail else "")
    text = f"{old.phase.value} -> {new.phase.value}"
    return f"{text}: {why}" if why else text


def condition(kind: str, ok: bool | None, reason: str, message: str) -> dict[str, Any]:
    status = "Unknown" if ok is None else "True" if ok else "False"
    return {"type": kind, "status": status, "reason": reason, "message": message[:1000],
            "lastTransitionTime": now_iso()}


def set_conditions(current: list[dict[str, Any]] | None,
                   *updates: dict[str, Any]) -> list[dict[str, Any]]:
    """Replace conditions by type, keeping the transition time when the status is unchanged."""
    out = {c.get("type"): c for c in current or []}
    for cond in updates:
        old = out.get(cond["type"])
        if old is not None and old.get("status") == cond["status"]:
            cond = {**cond, "lastTransitionTime": old.get("lastTransitionTime", cond["lastTransitionTime"])}
        out[cond["type"]] = cond
    return list(out.values())


def transition_conditions(old: ExperimentState, new: ExperimentState,
                          detail: str | None) -> list[dict[str, Any]]:
    """The conditions a phase change settles (see `phase_message` for the Event text)."""
    err = new.last_error
    failed = err is not None and new.attempts != old.attempts
    conds: list[dict[str, Any]] = []
    stage_of = {"design": "Designed", "validation": "Validated", "execution": "Executed"}
    if failed and err is not None:
        conds.append(condition(stage_of.get(err.stage, "Analyzed"), False,
                               _camel(err.category) or "Failed", err.message))
    if old.phase is Phase.DESIGNING and new.phase is Phase.VALIDATING:
        conds.append(condition("Designed", True, "CandidateReady", detail or "the planner proposed a candidate"))
    if old.phase is Phase.VALIDATING and new.phase is Phase.EXECUTING:
        conds.append(condition("Validated", True, "ValidationPassed", "the candidate runs and meets the contract"))
    if old.phase is Phase.EXECUTING and new.phase is Phase.ANALYZING:
        conds.append(condition("Executed", True, "Measured", "every clip and level was measured"))
    if old.phase is Phase.ANALYZING and new.phase is not Phase.ANALYZING:
        verdict = "Adopted" if new.verdict and new.verdict.value == "Adopted" else (
            "Suspicious" if new.phase is Phase.NEEDS_HUMAN else "Rejected")
        conds.append(condition("Analyzed", True, verdict, detail or verdict))
    if new.phase is Phase.NEEDS_HUMAN:
        conds.append(condition("NeedsHuman", True, "WaitingForDecision", new.human_reason or ""))
    elif old.phase is Phase.NEEDS_HUMAN:
        conds.append(condition("NeedsHuman", False, "Decided", detail or "a person decided"))
    return conds


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in text.replace("-", "_").split("_") if part)
