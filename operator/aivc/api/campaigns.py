"""Campaign documents, parsed once into typed objects and written back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aivc.api.fields import Json, compact, integer, mapping, number, text
from aivc.api.meta import Condition, Meta, object_reference
from aivc.api.spec import CampaignSpec
from aivc.api.types import CampaignPhase


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
        d = mapping(doc)
        return cls(*(integer(d.get(k), 0) or 0 for k in
                     ("total", "adopted", "rejected", "failed", "needsHuman", "running")))


@dataclass(frozen=True)
class BestSummary:
    """The adopted version with the lowest score, as the Campaign's status shows it."""

    version: str | None
    experiment: str
    bd_rate: float | None
    kbps: float | None
    psnr_yuv: float | None

    def to_json(self) -> Json | None:
        return compact({"version": self.version, "experiment": self.experiment,
                         "bdRate": self.bd_rate, "kbps": self.kbps, "psnrYuv": self.psnr_yuv})


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
    """All LLM spend so far: only ever grows (a deleted experiment's calls stay spent)."""
    cost_seen_usd: float = 0.0
    """What the live experiments had booked at the last tick (the base of the next increase)."""
    report: str | None = None
    conditions: tuple[Condition, ...] = ()
    observed_generation: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


CAMPAIGN_STATUS_KEYS = ("phase", "stopReason", "startTime", "completionTime", "nextSequence",
                  "experiments", "best", "costUSD", "costSeenUSD", "report", "conditions",
                  "observedGeneration")


def parse_campaign_status(doc: Any) -> CampaignStatus:
    s = mapping(doc)
    best = mapping(s.get("best"))
    phase = str(s.get("phase") or CampaignPhase.PENDING.value)
    return CampaignStatus(
        phase=CampaignPhase(phase) if phase in CampaignPhase.__members__.values()
        else CampaignPhase.PENDING,
        stop_reason=text(s.get("stopReason")), start_time=text(s.get("startTime")),
        completion_time=text(s.get("completionTime")),
        next_sequence=integer(s.get("nextSequence"), 0) or 0,
        counts=Counts.parse(s.get("experiments")),
        best=BestSummary(text(best.get("version")), str(best.get("experiment") or ""),
                         number(best.get("bdRate")), number(best.get("kbps")),
                         number(best.get("psnrYuv"))) if best.get("experiment") else None,
        cost_usd=number(s.get("costUSD")) or 0.0, cost_seen_usd=number(s.get("costSeenUSD")) or 0.0,
        report=text(s.get("report")),
        conditions=tuple(Condition.parse(c) for c in s.get("conditions") or []),
        observed_generation=integer(s.get("observedGeneration"), None),
        extra={k: v for k, v in s.items() if k not in CAMPAIGN_STATUS_KEYS},
    )


def campaign_status_json(status: CampaignStatus) -> Json:
    out: Json = {
        "phase": status.phase.value, "stopReason": status.stop_reason,
        "startTime": status.start_time, "completionTime": status.completion_time,
        "nextSequence": status.next_sequence or None, "experiments": status.counts.to_json(),
        "best": status.best.to_json() if status.best else None,
        "costUSD": round(status.cost_usd, 6), "costSeenUSD": round(status.cost_seen_usd, 6),
        "report": status.report,
        "conditions": [c.to_json() for c in status.conditions] or None,
        "observedGeneration": status.observed_generation,
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
