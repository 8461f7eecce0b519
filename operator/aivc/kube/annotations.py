"""People's decisions on a stuck Experiment, read from its annotations (pure).

`kubectl annotate experiment NAME aivc.dev/decision=retry|skip|adopt|reject
[aivc.dev/note="..."]` is how a person moves an Experiment out of NeedsHuman. The operator
applies a decision once: it records it in `status.decisions` (with who and when), then
removes both annotations. Who: Kubernetes does not tell an operator which user changed an
object (that is the audit log's job); the best it has is the field manager in
`metadata.managedFields` that last wrote the annotation — `kubectl-annotate` for the command
above, or whatever `--field-manager` a tool sets. When: that entry's time, else now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aivc.research.phases import Decision
from aivc.store.base import DECISION_ANNOTATION, NOTE_ANNOTATION

CHOICES = tuple(d.value for d in Decision)


@dataclass(frozen=True)
class DecisionRequest:
    decision: Decision
    note: str | None
    by: str | None
    at: str | None

    def record(self, applied_at: str) -> dict[str, Any]:
        """The entry kept in `status.decisions`."""
        return {"decision": self.decision.value, "note": self.note, "by": self.by or "unknown",
                "at": self.at or applied_at, "appliedAt": applied_at}


@dataclass(frozen=True)
class InvalidDecision:
    value: str
    by: str | None

    @property
    def message(self) -> str:
        return (f"{DECISION_ANNOTATION}={self.value!r} is not a decision; use one of "
                f"{', '.join(CHOICES)} (kubectl annotate experiment NAME "
                f"{DECISION_ANNOTATION}=retry --overwrite)")


def _writer(meta: dict[str, Any]) -> tuple[str | None, str | None]:
    """Field manager and time of the last write of the decision annotation, if recorded."""
    key = f"f:{DECISION_ANNOTATION}"
    found: tuple[str | None, str | None] = (None, None)
    for entry in meta.get("managedFields") or []:
        fields = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:annotations") or {}
        if key in fields:
            found = (entry.get("manager"), entry.get("time"))
    return found


def read_decision(meta: dict[str, Any]) -> DecisionRequest | InvalidDecision | None:
    """The decision a person left on an object's metadata, if any."""
    notes = meta.get("annotations") or {}
    raw = notes.get(DECISION_ANNOTATION)
    if raw is None:
        return None
    by, at = _writer(meta)
    word = str(raw).strip().lower()
    if word not in CHOICES:
        return InvalidDecision(str(raw), by)
    note = notes.get(NOTE_ANNOTATION)
    return DecisionRequest(Decision(word), str(note) if note else None, by, at)


def clearing_patch() -> dict[str, Any]:
    """Merge patch removing both annotations (the decision has been handled)."""
    return {"metadata": {"annotations": {DECISION_ANNOTATION: None, NOTE_ANNOTATION: None}}}
