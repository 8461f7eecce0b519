"""Experiments: one kopf daemon per Experiment in flight, a driver of the one core.

The daemon is the only writer of its Experiment's status, so there are no races between
handlers. Each tick applies a person's decision if one was left (`driving.decide`), reads
the work owed from the persisted phase (`driving.owed`), does it (`stages`: the planner in
a thread, or a sandbox Job), and hands the result to the core (`driving.transition`); it
persists the plan in one status patch, then publishes it (metrics, Events) and carries out
its actions in order (commit, lesson). So a daemon restarted at any point — operator
restart, peering hand-over, a retry after an API error — carries on, and local mode does
exactly the same with its own I/O. kopf runs the daemon only while the experiment is owed
work (`driving.needs_driving`), so finished Experiments carry no finalizer.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any

import kopf

from aivc.api import GROUP, VERSION
from aivc.api.documents import (
    Condition,
    ExperimentDoc,
    find_condition,
    set_conditions,
    status_update,
)
from aivc.api.spec import ManifestError
from aivc.api.times import iso
from aivc.api.types import ConditionStatus, ConditionType, Reason
from aivc.errors import AivcError
from aivc.kube import events, jobs, refusals
from aivc.kube.client import EXPERIMENTS, ApiError
from aivc.kube.memo import OperatorMemo
from aivc.kube.pausing import pause
from aivc.kube.stages import Stages
from aivc.observe import metrics
from aivc.research import history, publishing
from aivc.research.driving import (
    ExperimentPlan,
    Said,
    Work,
    decide,
    needs_driving,
    owed,
    transition,
)
from aivc.research.labwork import booked_lesson
from aivc.research.phases import (
    CommitVersion,
    RecordLesson,
    RequestDesign,
    RunAnalysis,
    RunExecution,
    RunValidation,
    Start,
)
from aivc.store.base import StoreError

log = logging.getLogger("aivc.operator")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ExperimentDriver:
    """Drives one Experiment (see the module docstring)."""

    def __init__(self, memo: OperatorMemo, body: kopf.Body, jobs_index: kopf.Index[Any, Any],
                 campaigns: kopf.Index[Any, Any]) -> None:
        self.memo, self.body, self.jobs_index, self.campaigns = memo, body, jobs_index, campaigns
        self.namespace = str(body["metadata"]["namespace"])
        self.name = str(body["metadata"]["name"])
        self.doc = ExperimentDoc.parse(body)
        self.stale_versions: set[str] = set()  # bodies whose decision annotation we handled
        self.stages: Stages | None = None
        self.blocked: str | None = None

    async def run(self, stopped: kopf.DaemonStopped) -> None:
        """Tick until the experiment is done; kopf retries us after `TemporaryError`s."""
        while not stopped:
            try:
                progressed = await self.tick()
            except (ApiError, AivcError) as exc:
                await self._refused(exc)
                raise self._retry(exc) from exc
            if progressed:
                await self._accepted()
            if not needs_driving(self.doc):
                return
            if not progressed:
                await pause(stopped, self.memo.config.loops.poll_seconds)

    async def _refused(self, exc: Exception) -> None:
        """A refusal people must fix: a Warning, then `ApiAccess=False` (best effort: the
        refused request may be this very status patch)."""
        err = refusals.refusal(exc)
        if err is None or str(err) == self.blocked:
            return
        self.blocked = str(err)
        cond = refusals.refused(err, self.memo.config.loops.refused_retry_seconds)
        events.post(self.doc.reference(), Reason.API_REFUSED, cond.message, warning=True)
        await self._condition(cond)

    async def _accepted(self) -> None:
        """Clear an `ApiAccess=False` left by a refusal, once a tick went through."""
        found = find_condition(self.doc.status.conditions, ConditionType.API_ACCESS)
        if found is not None and found.status is ConditionStatus.FALSE:
            await self._condition(refusals.ACCEPTED)

    async def _condition(self, cond: Condition) -> None:
        patch = status_update(self.doc, conditions=set_conditions(
            self.doc.status.conditions, [cond], iso(now())))
        with contextlib.suppress(ApiError):
            body = await self.memo.api.patch(EXPERIMENTS, self.namespace, self.name,
                                             {"status": patch}, "status")
            self.doc = ExperimentDoc.parse(body)

    def _retry(self, exc: Exception) -> kopf.TemporaryError:
        """API trouble: retry soon. A problem people must fix (campaign, spec): say so, wait."""
        metrics.reconcile_error("Experiment")
        cause = exc.__cause__ if isinstance(exc, StoreError) else exc
        if isinstance(cause, ApiError):
            loops = self.memo.config.loops
            delay = loops.retry_seconds if cause.retryable else loops.refused_retry_seconds
            return kopf.TemporaryError(f"API: {cause}", delay=delay)
        if str(exc) != self.blocked:  # one Warning per distinct problem, not one per retry
            self.blocked = str(exc)
            events.post(self.doc.reference(), Reason.BLOCKED, str(exc), warning=True)
        return kopf.TemporaryError(str(exc), delay=60)

    async def tick(self) -> bool:
        """Do the next piece of work; False when waiting (a Job, a person)."""
        found = self.campaigns.get((self.namespace, self.doc.campaign))
        campaign = next(iter(found), None) if found is not None else None
        if campaign is None:
            raise ManifestError(f"spec.campaign: no Campaign {self.doc.campaign!r} in {self.namespace}")
        ctx = self.memo.context(self.namespace, self.doc.campaign, dict(campaign))
        if self.stages is None or self.stages.ctx is not ctx:
            self.stages = Stages(self.memo, ctx, self.namespace, self.name, self.jobs_index)
        stages = self.stages
        if await self._decision():
            return True
        work_owed = owed(self.doc, now())
        if work_owed is None:
            return False  # nothing, a person, or a held design: look again after a poll
        match work_owed.action:
            case Start():
                await self._apply(Work(Start()))
            case RequestDesign() as action:
                await self._apply(await stages.design(self.doc, action))
            case RunValidation():
                return await self._sandbox(jobs.Stage.VALIDATION)
            case RunExecution():
                return await self._sandbox(jobs.Stage.EXECUTION)
            case RunAnalysis():
                async with ctx.analysis_lock:
                    plan = transition(self.doc, await stages.analyze(self.doc), ctx.spec.limits, now())
                    await self._persist(plan)
                await self._act(plan)
            case CommitVersion():
                self.doc = await stages.commit(self.doc)
            case RecordLesson():
                await self._learn()
        return True

    async def _sandbox(self, stage: jobs.Stage) -> bool:
        assert self.stages is not None
        work = await self.stages.sandbox(self.doc, stage)
        if work is None:
            return False
        await self._apply(work)
        return True

    # ---- carrying out the core's plan ------------------------------------------------------

    async def _apply(self, work: Work) -> None:
        assert self.stages is not None
        plan = transition(self.doc, work, self.stages.ctx.spec.limits, now())
        await self._persist(plan)
        await self._act(plan)

    async def _persist(self, plan: ExperimentPlan) -> None:
        """One spec patch (if any) and one status patch, then what the transition observed."""
        if plan.spec_patch:
            await self.memo.api.patch(EXPERIMENTS, self.namespace, self.name, {"spec": plan.spec_patch})
        body = await self.memo.api.patch(EXPERIMENTS, self.namespace, self.name,
                                         {"status": plan.status_patch}, "status")
        self.doc = ExperimentDoc.parse(body)
        assert self.stages is not None
        publishing.observations(self.stages.ctx.spec.anchor, plan.observations,
                                namespace=self.namespace)
        for said in plan.observations:
            if isinstance(said, Said):
                log.info("%s/%s: %s", self.namespace, self.name, said.message)
                events.post(self.doc.reference(), said.reason, said.message, warning=said.warning)

    async def _act(self, plan: ExperimentPlan) -> None:
        """The plan's actions, in its order; NotifyHuman's Event was posted with the plan."""
        assert self.stages is not None
        for action in plan.actions:
            match action:
                case CommitVersion():
                    self.doc = await self.stages.commit(self.doc)
                case RecordLesson():
                    await self._learn()

    async def _learn(self) -> None:
        """RecordLesson: the campaign's planner learns from this outcome and the lesson is kept.

        A planner not built yet is built now from the other finished experiments, so the
        lesson never depends on whether this operator happened to hold one in memory (local
        mode's planner always does); one that replayed this outcome already has learned it.
        """
        assert self.stages is not None
        ctx = self.stages.ctx
        if history.outcome_of(self.doc) is None:
            return
        experiments = await self.stages.experiments()
        if ctx.planner is None:
            await self.memo.planner(ctx, [e for e in experiments if e.name != self.name])
        lab = await self.stages.lab(experiments)
        outcome = await asyncio.to_thread(lab.outcome_of, self.doc, experiments)
        lesson = None
        if outcome is not None and ctx.planner is not None and self.name not in ctx.replayed:
            async with ctx.design_lock:
                lesson = await asyncio.to_thread(ctx.planner.learn, outcome)
            ctx.replayed.add(self.name)
        patch = status_update(self.doc, **booked_lesson(self.doc, lesson))
        body = await self.memo.api.patch(EXPERIMENTS, self.namespace, self.name,
                                         {"status": patch}, "status")
        self.doc = ExperimentDoc.parse(body)

    # ---- people's decisions ------------------------------------------------------------------

    async def _decision(self) -> bool:
        """Apply (or refuse) a decision annotation; True when one was handled."""
        meta = dict(self.body.get("metadata") or {})
        if meta.get("resourceVersion") in self.stale_versions or not meta.get("annotations"):
            return False
        current = ExperimentDoc.parse({**self.body, "status": dict(self.body.get("status") or {})})
        if current.meta.decision is None:
            return False
        self.stale_versions.add(str(meta.get("resourceVersion")))
        assert self.stages is not None
        async with self.stages.ctx.analysis_lock:
            experiments = await self.stages.experiments()
            fresh = next((e for e in experiments if e.name == self.name), None)
            doc = ExperimentDoc(current.meta, fresh.spec, fresh.status) if fresh else current
            found = decide(doc, history.next_version(experiments), self.stages.ctx.spec.limits,
                           now(), by=doc.meta.decision_by, at=doc.meta.decision_at)
            if found is not None and found.applied is not None:
                self.doc = doc
                await self._persist(found.applied)
        if found is None:
            return False
        for said in found.observations:
            events.post(self.doc.reference(), said.reason, said.message, warning=said.warning)
        body = await self.memo.api.patch(EXPERIMENTS, self.namespace, self.name, found.clear)
        self.stale_versions.add(str((body.get("metadata") or {}).get("resourceVersion")))
        if found.applied is not None:
            await self._act(found.applied)
        return True


def register(registry: kopf.OperatorRegistry) -> None:
    """The Experiment handlers: a Job index and the per-experiment daemon."""

    @kopf.index("batch", "v1", "jobs", registry=registry, id="sandbox_jobs",
                labels={"app.kubernetes.io/managed-by": "aivc"})
    def sandbox_jobs(namespace: str | None, name: str, status: kopf.Status, **_: Any) -> dict[Any, Any]:
        return {(namespace, name): {"metadata": {"name": name}, "status": dict(status)}}

    @kopf.daemon(GROUP, VERSION, "experiments", registry=registry, id="experiment",
                 when=lambda body, **_: needs_driving(ExperimentDoc.parse(body)),
                 errors=kopf.ErrorsMode.TEMPORARY, backoff=10, cancellation_timeout=5.0)
    async def experiment(body: kopf.Body, stopped: kopf.DaemonStopped, memo: OperatorMemo,
                         sandbox_jobs: kopf.Index[Any, Any] | None = None,
                         campaigns: kopf.Index[Any, Any] | None = None, **_: Any) -> None:
        assert sandbox_jobs is not None and campaigns is not None  # kopf passes every index
        await ExperimentDriver(memo, body, sandbox_jobs, campaigns).run(stopped)
