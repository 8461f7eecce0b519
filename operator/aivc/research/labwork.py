"""The work behind each phase: design, validate, execute, analyze.

Each method does one phase's work for one experiment and returns a `Work`: the event the
phase machine gets, plus the status and spec fields to persist with the transition. None of
them changes a phase: the driver hands the work to the core (`aivc.research.driving`) and
persists its plan before anything else happens. Every step is safe to repeat — a run killed in the middle of one
simply does it again — and candidates run only in the sandbox. Local mode
(`aivc.research.local`) uses all four; the operator uses design and analysis and runs the
sandbox steps as Jobs, so both drivers share the planner calls and the adoption rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aivc.api.documents import (
    AnalysisNote,
    CascadeRecord,
    CodecRef,
    ExperimentDoc,
    FailedDesign,
    Hold,
    LLMCall,
    Origin,
    RunSummary,
    parse_version,
    version_name,
)
from aivc.api.spec import CampaignSpec
from aivc.api.times import iso
from aivc.api.types import Phase, Verdict
from aivc.codec import reference, space
from aivc.errors import AivcError
from aivc.evaluate.clips import ClipSpec
from aivc.evaluate.results import ErrorRecord, EvaluationResult
from aivc.research import archive, cascade, duplicates, evidence, history
from aivc.research.analysis import analyze
from aivc.research.driving import Work
from aivc.research.evidence import ChangeEvidence, KnownProgram
from aivc.research.phases import (
    Analyzed,
    Deferred,
    Designed,
    DesignFailed,
    ExecutionFailed,
    ExecutionFinished,
    ExecutionStageDone,
    RequestDesign,
    ValidationFailed,
    ValidationPassed,
)
from aivc.research.planning import (
    AUTH,
    UNAVAILABLE,
    DesignRequest,
    Lesson,
    Outcome,
    ParentCodec,
    Planner,
    PlannerError,
    Proposal,
    TunableProgram,
)
from aivc.store.base import ExperimentStore
from aivc.store.local import LocalStore


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

    def design(self, exp: ExperimentDoc, action: RequestDesign,
               experiments: Sequence[ExperimentDoc]) -> Work:
        try:
            if exp.sequence == 0:
                proposal = self._baseline()
            else:
                proposal = self.planner.propose(self._request(exp, action, experiments))
        except PlannerError as exc:
            if exc.category in (AUTH, UNAVAILABLE):
                wait = exc.retry_after_s or (AUTH_RETRY_SECONDS if exc.category == AUTH
                                             else UNAVAILABLE_RETRY_SECONDS)
                until = iso(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait))
                return Work(Deferred(exc.category, str(exc)),
                            {"hold": Hold(exc.category, str(exc)[:500], until),
                             **_booked(exp, exc.calls)})
            return Work(DesignFailed(exc.category, str(exc)), _booked(exp, exc.calls))
        self.store.put_source(exp.name, proposal.source)
        sha = hashlib.sha256(proposal.source.encode()).hexdigest()
        spec = {"hypothesis": proposal.hypothesis, "rationale": proposal.rationale or None,
                "parent_version": version_name(proposal.parent_version),
                "codec": CodecRef(sha256=sha)}
        fields: dict[str, Any] = {"params": proposal.params, **_booked(exp, proposal.calls),
                                  "origin": proposal.origin or Origin(self.planner.name)}
        if action.repair is not None:
            fields["failed_designs"] = _failed_designs(exp)
        return Work(Designed(), fields, spec)

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
                        hypothesis=f"Baseline: the base codec {base!r} as it is.",
                        origin=Origin("base"))

    def _request(self, exp: ExperimentDoc, action: RequestDesign,
                 experiments: Sequence[ExperimentDoc]) -> DesignRequest:
        done = [e for e in experiments if e.status.finished]
        failed_source = self.store.get_source(exp.name) if action.repair else None
        params = exp.status.params
        results = _Memo(self._result, {e.name: e for e in done})
        parents = archive.parents_from(done, self.store.get_source, load_results=results)
        best_exp = archive.best_experiment(done)
        best = results(best_exp.name) if best_exp is not None else None
        return DesignRequest(
            sequence=exp.sequence, parents=parents,
            history=tuple(history.outcomes(done)), repair=action.repair,
            failed_source=failed_source,
            failed_params=dict(params) if action.repair and params is not None else None,
            note=action.note, seed=self.spec.seed,
            lab=evidence.facts(self.spec, best, self.anchors, self.sandbox_limits,
                               local=isinstance(self.store, LocalStore)),
            programs=archive.recent_failures(done, self.store.get_source),
            known=self._known(exp, experiments),
            previous_parent=self._previous_parent(exp, done, results) if action.repair else None,
            mistakes=tuple(f.error for f in exp.status.failed_designs if f.error is not None),
            budget_left_usd=self.spec.budget.max_cost_usd - history.spent_usd(experiments),
            tunable=self._tunable(exp, experiments) if self.spec.planner == "hybrid" else (),
            failed_origin=exp.status.origin if action.repair else None,
            in_flight=tuple(e.status.origin for e in experiments if e.name != exp.name
                            and not e.status.finished and e.status.origin is not None))

    def _tunable(self, exp: ExperimentDoc, experiments: Sequence[ExperimentDoc],
                 recent: int = 3) -> tuple[TunableProgram, ...]:
        """The `recent` newest LLM programs that declare parameters, with their trials:
        the program itself (its declared defaults) and every search experiment over it."""
        out: list[TunableProgram] = []
        for e in sorted(experiments, key=lambda e: -e.sequence):
            origin = e.status.origin
            if e.name == exp.name or origin is None or origin.planner != "llm" or not e.status.params:
                continue
            family = [e, *(x for x in experiments if x.name != exp.name and x.status.origin
                           and x.status.origin.planner == "search"
                           and x.status.origin.family == e.sequence)]
            trials = tuple((dict(x.status.params or {}), _score(x)) for x in family
                           if x.status.finished and x.status.params)
            source = self.store.get_source(e.name)
            if source is None:
                continue
            out.append(TunableProgram(
                e.sequence, source, parse_version(e.spec.parent_version),
                defaults=dict(e.status.params), own_score=_score(e) if e.status.finished else None,
                ran=e.status.finished and e.status.phase is Phase.SUCCEEDED,
                trials=trials, in_flight=sum(1 for x in family[1:] if not x.status.finished)))
            if len(out) >= recent:
                break
        return tuple(out)

    def _previous_parent(self, exp: ExperimentDoc, done: Sequence[ExperimentDoc],
                         results: Callable[[str], EvaluationResult | None]) -> ParentCodec | None:
        """The adopted version the failed candidate was built on, with its source."""
        version = parse_version(exp.spec.parent_version)
        parent = next((e for e in archive.adopted(done) if e.status.version == version), None)
        source = self.store.get_source(parent.name) if parent is not None else None
        return None if parent is None or source is None else archive.to_parent(parent, source, results(parent.name))

    def _result(self, exp: ExperimentDoc) -> EvaluationResult | None:
        """The results the status carries (operator), else those in the store (local mode)."""
        doc = exp.status.results if exp.status.results else self.store.get_results(exp.name)
        try:
            return None if not doc else EvaluationResult.from_dict(dict(doc))
        except (KeyError, TypeError, ValueError):
            return None

    def _known(self, exp: ExperimentDoc, experiments: Sequence[ExperimentDoc]) -> tuple[KnownProgram, ...]:
        """Every other designed program's fingerprint, each distinct source read once."""
        by_sha: dict[str, ExperimentDoc] = {}
        for e in sorted(experiments, key=lambda e: e.sequence):
            sha = e.spec.codec.sha256 if e.spec.codec else None
            if e.name != exp.name and sha and sha not in by_sha:
                by_sha[sha] = e
        known = []
        for e in by_sha.values():
            source = self.store.get_source(e.name)
            if source is not None:
                known.append(KnownProgram(duplicates.fingerprint(source), _label(e)))
        return tuple(known)

    def outcome_of(self, exp: ExperimentDoc, experiments: Sequence[ExperimentDoc]) -> Outcome | None:
        """`history.outcome_of` plus the evidence a lesson is drawn from: both sources, both
        RD tables and the best version's code. The drivers hand this to `Planner.learn`."""
        outcome = history.outcome_of(exp)
        if outcome is None:
            return None
        by_version = {e.status.version: e for e in archive.adopted(experiments)}
        parent = by_version.get(parse_version(exp.spec.parent_version))
        best = archive.best_experiment(experiments)
        mine, theirs = self._result(exp), self._result(parent) if parent else None
        change = ChangeEvidence(
            source=self.store.get_source(exp.name),
            parent_source=self.store.get_source(parent.name) if parent else None,
            rd=evidence.rd_table(mine.levels) if mine else {},
            parent_rd=evidence.rd_table(theirs.levels) if theirs else {},
            best_source=self.store.get_source(best.name) if best else None,
            best_version=best.status.version if best else None)
        return replace(outcome, evidence=change)

    # ---- sandbox -----------------------------------------------------------------------

    def validate(self, exp: ExperimentDoc, experiments: Sequence[ExperimentDoc]) -> Work:
        from aivc.sandbox import validate_codec

        result = validate_codec(self._source_path(exp), **self._limits(self.spec.validation_timeout_s))
        result = _within(result, self.spec.validation_timeout_s, "validationTimeoutSeconds")
        summary = {"validation": RunSummary(result.ok, round(result.wall_seconds, 2),
                                            result.bitstreams_digest()[:32] or None)}
        err = result.first_error()
        if err is not None:
            return Work(ValidationFailed(err.category, err.describe()), summary)
        return self.after_validation(exp, Work(ValidationPassed(), summary), experiments)

    def after_validation(self, exp: ExperimentDoc, work: Work,
                        experiments: Sequence[ExperimentDoc]) -> Work:
        """The trusted side's checks of a passed validation: a PARAMETERS block that does
        not parse is a `contract` failure (the search could not tune it), and bitstreams
        equal to an earlier experiment's are a `duplicate`: the LLM is told and designs
        anew, nothing is evaluated twice.

        Only for programs the LLM wrote (`status.origin`): a search's parameters often
        change nothing on the 4-frame validation clip (search range, GOP) yet do on the
        real clips, and a search never proposes the same parameters twice anyway.
        """
        if isinstance(work.event, ValidationPassed):
            source = self.store.get_source(exp.name) or ""
            if space.declares(source):
                try:
                    space.parse_space(source)
                except space.DesignSpaceError as exc:
                    return Work(ValidationFailed("contract", f"the PARAMETERS block: {exc}"),
                                work.status)
        report = work.status.get("validation")
        origin = exp.status.origin
        if origin is None or origin.planner != "llm" or not isinstance(work.event, ValidationPassed) \
                or not isinstance(report, RunSummary) or not report.bitstreams:
            return work
        earlier = ((e.name, e.status.validation.bitstreams)
                   for e in sorted(experiments, key=lambda e: e.sequence)
                   if e.name != exp.name and e.status.validation is not None)
        same = duplicates.same_bitstreams(report.bitstreams, earlier)
        if same is None:
            return work
        return Work(ValidationFailed("duplicate", f"identical bitstreams to {same} on the "
                                     "validation clip: the same codec, already measured"),
                    work.status)

    def stage_now(self, exp: ExperimentDoc, experiments: Sequence[ExperimentDoc]) -> cascade.Stage:
        """The cascade stage an experiment in Executing runs next."""
        record = exp.status.cascade
        has_best = archive.best_experiment(e for e in experiments if e.name != exp.name) is not None
        return cascade.stage(record.next or cascade.first(self.spec, has_best), self.spec)

    def execute(self, exp: ExperimentDoc, experiments: Sequence[ExperimentDoc]) -> Work:
        """Run the cascade's next stage in the local sandbox."""
        from aivc.sandbox import evaluate_codec

        now = self.stage_now(exp, experiments)
        result = evaluate_codec(self._source_path(exp), [ClipSpec.parse(c) for c in now.clips],
                                cache_dir=self.cache_dir, progress=self.on_progress,
                                levels=now.levels, redecode=now.redecode,
                                **self._limits(self.spec.execution_timeout_s))
        result = _within(result, self.spec.execution_timeout_s, "executionTimeoutSeconds")
        self.store.put_results(exp.name, result.to_dict())
        return self.stage_work(exp, now.name, result, experiments)

    def stage_work(self, exp: ExperimentDoc, name: str, result: EvaluationResult,
                   experiments: Sequence[ExperimentDoc]) -> Work:
        """What a finished stage means: another stage, the end of the cascade, or a failure.

        Every stage after the screen measures the campaign clips again at every level, so a
        stage's results are the experiment's results; the driver stores them."""
        record = exp.status.cascade
        stages = (*record.stages, name)
        fields: dict[str, Any] = {"execution": RunSummary(result.ok, round(result.wall_seconds, 2))}
        err = result.first_error()
        if err is not None:
            fields["cascade"] = CascadeRecord(stages, None)
            return Work(ExecutionFailed(err.category, err.describe()), fields)
        best = archive.best_experiment(e for e in experiments if e.name != exp.name)
        best_result = None if best is None else self.results_of(best.name)
        nxt = cascade.after(name, self.spec, result, best_result, self.anchors)
        if isinstance(nxt, cascade.Done):
            fields["cascade"] = CascadeRecord(stages, None, nxt.stopped_early)
            return Work(ExecutionFinished(), fields)
        fields["cascade"] = CascadeRecord(stages, nxt)
        return Work(ExecutionStageDone(), fields)

    def _limits(self, stage_seconds: int) -> dict[str, Any]:
        """The sandbox limits, no candidate process allowed past the stage's time limit (as
        in a sandbox Job, whose processes get the campaign's timeout as their wall limit)."""
        from aivc.sandbox.evaluation import default_limits

        limits = self.sandbox_limits or default_limits()
        return {"limits": replace(limits, wall_seconds=min(limits.wall_seconds, stage_seconds))}

    def _source_path(self, exp: ExperimentDoc) -> Path:
        if not isinstance(self.store, LocalStore):
            raise AivcError("local sandbox steps need the local store (the operator runs Jobs)")
        path = self.store.source_path(exp.name)
        if not path.is_file():
            raise AivcError(f"experiment {exp.name}: its source {path} is missing")
        return path

    # ---- analysis ----------------------------------------------------------------------

    def analyze(self, exp: ExperimentDoc, experiments: Sequence[ExperimentDoc], version: int) -> Work:
        result = self.results_of(exp.name)
        if result is None:
            raise AivcError(f"experiment {exp.name} is Analyzing but its results are missing")
        best = archive.best_experiment(e for e in experiments if e.name != exp.name)
        best_result = None if best is None else self.results_of(best.name)
        found = analyze(result, self.anchors, best_result, self.spec)
        stopped = exp.status.cascade.stopped_early
        if stopped is not None:  # measured only in part: never adopted, whatever it shows
            found = replace(found, adopt=False, reason=stopped, suspicious=None)
        event = Analyzed(adopt=found.adopt, version=version if found.adopt else None,
                         suspicious=found.suspicious)
        return Work(event, {"metrics": found.metrics,
                            "analysis": AnalysisNote(found.reason, found.suspicious)})

    def results_of(self, name: str) -> EvaluationResult | None:
        doc = self.store.get_results(name)
        return None if doc is None else EvaluationResult.from_dict(doc)


