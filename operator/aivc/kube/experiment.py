"""Experiments: one kopf daemon per Experiment in flight drives it through the phase machine.

The daemon is the only writer of its Experiment's status, so there are no races between
handlers. Each tick reads the state from the status, lets the machine decide
(`phases.step`), persists the transition in one status patch, then acts. The work owed is
read back from the persisted phase (`phases.resume_action`), so a daemon restarted at any
point — operator restart, peering hand-over, a retry after an API error — carries on.
kopf only runs the daemon while the experiment is in flight or still owes its git commit
(`in_flight`), so finished Experiments carry no finalizer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import kopf

import aivc.kube.annotations as notes
from aivc.errors import AivcError
from aivc.kube import events, jobs
from aivc.kube.client import EXPERIMENTS, ApiError
from aivc.kube.memo import OperatorMemo
from aivc.kube.stages import Stages
from aivc.observe import metrics
from aivc.research import history
from aivc.research.labwork import Step
from aivc.research.phases import (
    Decision,
    ExecutionFailed,
    HumanDecision,
    IllegalTransition,
    Phase,
    RequestDesign,
    RunAnalysis,
    RunExecution,
    RunValidation,
    Start,
    ValidationFailed,
    resume_action,
    step,
)
from aivc.research.spec import GROUP, VERSION, ManifestError
from aivc.research.status import state_from_status, state_to_status
from aivc.store.base import StoreError, now_iso

OUTCOMES = {"Adopted": "adopted", "Rejected": "rejected", "Skipped": "skipped"}
log = logging.getLogger("aivc.operator")


def owes_commit(status: dict[str, Any]) -> bool:
    """Adopted, not committed yet, and no failed attempt this operator already reported."""
    failed = any(c.get("type") == "Committed" and c.get("status") == "False"
                 for c in status.get("conditions") or [])
    return status.get("verdict") == "Adopted" and not status.get("commit") and not failed


def in_flight(status: dict[str, Any]) -> bool:
    phase = status.get("phase") or Phase.PENDING.value
    return phase not in (Phase.SUCCEEDED, Phase.FAILED) or owes_commit(status)


def _parse(ts: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")) if ts else None


class ExperimentDriver:
    """Drives one Experiment (see the module docstring)."""

    def __init__(self, memo: OperatorMemo, body: kopf.Body, jobs_index: kopf.Index[Any, Any],
                 campaigns: kopf.Index[Any, Any]) -> None:
        self.memo, self.body, self.jobs_index, self.campaigns = memo, body, jobs_index, campaigns
        self.namespace = str(body["metadata"]["namespace"])
        self.name = str(body["metadata"]["name"])
        self.doc: dict[str, Any] = {k: body.get(k) for k in ("apiVersion", "kind", "metadata", "spec")}
        self.doc["status"] = dict(body.get("status") or {})
        self.campaign = str((body.get("spec") or {}).get("campaign", ""))
        self.stale_versions: set[str] = set()  # bodies whose decision annotation we handled
        self.stages: Stages | None = None
        self.blocked: str | None = None

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.doc.get("status") or {})

    async def run(self, stopped: kopf.DaemonStopped) -> None:
        """Tick until the experiment is done; kopf retries us after `TemporaryError`s."""
        while not stopped:
            try:
                progressed = await self.tick()
            except (ApiError, AivcError) as exc:
                raise self._retry(exc) from exc
            if not in_flight(self.status):
                return
            if not progressed:
                await stopped.wait(self.memo.config.loops.poll_seconds)

    def _retry(self, exc: Exception) -> kopf.TemporaryError:
        """API trouble: retry soon. A problem people must fix (campaign, spec): say so, wait."""
        metrics.reconcile_error("Experiment")
        cause = exc.__cause__ if isinstance(exc, StoreError) else exc
        if isinstance(cause, ApiError):
            delay = self.memo.config.loops.retry_seconds if cause.retryable else 30.0
            return kopf.TemporaryError(f"API: {cause}", delay=delay)
        if str(exc) != self.blocked:  # one Warning per distinct problem, not one per retry
            self.blocked = str(exc)
            events.post(self.doc, "Blocked", str(exc), warning=True)
        return kopf.TemporaryError(str(exc), delay=60)

    async def tick(self) -> bool:
        """Do the next piece of work; False when waiting (a Job, a person)."""
        found = self.campaigns.get((self.namespace, self.campaign))
        campaign = next(iter(found), None) if found is not None else None
        if campaign is None:
            raise ManifestError(f"spec.campaign: no Campaign {self.campaign!r} in {self.namespace}")
        ctx = self.memo.context(self.namespace, self.campaign, dict(campaign))
        if self.stages is None or self.stages.ctx is not ctx:
            self.stages = Stages(self.memo, ctx, self.namespace, self.name, self.jobs_index)
        if await self._decision():
            return True
        state = state_from_status(self.status)
        if state.phase is Phase.PENDING:
            await self.transition(Step(Start(), {"startTime": now_iso()}))
            return True
        match resume_action(state):
            case RequestDesign() as action:
                await self.transition(await self.stages.design(self.doc, action))
            case RunValidation():
                return await self._sandbox(jobs.Stage.VALIDATION)
            case RunExecution():
                return await self._sandbox(jobs.Stage.EXECUTION)
            case RunAnalysis():
                async with ctx.analysis_lock:
                    work, experiments = await self.stages.analyze(self.doc)
                    await self.transition(work)
                await self._commit(experiments)
            case None:
                if owes_commit(self.status):
                    await self._commit(await self.stages.experiments())
                return False
        return True

    async def _sandbox(self, stage: jobs.Stage) -> bool:
        assert self.stages is not None
        work = await self.stages.sandbox(self.doc, stage)
        if work is None:
            return False
        if isinstance(work.event, (ValidationFailed, ExecutionFailed)):
            metrics.sandbox_failed(self.campaign, stage.value, work.event.category)
        await self.transition(work)
        return True

    # ---- transitions ---------------------------------------------------------------------

    async def transition(self, work: Step) -> None:
        """Feed the event to the machine and persist the result in one status patch."""
        assert self.stages is not None
        old_status = self.status
        old = state_from_status(old_status)
        result = step(old, work.event, self.stages.ctx.spec.limits)
        new = result.state
        if work.spec:
            self.doc = await self.memo.api.patch(EXPERIMENTS, self.namespace, self.name,
                                                 {"spec": work.spec})
        detail = _detail(work)
        status: dict[str, Any] = {**work.status, **state_to_status(new)}
        if new.phase is not old.phase:
            status["phaseSince"] = now_iso()
        if new.version is not None:
            status["versionName"] = history.version_name(new.version)
        if new.terminal:
            status["completionTime"] = now_iso()
        status["conditions"] = events.set_conditions(
            old_status.get("conditions"), *events.transition_conditions(old, new, detail))
        self.doc = await self.memo.api.patch(EXPERIMENTS, self.namespace, self.name,
                                             {"status": status}, "status")
        self._observe(old_status, old, new, detail)
        if new.terminal and new.verdict is not None and new.verdict.value != "Skipped":
            await self._learn()

    def _observe(self, old_status: dict[str, Any], old: Any, new: Any, detail: str | None) -> None:
        """Events and metrics for a transition that has been persisted."""
        if new.phase is old.phase:
            return
        since = _parse(old_status.get("phaseSince"))
        seconds = (dt.datetime.now(dt.UTC) - since).total_seconds() if since else None
        metrics.phase_changed(self.campaign, old.phase.value, new.phase.value, seconds)
        warning = new.phase in events.WARNING_PHASES or (
            new.phase is Phase.DESIGNING and new.last_error is not None and old.phase is not Phase.PENDING)
        message = events.phase_message(old, new, detail, self.name)
        log.info("%s/%s: %s", self.namespace, self.name, message)
        events.post(self.doc, new.phase.value, message, warning=warning)
        if old.phase is Phase.ANALYZING:
            m = self.status.get("metrics") or {}
            if isinstance(m.get("kbps"), (int, float)) and isinstance(m.get("psnrY"), (int, float)):
                metrics.measured(self.campaign, self.stages.ctx.spec.anchor if self.stages else "x264",
                                 history.sequence_of(self.doc), m.get("bdRate"), m["kbps"], m["psnrY"])
        if new.terminal:
            verdict = new.verdict.value if new.verdict else "Failed"
            metrics.experiment_finished(self.campaign, OUTCOMES.get(verdict, "failed"))

    async def _learn(self) -> None:
        """Let a planner that did not replay this outcome learn from it (RecordLesson)."""
        assert self.stages is not None
        ctx = self.stages.ctx
        outcome = history.outcome_of(self.doc)
        if ctx.planner is None or outcome is None or self.name in ctx.replayed:
            return  # a planner built later replays it from the documents
        ctx.replayed.add(self.name)
        async with ctx.design_lock:
            lesson = await asyncio.to_thread(ctx.planner.learn, outcome)
        if lesson:
            self.doc = await self.memo.api.patch(EXPERIMENTS, self.namespace, self.name,
                                                 {"status": {"lesson": lesson}}, "status")

    async def _commit(self, experiments: list[dict[str, Any]]) -> None:
        """Commit an adopted version to the campaign's evolution branch (CommitVersion)."""
        if self.stages is not None and owes_commit(self.status):
            self.doc = await self.stages.commit(self.doc, experiments)

    # ---- people's decisions ------------------------------------------------------------------

    async def _decision(self) -> bool:
        """Apply (or refuse) a decision annotation; True when one was handled."""
        meta = dict(self.body.get("metadata") or {})
        if meta.get("resourceVersion") in self.stale_versions:
            return False
        found = notes.read_decision(meta)
        if found is None:
            return False
        self.stale_versions.add(str(meta.get("resourceVersion")))
        phase = self.status.get("phase")
        if isinstance(found, notes.InvalidDecision):
            events.post(self.doc, "InvalidDecision", found.message, warning=True)
        elif phase != Phase.NEEDS_HUMAN:
            events.post(self.doc, "DecisionIgnored", f"{self.name} is {phase}, not NeedsHuman: "
                        f"ignored aivc.dev/decision={found.decision.value}", warning=True)
        else:
            await self._apply(found)
        self.doc = await self.memo.api.patch(EXPERIMENTS, self.namespace, self.name,
                                             notes.clearing_patch())
        return True

    async def _apply(self, found: notes.DecisionRequest) -> None:
        assert self.stages is not None
        record = found.record(now_iso())
        async with self.stages.ctx.analysis_lock:
            version = None
            experiments: list[dict[str, Any]] = []
            if found.decision is Decision.ADOPT:
                experiments = await self.stages.experiments()
                version = history.next_version(experiments)
            event = HumanDecision(found.decision, note=found.note, version=version)
            try:
                await self.transition(Step(event, {"decision": record}))
            except IllegalTransition as exc:
                events.post(self.doc, "DecisionRefused", f"cannot {found.decision.value}: {exc}",
                            warning=True)
                return
            self.stale_versions.add(str(self.doc["metadata"].get("resourceVersion")))
        events.post(self.doc, "DecisionApplied", f"{record['by']} decided {found.decision.value}"
                    + (f" ({found.note})" if found.note else ""))
        if found.decision is Decision.ADOPT:
            await self._commit(experiments)


