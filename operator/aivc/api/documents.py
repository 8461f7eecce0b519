"""Experiment and Campaign documents, parsed once into typed objects and written back.

Documents are stored CR-shaped (`apiVersion`, `kind`, `metadata`, `spec`, `status`) by both
stores; this module is the only place that knows their keys. `ExperimentDoc.parse(doc)`
reads one, the code above works with the frozen dataclasses, and `status_patch(old, new)`
turns a changed status back into the JSON merge patch a store applies. Keys the schema
preserves but this module does not know (`x-kubernetes-preserve-unknown-fields`) are kept
in `extra` and written back untouched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from aivc.api import API_VERSION
from aivc.api.spec import CampaignSpec
from aivc.api.types import (
    CAMPAIGN_LABEL,
    DECISION_ANNOTATION,
    NOTE_ANNOTATION,
    TERMINAL_PHASES,
    CampaignPhase,
    ConditionStatus,
    Decision,
    Phase,
    Verdict,
)

Json = dict[str, Any]


def number(value: Any) -> float | None:
    """A finite number from a document field, else None (documents may hold anything)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _int(value: Any, default: int | None = None) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _obj(value: Any) -> Json:
    return dict(value) if isinstance(value, Mapping) else {}


def _compact(doc: Json) -> Json | None:
    """Drop unset fields; None when nothing is left (the field is then absent)."""
    kept = {k: v for k, v in doc.items() if v is not None and v != {} and v != []}
    return kept or None


