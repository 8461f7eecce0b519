"""Experiment documents, parsed once into typed objects and written back as merge patches.

`ExperimentDoc.parse(doc)` reads a stored Experiment; code above the API layer works with the
frozen dataclasses; `experiment_status_json` and `status_patch` turn a changed status back
into the JSON merge patch a store applies. Keys the schema preserves but this module does not
know (`x-kubernetes-preserve-unknown-fields`) are kept in `extra` and written back untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from aivc.api.fields import Json, compact, integer, mapping, number, text
from aivc.api.measurements import Metrics
from aivc.api.meta import Condition, Meta, object_reference
from aivc.api.types import (
    CAMPAIGN_LABEL,
    TERMINAL_PHASES,
    ConditionStatus,
    Decision,
    Phase,
    Verdict,
)


@dataclass(frozen=True)
class Failure:
    """The last thing that went wrong, short enough to hand to the planner."""

    stage: str
    category: str
    message: str

    @classmethod
    def parse(cls, doc: Any) -> Failure | None:
        d = mapping(doc)
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
        s = mapping(doc)
        codec = None
        if isinstance(s.get("codec"), Mapping):
            c, ref = mapping(s["codec"]), mapping(mapping(s["codec"]).get("configMapRef"))
            codec = CodecRef(text(c.get("sha256")), text(ref.get("name")),
                             str(ref.get("key") or "codec.py"))
        return cls(str(s.get("campaign") or ""), integer(s.get("sequence"), 0) or 0,
                   text(s.get("parentVersion")), text(s.get("hypothesis")),
                   text(s.get("rationale")), codec)

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
class RunSummary:
    """How a sandbox stage went: `status.validation` / `status.execution`."""

    ok: bool
    wall_seconds: float | None = None
    bitstreams: str | None = None
    """Validation only: digest of the bitstreams written on the validation clip
    (`EvaluationResult.bitstreams_digest`, 32 hex digits), for spotting repeats."""

    @classmethod
    def parse(cls, doc: Any) -> RunSummary | None:
        d = mapping(doc)
        if not d:
            return None
        bits = d.get("bitstreams")
        return cls(bool(d.get("ok")), number(d.get("wallSeconds")),
                   bits if isinstance(bits, str) and bits else None)

    def to_json(self) -> Json:
        out: Json = {"ok": self.ok, "wallSeconds": self.wall_seconds}
        if self.bitstreams:
            out["bitstreams"] = self.bitstreams
        return out


@dataclass(frozen=True)
class LLMCall:
    """One Messages API call, booked to the experiment that made it (`status.llmCalls`)."""

    role: str
    """design | repair | analysis | review (or another role a planner names)."""
    model: str
    outcome: str
    """ok, or why it failed (rate_limited, overloaded, server_error, client_error, ...)."""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0



@dataclass(frozen=True)
class Hold:
    """Work waiting on the platform, not on the candidate (`status.hold`): the planner's key
    refused (`auth`) or its service unavailable (`unavailable`) while designing; the cluster
    unable to run the sandbox (`infra`: an image that cannot be pulled, no node, eviction,
    a lost node) while validating or executing. It uses no retry of the candidate's and never
    reaches the model; the work is tried again from `until` on."""

    category: str
    message: str
    until: str
    reason: str = ""
    """What the platform said, as a CamelCase word (ImagePullBackOff, Unschedulable, ...)."""
    count: int = 1
    """How many times in a row the platform failed this piece of work."""


@dataclass(frozen=True)
class CascadeRecord:
    """How far the evaluation cascade got (`aivc.research.cascade`)."""

    stages: tuple[str, ...] = ()
    """The stages that ran, in order."""
    next: str | None = None
    """The stage to run next (None: the first, or none left)."""
    stopped_early: str | None = None
    """Why the candidate stopped before it was measured everywhere."""


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
class Origin:
    """Who designed an experiment (`status.origin`): the LLM writing a program, the search
    tuning the declared parameters of one (`family`: the sequence of the experiment whose
    program it tunes), or the base codec."""

    planner: str
    """llm | search | base (the baseline)."""
    family: int | None = None
    model: str | None = None

    @classmethod
    def parse(cls, doc: Any) -> Origin | None:
        d = mapping(doc)
        return cls(str(d["planner"]), integer(d.get("family")), text(d.get("model"))) \
            if d.get("planner") else None

    def to_json(self) -> Json:
        return compact({"planner": self.planner, "family": self.family, "model": self.model}) or {}


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
    origin: Origin | None = None
    cost_usd: float = 0.0
    """LLM spend of this experiment: the sum of `llm_calls`."""
    llm_calls: tuple[LLMCall, ...] = ()
    jobs: Mapping[str, str] = field(default_factory=dict)
    validation: RunSummary | None = None
    execution: RunSummary | None = None
    results: Mapping[str, Any] | None = None
    """The sandbox's results document (the operator keeps it here; local mode on disk)."""
    results_source: str | None = None
    cascade: CascadeRecord = field(default_factory=CascadeRecord)
    hold: Hold | None = None
    metrics: Metrics | None = None
    analysis: AnalysisNote | None = None
    decision: DecisionRecord | None = None
    commit: CommitRecord | None = None
    lesson: str | None = None
    learned: bool = False
    """Whether the planner has learned from this finished experiment (RecordLesson is done)."""
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
    def owes_lesson(self) -> bool:
        """Measured (or rejected by a person) and not learned from yet."""
        return self.finished and self.verdict in (Verdict.ADOPTED, Verdict.REJECTED) \
            and not self.learned

    @property
    def owes_commit(self) -> bool:
        """Adopted, not committed yet, and no failed attempt already recorded."""
        failed = any(c.type == "Committed" and c.status is ConditionStatus.FALSE
                     for c in self.conditions)
        return self.adopted and self.commit is None and not failed