MAX_FAILED_DESIGNS = 5
AUTH_RETRY_SECONDS = 60.0
"""How often a refused key is tried again (a person may have fixed it meanwhile)."""
UNAVAILABLE_RETRY_SECONDS = 120.0
"""How long to wait after the planner gave up on an unavailable service, unless it says."""


def _within(result: EvaluationResult, limit: int, setting: str) -> EvaluationResult:
    """A run that took longer than the campaign's time limit for it failed with `timeout`."""
    if result.ok and result.wall_seconds > limit:
        result.errors.append(ErrorRecord(
            "timeout", f"the sandbox run took {result.wall_seconds:.0f} s, over the campaign's "
                       f"{setting} of {limit} s", "evaluate"))
    return result


def _score(exp: ExperimentDoc) -> float | None:
    """The BD-rate a finished experiment was scored at (None: failed or never scored)."""
    metrics = exp.status.metrics
    value = metrics.bd_rate if metrics is not None else None
    return value if value is not None and math.isfinite(value) else None


def _booked(exp: ExperimentDoc, calls: tuple[LLMCall, ...]) -> dict[str, Any]:
    """Status fields booking `calls` to `exp`: the ledger and the spend it sums to."""
    ledger = (*exp.status.llm_calls, *calls)
    return {"llm_calls": ledger, "cost_usd": sum(c.cost_usd for c in ledger)}