def _detail(work: Step) -> str | None:
    analysis = work.status.get("analysis") or {}
    if analysis.get("reason"):
        return str(analysis["reason"])
    hypothesis = (work.spec or {}).get("hypothesis")
    return str(hypothesis)[:300] if hypothesis else None


def register(registry: kopf.OperatorRegistry) -> None:
    """The Experiment handlers: a Job index and the per-experiment daemon."""

    @kopf.index("batch", "v1", "jobs", registry=registry, id="sandbox_jobs",
                labels={"app.kubernetes.io/managed-by": "aivc"})
    def sandbox_jobs(namespace: str | None, name: str, status: kopf.Status, **_: Any) -> dict[Any, Any]:
        return {(namespace, name): {"metadata": {"name": name}, "status": dict(status)}}

    @kopf.daemon(GROUP, VERSION, "experiments", registry=registry, id="experiment",
                 when=lambda status, **_: in_flight(dict(status)),
                 errors=kopf.ErrorsMode.TEMPORARY, backoff=10, cancellation_timeout=5.0)
    async def experiment(body: kopf.Body, stopped: kopf.DaemonStopped, memo: OperatorMemo,
                         sandbox_jobs: kopf.Index[Any, Any] | None = None,
                         campaigns: kopf.Index[Any, Any] | None = None, **_: Any) -> None:
        assert sandbox_jobs is not None and campaigns is not None  # kopf passes every index
        await ExperimentDriver(memo, body, sandbox_jobs, campaigns).run(stopped)