# ---- shared pieces ---------------------------------------------------------------------------


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
        d = _obj(doc)
        raw = str(d.get("status") or "Unknown")
        status = ConditionStatus(raw) if raw in ConditionStatus.__members__.values() \
            else ConditionStatus.UNKNOWN
        return cls(str(d.get("type") or ""), status, str(d.get("reason") or ""),
                   str(d.get("message") or ""), _str(d.get("lastTransitionTime")))

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
        m = _obj(doc)
        owners = tuple(str(r.get("uid")) for r in m.get("ownerReferences") or []
                       if isinstance(r, Mapping) and r.get("uid"))
        by, at = _decision_writer(m)
        return cls(str(m.get("name") or ""), _str(m.get("namespace")), _str(m.get("uid")),
                   _int(m.get("generation")), _str(m.get("resourceVersion")),
                   _str(m.get("creationTimestamp")),
                   {str(k): str(v) for k, v in _obj(m.get("labels")).items()},
                   {str(k): str(v) for k, v in _obj(m.get("annotations")).items() if v is not None},
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
        e = _obj(entry)
        annotations = _obj(_obj(_obj(e.get("fieldsV1")).get("f:metadata")).get("f:annotations"))
        if key in annotations:
            found = (_str(e.get("manager")), _str(e.get("time")))
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


# ---- Experiment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """The last thing that went wrong, short enough to hand to the planner."""

    stage: str
    category: str
    message: str

    @classmethod
    def parse(cls, doc: Any) -> Failure | None:
        d = _obj(doc)
        if not d:
            return None
        return cls(str(d.get("stage") or ""), str(d.get("category") or ""), str(d.get("message") or ""))

    def to_json(self) -> Json:
        return {"stage": self.stage, "category": self.category, "message": self.message}


@dataclass(frozen=True)
class Attempts:
    """Failed attempts per stage since the last person's decision."""

    design: int = 0
    validation: int = 0
    execution: int = 0

    def bump(self, stage: str) -> Attempts:
        return replace(self, **{stage: getattr(self, stage) + 1})

    def of(self, stage: str) -> int:
        return int(getattr(self, stage))


@dataclass(frozen=True)
class CodecRef:
    sha256: str | None = None
    config_map: str | None = None
    key: str = "codec.py"


@dataclass(frozen=True)
class ExperimentSpec:
    campaign: str
    sequence: int
    parent_version: str | None = None
    hypothesis: str | None = None
    rationale: str | None = None
    codec: CodecRef | None = None

    @classmethod
    def parse(cls, doc: Any) -> ExperimentSpec:
        s = _obj(doc)
        codec = None
        if isinstance(s.get("codec"), Mapping):
            c, ref = _obj(s["codec"]), _obj(_obj(s["codec"]).get("configMapRef"))
            codec = CodecRef(_str(c.get("sha256")), _str(ref.get("name")),
                             str(ref.get("key") or "codec.py"))
        return cls(str(s.get("campaign") or ""), _int(s.get("sequence"), 0) or 0,
                   _str(s.get("parentVersion")), _str(s.get("hypothesis")),
                   _str(s.get("rationale")), codec)

    def to_json(self) -> Json:
        out: Json = {"campaign": self.campaign, "sequence": self.sequence,
                     "parentVersion": self.parent_version, "hypothesis": self.hypothesis,
                     "rationale": self.rationale}
        if self.codec is not None:
            codec: Json = {"sha256": self.codec.sha256}
            if self.codec.config_map:
                codec["configMapRef"] = {"name": self.codec.config_map, "key": self.codec.key}
            out["codec"] = codec
        return out


@dataclass(frozen=True)
class ClipMetrics:
    """One clip's numbers in `status.metrics.perClip`."""

    bd_rate: Mapping[str, float] = field(default_factory=dict)
    """BD-rate in percent against each anchor encoder, and against the best (`BEST`)."""
    kbps: float | None = None
    psnr_y: float | None = None
    ssim_y: float | None = None
    held_out: bool = False
    not_scored: Mapping[str, str] = field(default_factory=dict)
    """Why a reference could not be scored on this clip."""


BEST = "best"
"""The reference name of BD-rates against the current best version."""


def bd_rate_key(reference: str) -> str:
    """`x264` → `bdRateX264`, `best` → `bdRateVsBest` (the CRD's spelling)."""
    if reference == BEST:
        return "bdRateVsBest"
    return "bdRate" + reference[:1].upper() + reference[1:]


def _bd_rates(doc: Json, references: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for ref in references:
        value = number(doc.get(bd_rate_key(ref)))
        if value is not None:
            out[ref] = value
    return out


def _references(doc: Json) -> tuple[str, ...]:
    """The references a metrics document holds BD-rates against."""
    refs = []
    for key in doc:
        if key == "bdRateVsBest":
            refs.append(BEST)
        elif key.startswith("bdRate") and len(key) > len("bdRate"):
            rest = key[len("bdRate"):]
            refs.append(rest[:1].lower() + rest[1:])
    return tuple(refs)


@dataclass(frozen=True)
class Metrics:
    """An Experiment's `status.metrics`: the headline numbers and each clip's."""

    bd_rate: float | None = None
    """The score: BD-rate in percent against the campaign's anchor, mean over the campaign clips."""
    bd_rates: Mapping[str, float] = field(default_factory=dict)
    """Mean BD-rate against each anchor encoder, and against the best (`BEST`)."""
    kbps: float | None = None
    psnr_y: float | None = None
    ssim_y: float | None = None
    encode_fps: float | None = None
    decode_fps: float | None = None
    per_clip: Mapping[str, ClipMetrics] = field(default_factory=dict)

    @property
    def bd_rate_vs_best(self) -> float | None:
        return self.bd_rates.get(BEST)

    @property
    def measured(self) -> bool:
        return self.kbps is not None and self.psnr_y is not None

    @classmethod
    def parse(cls, doc: Any) -> Metrics:
        m = _obj(doc)
        per_clip = {}
        for clip, row in _obj(m.get("perClip")).items():
            r = _obj(row)
            per_clip[str(clip)] = ClipMetrics(
                _bd_rates(r, _references(r)), number(r.get("kbps")), number(r.get("psnrY")),
                number(r.get("ssimY")), bool(r.get("heldOut", False)),
                {str(k): str(v) for k, v in _obj(r.get("notScored")).items()})
        return cls(number(m.get("bdRate")), _bd_rates(m, _references(m)), number(m.get("kbps")),
                   number(m.get("psnrY")), number(m.get("ssimY")), number(m.get("encodeFps")),
                   number(m.get("decodeFps")), per_clip)

    def to_json(self) -> Json | None:
        out: Json = {"bdRate": self.bd_rate}
        out.update({bd_rate_key(ref): v for ref, v in self.bd_rates.items() if ref != BEST})
        if BEST in self.bd_rates:
            out[bd_rate_key(BEST)] = self.bd_rates[BEST]
        out.update({"kbps": self.kbps, "psnrY": self.psnr_y, "ssimY": self.ssim_y,
                    "encodeFps": self.encode_fps, "decodeFps": self.decode_fps})
        per_clip = {}
        for clip, c in self.per_clip.items():
            row: Json = {bd_rate_key(ref): v for ref, v in c.bd_rate.items()}
            row.update({"kbps": c.kbps, "psnrY": c.psnr_y, "ssimY": c.ssim_y,
                        "notScored": dict(c.not_scored) or None, "heldOut": c.held_out or None})
            per_clip[clip] = _compact(row) or {}
        out["perClip"] = per_clip or None
        return _compact(out)


@dataclass(frozen=True)
class RunSummary:
    """How a sandbox stage went: `status.validation` / `status.execution`."""

    ok: bool
    wall_seconds: float | None = None

    @classmethod
    def parse(cls, doc: Any) -> RunSummary | None:
        d = _obj(doc)
        return None if not d else cls(bool(d.get("ok")), number(d.get("wallSeconds")))

    def to_json(self) -> Json:
        return {"ok": self.ok, "wallSeconds": self.wall_seconds}


@dataclass(frozen=True)
class AnalysisNote:
    reason: str
    suspicious: str | None = None


@dataclass(frozen=True)
class DecisionRecord:
    """The last decision a person made, as kept in `status.decision`."""

    decision: Decision
    note: str | None = None
    by: str | None = None
    at: str | None = None
    applied_at: str | None = None

    def to_json(self) -> Json:
        return {"decision": self.decision.value, "note": self.note, "by": self.by,
                "at": self.at, "appliedAt": self.applied_at}


@dataclass(frozen=True)
class CommitRecord:
    """Where an adopted version was committed."""

    sha: str
    tag: str
    branch: str
    repo: str


@dataclass(frozen=True)
class FailedDesign:
    """A design this experiment replaced after it failed (kept for the record)."""

    hypothesis: str | None
    sha256: str | None
    params: Mapping[str, Any] | None
    error: Failure | None


@dataclass(frozen=True)
class ExperimentStatus:
    """Everything both drivers write to an Experiment's status."""

    phase: Phase = Phase.PENDING
    attempts: Attempts = field(default_factory=Attempts)
    last_error: Failure | None = None
    verdict: Verdict | None = None
    version: int | None = None
    human_reason: str | None = None
    human_note: str | None = None
    has_results: bool = False
    start_time: str | None = None
    phase_since: str | None = None
    completion_time: str | None = None
    generation: int = 0
    """Candidates designed so far; sandbox Jobs are named after it."""
    params: Mapping[str, Any] | None = None
    cost_usd: float = 0.0
    jobs: Mapping[str, str] = field(default_factory=dict)
    validation: RunSummary | None = None
    execution: RunSummary | None = None
    results: Mapping[str, Any] | None = None
    """The sandbox's results document (the operator keeps it here; local mode on disk)."""
    results_source: str | None = None
    metrics: Metrics | None = None
    analysis: AnalysisNote | None = None
    decision: DecisionRecord | None = None
    commit: CommitRecord | None = None
    lesson: str | None = None
    conditions: tuple[Condition, ...] = ()
    failed_designs: tuple[FailedDesign, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def in_flight(self) -> bool:
        """Not finished and not waiting for a person."""
        return self.phase not in TERMINAL_PHASES and self.phase is not Phase.NEEDS_HUMAN

    @property
    def adopted(self) -> bool:
        return self.verdict is Verdict.ADOPTED and self.version is not None

    @property
    def version_name(self) -> str | None:
        return version_name(self.version)

    @property
    def owes_commit(self) -> bool:
        """Adopted, not committed yet, and no failed attempt already recorded."""
        failed = any(c.type == "Committed" and c.status is ConditionStatus.FALSE
                     for c in self.conditions)
        return self.adopted and self.commit is None and not failed


_STATUS_KEYS = {
    "phase": "phase", "attempts": "attempts", "last_error": "lastError", "verdict": "verdict",
    "version": "version", "human_reason": "humanReason", "human_note": "humanNote",
    "has_results": "hasResults", "start_time": "startTime", "phase_since": "phaseSince",
    "completion_time": "completionTime", "generation": "generation", "params": "params",
    "cost_usd": "costUSD", "jobs": "jobs", "validation": "validation", "execution": "execution",
    "results": "results", "results_source": "resultsSource", "metrics": "metrics",
    "analysis": "analysis", "decision": "decision", "commit": "commit", "lesson": "lesson",
    "conditions": "conditions", "failed_designs": "failedDesigns",
}
DERIVED_STATUS_KEYS = ("versionName",)


def version_name(version: int | None) -> str | None:
    return None if version is None else f"v{version}"


def parse_version(name: str | None) -> int | None:
    """`"v3"` → 3; None for empty or malformed names."""
    if not name or not name.startswith("v") or not name[1:].isdigit():
        return None
    return int(name[1:])


def parse_experiment_status(doc: Any) -> ExperimentStatus:
    s = _obj(doc)
    att = _obj(s.get("attempts"))
    verdict = s.get("verdict")
    analysis = _obj(s.get("analysis"))
    decision = _obj(s.get("decision"))
    commit = _obj(s.get("commit"))
    phase = str(s.get("phase") or Phase.PENDING.value)
    return ExperimentStatus(
        phase=Phase(phase),
        attempts=Attempts(_int(att.get("design"), 0) or 0, _int(att.get("validation"), 0) or 0,
                          _int(att.get("execution"), 0) or 0),
        last_error=Failure.parse(s.get("lastError")),
        verdict=Verdict(verdict) if verdict else None,
        version=_int(s.get("version")),
        human_reason=_str(s.get("humanReason")), human_note=_str(s.get("humanNote")),
        has_results=bool(s.get("hasResults", False)),
        start_time=_str(s.get("startTime")), phase_since=_str(s.get("phaseSince")),
        completion_time=_str(s.get("completionTime")),
        generation=_int(s.get("generation"), 0) or 0,
        params=dict(s["params"]) if isinstance(s.get("params"), Mapping) else None,
        cost_usd=number(s.get("costUSD")) or 0.0,
        jobs={str(k): str(v) for k, v in _obj(s.get("jobs")).items()},
        validation=RunSummary.parse(s.get("validation")),
        execution=RunSummary.parse(s.get("execution")),
        results=dict(s["results"]) if isinstance(s.get("results"), Mapping) else None,
        results_source=_str(s.get("resultsSource")),
        metrics=Metrics.parse(s["metrics"]) if isinstance(s.get("metrics"), Mapping) else None,
        analysis=AnalysisNote(str(analysis.get("reason") or ""), _str(analysis.get("suspicious")))
        if analysis else None,
        decision=DecisionRecord(Decision(decision["decision"]), _str(decision.get("note")),
                                _str(decision.get("by")), _str(decision.get("at")),
                                _str(decision.get("appliedAt")))
        if decision.get("decision") in Decision.__members__.values() else None,
        commit=CommitRecord(str(commit.get("sha") or ""), str(commit.get("tag") or ""),
                            str(commit.get("branch") or ""), str(commit.get("repo") or ""))
        if commit.get("sha") else None,
        lesson=_str(s.get("lesson")),
        conditions=tuple(Condition.parse(c) for c in s.get("conditions") or []),
        failed_designs=tuple(
            FailedDesign(_str(_obj(f).get("hypothesis")), _str(_obj(f).get("sha256")),
                         _obj(f).get("params") if isinstance(_obj(f).get("params"), Mapping) else None,
                         Failure.parse(_obj(f).get("error")))
            for f in s.get("failedDesigns") or []),
        extra={k: v for k, v in s.items() if k not in _STATUS_KEYS.values()
               and k not in DERIVED_STATUS_KEYS},
    )


def _failed_design_json(f: FailedDesign) -> Json:
    return {"hypothesis": f.hypothesis, "sha256": f.sha256,
            "params": dict(f.params) if f.params is not None else None,
            "error": f.error.to_json() if f.error else None}


_SERIALIZERS: dict[str, Any] = {
    "phase": lambda v: v.value,
    "verdict": lambda v: v.value,
    "attempts": lambda v: {"design": v.design, "validation": v.validation,
                           "execution": v.execution},
    "last_error": lambda v: v.to_json(),
    "validation": lambda v: v.to_json(),
    "execution": lambda v: v.to_json(),
    "decision": lambda v: v.to_json(),
    "metrics": lambda v: v.to_json(),
    "analysis": lambda v: {"reason": v.reason, "suspicious": v.suspicious},
    "commit": lambda v: {"sha": v.sha, "tag": v.tag, "branch": v.branch, "repo": v.repo},
    "conditions": lambda v: [c.to_json() for c in v] or None,
    "failed_designs": lambda v: [_failed_design_json(f) for f in v] or None,
    "jobs": lambda v: dict(v) or None,
    "params": dict,
    "results": dict,
    "cost_usd": lambda v: round(float(v), 6),
}


def _field_json(name: str, value: Any) -> Any:
    """One status field as the document holds it (None: absent)."""
    if value is None:
        return None
    serialize = _SERIALIZERS.get(name)
    return value if serialize is None else serialize(value)


def experiment_status_json(status: ExperimentStatus) -> Json:
    """The full status document (absent fields as None, so a diff can delete them)."""
    out: Json = {key: _field_json(name, getattr(status, name)) for name, key in _STATUS_KEYS.items()}
    out["versionName"] = status.version_name
    out.update(status.extra)
    return out


def status_patch(old: Json, new: Json) -> Json:
    """The merge patch turning status `old` into `new` (RFC 7386; None deletes a key)."""
    patch: Json = {}
    for key in set(old) | set(new):
        before, after = old.get(key), new.get(key)
        if after is None:
            if before is not None:
                patch[key] = None
        elif before != after:
            patch[key] = after
    return patch


@dataclass(frozen=True)
class ExperimentDoc:
    """One Experiment, parsed (see the module docstring)."""

    meta: Meta
    spec: ExperimentSpec
    status: ExperimentStatus
    stored: Json = field(default_factory=dict, compare=False, repr=False)
    """The status as stored: patches are computed against it, so a field the store lacks
    (a new document) is written even when it holds its default."""

    @classmethod
    def parse(cls, doc: Mapping[str, Any]) -> ExperimentDoc:
        stored = _obj(doc.get("status"))
        return cls(Meta.parse(doc.get("metadata")), ExperimentSpec.parse(doc.get("spec")),
                   parse_experiment_status(stored), stored)

    @property
    def name(self) -> str:
        return self.meta.name


    @property
    def sequence(self) -> int:
        return self.spec.sequence

    @property
    def campaign(self) -> str:
        return self.spec.campaign

    def with_status(self, status: ExperimentStatus) -> ExperimentDoc:
        return replace(self, status=status)

    def reference(self) -> Json:
        """The object as manifest builders and Events refer to it: kind, names, uid, spec."""
        return object_reference("Experiment", self.meta, self.spec.to_json())


_INDEXED_STATUS = ("phase", "verdict", "version", "humanReason", "hasResults", "startTime",
                   "phaseSince", "completionTime", "generation", "params", "costUSD", "metrics")


def index_view(name: str, spec: Mapping[str, Any], status: Mapping[str, Any]) -> Json:
    """A slim copy of a stored Experiment for in-memory indexes: what planning a campaign
    needs (phase, verdict, version, score, cost, times), not the bulky results."""
    kept = {k: v for k, v in status.items() if k in _INDEXED_STATUS}
    if isinstance(kept.get("metrics"), Mapping):
        kept["metrics"] = {k: v for k, v in kept["metrics"].items() if k != "perClip"}
    return {"metadata": {"name": name}, "spec": dict(spec), "status": kept}


def status_fields(**updates: Any) -> dict[str, Any]:
    """Check status field names early (a typo would otherwise fail at `replace`)."""
    known = {f.name for f in fields(ExperimentStatus)}
    unknown = set(updates) - known
    if unknown:
        raise TypeError(f"unknown Experiment status fields: {', '.join(sorted(unknown))}")
    return updates


def new_experiment(campaign: str, sequence: int) -> tuple[Json, Json]:
    """(spec, labels) of a new Experiment of `campaign`."""
    return ({"campaign": campaign, "sequence": sequence}, {CAMPAIGN_LABEL: campaign})


# ---- Campaign --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Experiments by outcome: the Campaign's `status.experiments`."""

    total: int = 0
    adopted: int = 0
    rejected: int = 0
    failed: int = 0
    needs_human: int = 0
    running: int = 0

    def to_json(self) -> Json:
        return {"total": self.total, "adopted": self.adopted, "rejected": self.rejected,
                "failed": self.failed, "needsHuman": self.needs_human, "running": self.running}

    @classmethod
    def parse(cls, doc: Any) -> Counts:
        d = _obj(doc)
        return cls(*(_int(d.get(k), 0) or 0 for k in
                     ("total", "adopted", "rejected", "failed", "needsHuman", "running")))


@dataclass(frozen=True)
class BestSummary:
    """The adopted version with the lowest score, as the Campaign's status shows it."""

    version: str | None
    experiment: str
    bd_rate: float | None
    kbps: float | None
    psnr_y: float | None

    def to_json(self) -> Json | None:
        return _compact({"version": self.version, "experiment": self.experiment,
                         "bdRate": self.bd_rate, "kbps": self.kbps, "psnrY": self.psnr_y})


@dataclass(frozen=True)
class CampaignStatus:
    phase: CampaignPhase = CampaignPhase.PENDING
    stop_reason: str | None = None
    start_time: str | None = None
    completion_time: str | None = None
    next_sequence: int = 0
    counts: Counts = field(default_factory=Counts)
    best: BestSummary | None = None
    cost_usd: float = 0.0
    report: str | None = None
    conditions: tuple[Condition, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


_CAMPAIGN_KEYS = ("phase", "stopReason", "startTime", "completionTime", "nextSequence",
                  "experiments", "best", "costUSD", "report", "conditions")


def parse_campaign_status(doc: Any) -> CampaignStatus:
    s = _obj(doc)
    best = _obj(s.get("best"))
    phase = str(s.get("phase") or CampaignPhase.PENDING.value)
    return CampaignStatus(
        phase=CampaignPhase(phase) if phase in CampaignPhase.__members__.values()
        else CampaignPhase.PENDING,
        stop_reason=_str(s.get("stopReason")), start_time=_str(s.get("startTime")),
        completion_time=_str(s.get("completionTime")),
        next_sequence=_int(s.get("nextSequence"), 0) or 0,
        counts=Counts.parse(s.get("experiments")),
        best=BestSummary(_str(best.get("version")), str(best.get("experiment") or ""),
                         number(best.get("bdRate")), number(best.get("kbps")),
                         number(best.get("psnrY"))) if best.get("experiment") else None,
        cost_usd=number(s.get("costUSD")) or 0.0, report=_str(s.get("report")),
        conditions=tuple(Condition.parse(c) for c in s.get("conditions") or []),
        extra={k: v for k, v in s.items() if k not in _CAMPAIGN_KEYS},
    )


def campaign_status_json(status: CampaignStatus) -> Json:
    out: Json = {
        "phase": status.phase.value, "stopReason": status.stop_reason,
        "startTime": status.start_time, "completionTime": status.completion_time,
        "nextSequence": status.next_sequence or None, "experiments": status.counts.to_json(),
        "best": status.best.to_json() if status.best else None,
        "costUSD": round(status.cost_usd, 6), "report": status.report,
        "conditions": [c.to_json() for c in status.conditions] or None,
    }
    out.update(status.extra)
    return out


def without_times(status: Json) -> Json:
    """`status` with condition transition times left out: what an idle tick compares."""
    conds = status.get("conditions")
    if not isinstance(conds, list):
        return status
    return {**status, "conditions": [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                                     for c in conds]}


@dataclass(frozen=True)
class CampaignDoc:
    """One Campaign, parsed; `ManifestError` (from `CampaignSpec`) when its spec is invalid."""

    meta: Meta
    spec: CampaignSpec
    status: CampaignStatus

    @classmethod
    def parse(cls, doc: Mapping[str, Any]) -> CampaignDoc:
        body = {k: v for k, v in doc.items() if k != "status"}
        return cls(Meta.parse(doc.get("metadata")), CampaignSpec.from_manifest(body),
                   parse_campaign_status(doc.get("status")))

    @property
    def name(self) -> str:
        return self.meta.name

    def reference(self) -> Json:
        return object_reference("Campaign", self.meta)