STATUS_KEYS = {
    "phase": "phase", "attempts": "attempts", "last_error": "lastError", "verdict": "verdict",
    "version": "version", "human_reason": "humanReason", "human_note": "humanNote",
    "has_results": "hasResults", "start_time": "startTime", "phase_since": "phaseSince",
    "completion_time": "completionTime", "generation": "generation", "params": "params", "origin": "origin",
    "cost_usd": "costUSD", "llm_calls": "llmCalls", "jobs": "jobs", "validation": "validation", "execution": "execution",
    "results": "results", "results_source": "resultsSource", "cascade": "cascade",
    "hold": "hold", "metrics": "metrics",
    "analysis": "analysis", "decision": "decision", "commit": "commit", "lesson": "lesson", "learned": "learned",
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
    s = mapping(doc)
    att = mapping(s.get("attempts"))
    verdict = s.get("verdict")
    analysis = mapping(s.get("analysis"))
    decision = mapping(s.get("decision"))
    commit = mapping(s.get("commit"))
    phase = str(s.get("phase") or Phase.PENDING.value)
    return ExperimentStatus(
        phase=Phase(phase),
        attempts=Attempts(integer(att.get("design"), 0) or 0, integer(att.get("validation"), 0) or 0,
                          integer(att.get("execution"), 0) or 0),
        last_error=Failure.parse(s.get("lastError")),
        verdict=Verdict(verdict) if verdict else None,
        version=integer(s.get("version")),
        human_reason=text(s.get("humanReason")), human_note=text(s.get("humanNote")),
        has_results=bool(s.get("hasResults", False)),
        start_time=text(s.get("startTime")), phase_since=text(s.get("phaseSince")),
        completion_time=text(s.get("completionTime")),
        generation=integer(s.get("generation"), 0) or 0,
        params=dict(s["params"]) if isinstance(s.get("params"), Mapping) else None,
        origin=Origin.parse(s.get("origin")),
        cost_usd=number(s.get("costUSD")) or 0.0,
        llm_calls=tuple(_llm_call(c) for c in s.get("llmCalls") or [] if isinstance(c, Mapping)),
        jobs={str(k): str(v) for k, v in mapping(s.get("jobs")).items()},
        validation=RunSummary.parse(s.get("validation")),
        execution=RunSummary.parse(s.get("execution")),
        results=dict(s["results"]) if isinstance(s.get("results"), Mapping) else None,
        results_source=text(s.get("resultsSource")),
        hold=_hold(mapping(s.get("hold"))),
        cascade=CascadeRecord(tuple(str(x) for x in mapping(s.get("cascade")).get("stages") or []),
                              text(mapping(s.get("cascade")).get("next")),
                              text(mapping(s.get("cascade")).get("stoppedEarly"))),
        metrics=Metrics.parse(s["metrics"]) if isinstance(s.get("metrics"), Mapping) else None,
        analysis=AnalysisNote(str(analysis.get("reason") or ""), text(analysis.get("suspicious")))
        if analysis else None,
        decision=DecisionRecord(Decision(decision["decision"]), text(decision.get("note")),
                                text(decision.get("by")), text(decision.get("at")),
                                text(decision.get("appliedAt")))
        if decision.get("decision") in Decision.__members__.values() else None,
        commit=CommitRecord(str(commit.get("sha") or ""), str(commit.get("tag") or ""),
                            str(commit.get("branch") or ""), str(commit.get("repo") or ""))
        if commit.get("sha") else None,
        lesson=text(s.get("lesson")), learned=bool(s.get("learned", False)),
        conditions=tuple(Condition.parse(c) for c in s.get("conditions") or []),
        failed_designs=tuple(
            FailedDesign(text(mapping(f).get("hypothesis")), text(mapping(f).get("sha256")),
                         mapping(f).get("params") if isinstance(mapping(f).get("params"), Mapping) else None,
                         Failure.parse(mapping(f).get("error")))
            for f in s.get("failedDesigns") or []),
        extra={k: v for k, v in s.items() if k not in STATUS_KEYS.values()
               and k not in DERIVED_STATUS_KEYS},
    )


_CALL_KEYS = {"role": "role", "model": "model", "outcome": "outcome", "input_tokens": "inputTokens",
              "output_tokens": "outputTokens", "cache_read_tokens": "cacheReadTokens",
              "cache_write_tokens": "cacheWriteTokens", "cost_usd": "costUSD"}


def _llm_call(doc: Mapping[str, Any]) -> LLMCall:
    return LLMCall(str(doc.get("role") or ""), str(doc.get("model") or ""),
                   str(doc.get("outcome") or ""),
                   input_tokens=integer(doc.get("inputTokens"), 0) or 0,
                   output_tokens=integer(doc.get("outputTokens"), 0) or 0,
                   cache_read_tokens=integer(doc.get("cacheReadTokens"), 0) or 0,
                   cache_write_tokens=integer(doc.get("cacheWriteTokens"), 0) or 0,
                   cost_usd=number(doc.get("costUSD")) or 0.0)


def _hold(d: Json) -> Hold | None:
    if not d:
        return None
    return Hold(str(d.get("category") or ""), str(d.get("message") or ""),
                str(d.get("until") or ""), str(d.get("reason") or ""),
                integer(d.get("count"), 1) or 1)


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
    "origin": lambda v: v.to_json(),
    "results": dict,
    "cost_usd": lambda v: round(float(v), 6),
    "hold": lambda v: compact({"category": v.category, "message": v.message, "until": v.until,
                               "reason": v.reason or None, "count": v.count}),
    "llm_calls": lambda v: [{key: getattr(c, name) for name, key in _CALL_KEYS.items()}
                            for c in v] or None,
    "cascade": lambda v: {"stages": list(v.stages), "next": v.next, "stoppedEarly": v.stopped_early}
    if v.stages or v.next or v.stopped_early else None,
}


