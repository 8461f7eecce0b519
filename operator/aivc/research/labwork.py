"""The work behind each phase: design, validate, execute, analyze.

Each method does one phase's work for one experiment and returns a `Step`: the event the
phase machine gets, plus the document fields to persist with the transition. None of them
changes a phase: the driver feeds the event to the machine and persists the result before
anything else happens. Every step is safe to repeat — a run killed in the middle of one
simply does it again — and candidates run only in the sandbox. Local mode
(`aivc.research.local`) uses all four; the operator uses design and analysis and runs the
sandbox steps as Jobs, so both drivers share the planner calls and the adoption rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aivc.codec import reference, space
from aivc.errors import AivcError
from aivc.evaluate.clips import ClipSpec
from aivc.evaluate.results import EvaluationResult
from aivc.research import archive, history
from aivc.research.analysis import analyze
from aivc.research.phases import (
    Analyzed,
    Designed,
    DesignFailed,
    Event,
    ExecutionFailed,
    ExecutionFinished,
    RequestDesign,
    ValidationFailed,
    ValidationPassed,
)
from aivc.research.planner import DesignRequest, Planner, PlannerError, Proposal
from aivc.research.spec import CampaignSpec
from aivc.store.base import ExperimentStore
from aivc.store.local import LocalStore


@dataclass(frozen=True)
class Step:
    event: Event
    status: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] | None = None


@dataclass
class Lab:
    """What the steps need: the campaign, its store and planner, anchors and sandbox settings."""

    spec: CampaignSpec
    store: ExperimentStore
    planner: Planner
    anchors: dict[str, dict[str, Any]]
    cache_dir: Path
    sandbox_limits: Any = None
    on_progress: Callable[[str], None] | None = None
    """Told of each clip × level the sandbox finishes (the live view of `aivc run`)."""

    def clips(self) -> list[ClipSpec]:
        return [ClipSpec.parse(c) for c in (*self.spec.clips, *self.spec.held_out)]

    # ---- design ------------------------------------------------------------------------

    def design(self, exp: dict[str, Any], action: RequestDesign,
               experiments: list[dict[str, Any]]) -> Step:
        name, status = exp["metadata"]["name"], history.status_of(exp)
        try:
            if history.sequence_of(exp) == 0:
                proposal = self._baseline()
            else:
                proposal = self.planner.propose(self._request(exp, action, experiments))
        except PlannerError as exc:
            return Step(DesignFailed(exc.category, str(exc)))
        self.store.put_source(name, proposal.source)
        parent = history.version_name(proposal.parent_version)
        spec = {"hypothesis": proposal.hypothesis, "rationale": proposal.rationale or None,
                "parentVersion": parent,
                "codec": {"sha256": hashlib.sha256(proposal.source.encode()).hexdigest()}}
        cost = float(status.get("costUSD") or 0.0) + proposal.cost_usd
        fields: dict[str, Any] = {"params": proposal.params, "costUSD": round(cost, 6)}
        if action.repair is not None:
            fields["failedDesigns"] = _failed_designs(exp)
        return Step(Designed(), fields, spec)

    def _baseline(self) -> Proposal:
        """Sequence 0 is the base codec as it is: the yardstick every version is measured by."""
        base = self.spec.base_codec
        path = Path(base).expanduser()
        if path.suffix == ".py" and path.is_file():
            source = path.read_text()
        else:
            try:
                source = reference.reference_source(base)
            except (KeyError, AivcError) as exc:
                raise AivcError(f"spec.baseCodec: unknown codec {base!r} ({exc})") from None
        params = _params_of(source)
        return Proposal(source=source, parent_version=None, params=params or None,
                        hypothesis=f"Baseline: the base codec {base!r} as it is.")

    def _request(self, exp: dict[str, Any], action: RequestDesign,
                 experiments: list[dict[str, Any]]) -> DesignRequest:
        name, status = exp["metadata"]["name"], history.status_of(exp)
        done = [e for e in experiments if history.is_finished(e)]
        failed_source = self.store.get_source(name) if action.repair else None
        return DesignRequest(
            sequence=history.sequence_of(exp),
            parents=archive.parents_from(done, self.store.get_source),
            history=tuple(history.outcomes(done)), repair=action.repair,
            failed_source=failed_source,
            failed_params=status.get("params") if action.repair else None, note=action.note)

    # ---- sandbox -----------------------------------------------------------------------

    def validate(self, exp: dict[str, Any]) -> Step:
        from aivc.sandbox import validate_codec

        result = validate_codec(self._source_path(exp), **self._limits())
        summary = {"validation": {"ok": result.ok, "wallSeconds": round(result.wall_seconds, 2)}}
        err = result.first_error()
        if err is not None:
            return Step(ValidationFailed(err.category, _describe(err)), summary)
        return Step(ValidationPassed(), summary)

    def execute(self, exp: dict[str, Any]) -> Step:
        from aivc.sandbox import evaluate_codec

        result = evaluate_codec(self._source_path(exp), self.clips(), cache_dir=self.cache_dir,
                                progress=self.on_progress, **self._limits())
        self.store.put_results(exp["metadata"]["name"], result.to_dict())
        summary = {"execution": {"ok": result.ok, "wallSeconds": round(result.wall_seconds, 2)}}
        err = result.first_error()
        if err is not None:
            return Step(ExecutionFailed(err.category, _describe(err)), summary)
        return Step(ExecutionFinished(), summary)

    def _limits(self) -> dict[str, Any]:
        return {} if self.sandbox_limits is None else {"limits": self.sandbox_limits}

    def _source_path(self, exp: dict[str, Any]) -> Path:
        if not isinstance(self.store, LocalStore):
            raise AivcError("local sandbox steps need the local store (the operator runs Jobs)")
        path = self.store.source_path(exp["metadata"]["name"])
        if not path.is_file():
            raise AivcError(f"experiment {exp['metadata']['name']}: its source {path} is missing")
        return path

    # ---- analysis ----------------------------------------------------------------------

    def analyze(self, exp: dict[str, Any], experiments: list[dict[str, Any]], version: int) -> Step:
        name = exp["metadata"]["name"]
        result = self.results_of(name)
        if result is None:
            raise AivcError(f"experiment {name} is Analyzing but its results are missing")
        others = [e for e in experiments if e["metadata"]["name"] != name]
        best = archive.best_experiment(others)
        best_result = None if best is None else self.results_of(best["metadata"]["name"])
        found = analyze(result, self.anchors, best_result, self.spec)
        status = {"metrics": found.metrics,
                  "analysis": {"reason": found.reason, "suspicious": found.suspicious}}
        event = Analyzed(adopt=found.adopt, version=version if found.adopt else None,
                         suspicious=found.suspicious)
        return Step(event, status)

    def results_of(self, name: str) -> EvaluationResult | None:
        doc = self.store.get_results(name)
        return None if doc is None else EvaluationResult.from_dict(doc)


MAX_FAILED_DESIGNS = 5


def _failed_designs(exp: dict[str, Any]) -> list[dict[str, Any]]:
    """The designs this experiment replaced after they failed: kept for the record and for
    reproducing the failure (the source itself is overwritten by its repair)."""
    status, spec = history.status_of(exp), exp.get("spec") or {}
    record = {"hypothesis": spec.get("hypothesis"), "sha256": (spec.get("codec") or {}).get("sha256"),
              "params": status.get("params"), "error": status.get("lastError")}
    return [*(status.get("failedDesigns") or []), record][-MAX_FAILED_DESIGNS:]


def _describe(err: Any) -> str:
    where = " ".join(p for p in (err.stage, err.clip, "" if err.level < 0 else f"level {err.level}")
                     if p)
    return f"{where}: {err.message}" if where else str(err.message)


def _params_of(source: str) -> dict[str, Any]:
    """The design parameters a generated or reference source declares ({} if none)."""
    try:
        return dict(space.read_params(source))
    except space.DesignSpaceError:
        return {}
