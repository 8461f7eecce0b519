"""What every document shares: metadata, conditions, people's decision annotations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aivc.api import API_VERSION
from aivc.api.fields import Json, integer, mapping, text
from aivc.api.types import DECISION_ANNOTATION, NOTE_ANNOTATION, ConditionStatus, Decision


@dataclass(frozen=True)
class Condition:
    """One Kubernetes-style condition: one per type, with a reason and a message."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""
    last_transition_time: str | None = None

    @classmethod
    def parse(cls, doc: Any) -> Condition:
        d = mapping(doc)
        raw = str(d.get("status") or "Unknown")
        status = ConditionStatus(raw) if raw in ConditionStatus.__members__.values() \
            else ConditionStatus.UNKNOWN
        return cls(str(d.get("type") or ""), status, str(d.get("reason") or ""),
                   str(d.get("message") or ""), text(d.get("lastTransitionTime")))

    def to_json(self) -> Json:
        out: Json = {"type": str(self.type), "status": self.status.value,
                     "reason": str(self.reason), "message": self.message[:1000]}
        if self.last_transition_time:
            out["lastTransitionTime"] = self.last_transition_time
        return out


def condition(kind: str, ok: bool | None, reason: str, message: str) -> Condition:
    status = ConditionStatus.UNKNOWN if ok is None else \
        ConditionStatus.TRUE if ok else ConditionStatus.FALSE
    return Condition(str(kind), status, str(reason), message[:1000])


def set_conditions(current: tuple[Condition, ...], updates: tuple[Condition, ...] | list[Condition],
                   now: str) -> tuple[Condition, ...]:
    """Replace conditions by type. The transition time changes only when the status does
    (the Kubernetes convention): a condition re-asserted with a new message keeps it."""
    out = {c.type: c for c in current}
    for cond in updates:
        old = out.get(cond.type)
        keep = old is not None and old.status == cond.status and old.last_transition_time
        out[cond.type] = replace(cond, last_transition_time=old.last_transition_time if keep
                                 and old is not None else now)
    return tuple(out.values())


def find_condition(conditions: tuple[Condition, ...], kind: str) -> Condition | None:
    return next((c for c in conditions if c.type == kind), None)


@dataclass(frozen=True)
class Meta:
    """What the code needs of `metadata`."""

    name: str
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    creation_timestamp: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    owner_uids: tuple[str, ...] = ()
    decision_by: str | None = None
    """The field manager that last wrote the decision annotation (`kubectl-annotate`,
    `aivc-approve`): Kubernetes does not tell an operator which user changed an object, the
    audit log does; this is the best it has."""
    decision_at: str | None = None

    @classmethod
    def parse(cls, doc: Any) -> Meta:
        m = mapping(doc)
        owners = tuple(str(r.get("uid")) for r in m.get("ownerReferences") or []
                       if isinstance(r, Mapping) and r.get("uid"))
        by, at = _decision_writer(m)
        return cls(str(m.get("name") or ""), text(m.get("namespace")), text(m.get("uid")),
                   integer(m.get("generation")), text(m.get("resourceVersion")),
                   text(m.get("creationTimestamp")),
                   {str(k): str(v) for k, v in mapping(m.get("labels")).items()},
                   {str(k): str(v) for k, v in mapping(m.get("annotations")).items() if v is not None},
                   owners, by, at)

    @property
    def decision(self) -> str | None:
        """The raw `aivc.dev/decision` annotation a person left, if any."""
        return self.annotations.get(DECISION_ANNOTATION)

    @property
    def note(self) -> str | None:
        return self.annotations.get(NOTE_ANNOTATION) or None


def _decision_writer(meta: Json) -> tuple[str | None, str | None]:
    """Field manager and time of the last write of the decision annotation, if recorded."""
    key = f"f:{DECISION_ANNOTATION}"
    found: tuple[str | None, str | None] = (None, None)
    for entry in meta.get("managedFields") or []:
        e = mapping(entry)
        annotations = mapping(mapping(mapping(e.get("fieldsV1")).get("f:metadata")).get("f:annotations"))
        if key in annotations:
            found = (text(e.get("manager")), text(e.get("time")))
    return found


def object_reference(kind: str, meta: Meta, spec: Json | None = None) -> Json:
    ref: Json = {"apiVersion": API_VERSION, "kind": kind,
                 "metadata": {"name": meta.name, "namespace": meta.namespace, "uid": meta.uid}}
    if spec is not None:
        ref["spec"] = spec
    return ref


def clearing_annotations() -> Json:
    """Merge patch removing a handled decision and its note."""
    return {"metadata": {"annotations": {DECISION_ANNOTATION: None, NOTE_ANNOTATION: None}}}


def decision_annotations(decision: Decision, note: str | None, *, manager: str,
                         at: str) -> Json:
    """Merge patch leaving a decision as `aivc approve` does, with the managed-fields entry an
    API server would record for the writer (so both drivers learn who decided the same way)."""
    entry = {"manager": manager, "operation": "Update", "time": at,
             "fieldsV1": {"f:metadata": {"f:annotations": {f"f:{DECISION_ANNOTATION}": {}}}}}
    return {"metadata": {"annotations": {DECISION_ANNOTATION: decision.value,
                                         NOTE_ANNOTATION: note or None},
                         "managedFields": [entry]}}