def _field_json(name: str, value: Any) -> Any:
    """One status field as the document holds it (None: absent)."""
    if value is None:
        return None
    serialize = _SERIALIZERS.get(name)
    return value if serialize is None else serialize(value)


def experiment_status_json(status: ExperimentStatus) -> Json:
    """The full status document (absent fields as None, so a diff can delete them)."""
    out: Json = {key: _field_json(name, getattr(status, name)) for name, key in STATUS_KEYS.items()}
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
        stored = mapping(doc.get("status"))
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
                   "phaseSince", "completionTime", "generation", "params", "origin", "costUSD", "metrics",
                   "commit", "conditions", "learned")


def index_view(name: str, spec: Mapping[str, Any], status: Mapping[str, Any]) -> Json:
    """A slim copy of a stored Experiment for in-memory indexes: what planning a campaign
    needs (phase, verdict, version, score, cost, times), not the bulky results."""
    kept = {k: v for k, v in status.items() if k in _INDEXED_STATUS}
    if isinstance(kept.get("metrics"), Mapping):
        kept["metrics"] = {k: v for k, v in kept["metrics"].items() if k != "perClip"}
    return {"metadata": {"name": name}, "spec": dict(spec), "status": kept}


def status_update(doc: ExperimentDoc, **fields: Any) -> Json:
    """The merge patch that sets `fields` (by their Python names) on `doc`'s stored status."""
    new = replace(doc.status, **fields)
    return status_patch(doc.stored or experiment_status_json(doc.status), experiment_status_json(new))


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