def booked_lesson(exp: ExperimentDoc, lesson: Lesson | None) -> dict[str, Any]:
    """Status fields after RecordLesson: the lesson, its calls, and that it is done."""
    text = (lesson.text if lesson else None) or exp.status.lesson
    return {"lesson": text, "learned": True, **_booked(exp, lesson.calls if lesson else ())}


def _failed_designs(exp: ExperimentDoc) -> tuple[FailedDesign, ...]:
    """The designs this experiment replaced after they failed: kept for the record and for
    reproducing the failure (the source itself is overwritten by its repair)."""
    status, spec = exp.status, exp.spec
    record = FailedDesign(spec.hypothesis, spec.codec.sha256 if spec.codec else None,
                          status.params, status.last_error)
    return (*status.failed_designs, record)[-MAX_FAILED_DESIGNS:]


def _params_of(source: str) -> dict[str, Any]:
    """The design parameters a generated or reference source declares ({} if none)."""
    try:
        return dict(space.read_params(source))
    except space.DesignSpaceError:
        return {}


class _Memo:
    """Results by experiment name, each loaded at most once per design request."""

    def __init__(self, load: Callable[[ExperimentDoc], EvaluationResult | None],
                 experiments: dict[str, ExperimentDoc]) -> None:
        self._load, self._experiments = load, experiments
        self._found: dict[str, EvaluationResult | None] = {}

    def __call__(self, name: str) -> EvaluationResult | None:
        if name not in self._found:
            exp = self._experiments.get(name)
            self._found[name] = self._load(exp) if exp is not None else None
        return self._found[name]


def _label(exp: ExperimentDoc) -> str:
    """How an earlier program is named to the model when it proposes it again."""
    status = exp.status
    if status.adopted:
        return f"experiment #{exp.sequence} (adopted as {status.version_name})"
    if status.verdict is Verdict.REJECTED:
        return f"experiment #{exp.sequence} (measured and rejected)"
    if status.last_error is not None and status.finished:
        return f"experiment #{exp.sequence} (failed in {status.last_error.stage})"
    return f"experiment #{exp.sequence}"
