"""The work behind each phase in the operator: the same steps as local mode, except the sandbox.

Design and analysis are local mode's own steps (`aivc.research.labwork.Lab`), run in a
worker thread against the Kubernetes store, so the planner, the baseline, parents, history
and adoption rules are literally the same code; each returns the same `Work` the driver core
(`aivc.research.driving`) turns into a plan. Validation and execution run as sandbox
Jobs: create-or-adopt the Job named after the experiment, stage and design generation,
wait for it through kopf's Job index, then read its pod's termination message and log
(`aivc.kube.outcomes`). Every step is safe to repeat after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import replace
from typing import Any, cast

import kopf

from aivc.api.documents import CodecRef, ExperimentDoc, Hold
from aivc.api.times import iso
from aivc.evaluate.results import EvaluationResult
from aivc.kube import infra, jobs, outcomes
from aivc.kube.client import JOBS, PODS, Conflict, NotFound
from aivc.kube.memo import CampaignContext, OperatorMemo
from aivc.kube.store import BlockingStore
from aivc.research import cascade, history
from aivc.research.driving import INFRA, Work
from aivc.research.labwork import Lab
from aivc.research.phases import Deferred, RequestDesign
from aivc.research.versions import Versioner
from aivc.store.local import LocalStore

log = logging.getLogger("aivc.operator")


class Stages:
    """One experiment's phase work (see the module docstring)."""

    def __init__(self, memo: OperatorMemo, ctx: CampaignContext, namespace: str, name: str,
                 jobs_index: kopf.Index[Any, Any]) -> None:
        self.memo, self.ctx, self.namespace, self.name = memo, ctx, namespace, name
        self.jobs_index = jobs_index
        self.store = memo.store(namespace)
        self.ensured: dict[str, float] = {}  # job name -> when we last fetched it ourselves
        self.pods_checked: dict[str, float] = {}  # job name -> when its pods were last looked at
        self.chosen: dict[tuple[int, int], cascade.Stage] = {}
        """(generation, stages done) -> the stage its Job runs (after a restart: chosen again)."""

    def _blocking(self) -> LocalStore:
        # Lab and Versioner only call the ExperimentStore methods in the steps used here;
        # LocalStore's extras (files on disk) belong to local mode's own sandbox steps.
        return cast(LocalStore, BlockingStore(self.store, asyncio.get_running_loop()))

    async def _lab(self, experiments: list[ExperimentDoc], anchors: bool) -> Lab:
        planner = await self.memo.planner(self.ctx, experiments)
        return Lab(self.ctx.spec, self._blocking(), planner,
                   await self.memo.anchors(self.ctx) if anchors else {},
                   self.memo.settings.paths.cache_dir)

    async def lab(self, experiments: list[ExperimentDoc]) -> Lab:
        """The lab without anchors (enough to draw a lesson's evidence)."""
        return await self._lab(experiments, anchors=False)

    async def experiments(self) -> list[ExperimentDoc]:
        """The campaign's experiments, fresh from the API (decisions must not see stale ones)."""
        docs = await self.store.list("Experiment", campaign=self.ctx.name)
        return sorted((ExperimentDoc.parse(d) for d in docs), key=lambda e: e.sequence)

    # ---- design ------------------------------------------------------------------------

    async def design(self, exp: ExperimentDoc, action: RequestDesign) -> Work:
        experiments = await self.experiments()
        lab = await self._lab(experiments, anchors=True)  # the prompt shows the anchors' curves
        async with self.ctx.design_lock:
            work = await asyncio.to_thread(lab.design, exp, action, experiments)
        codec = work.spec.get("codec")
        if not isinstance(codec, CodecRef):
            return work
        ref = replace(codec, config_map=jobs.codec_configmap_name(self.name), key=jobs.CODEC_KEY)
        return replace(work, spec={**work.spec, "codec": ref})

    # ---- analysis ------------------------------------------------------------------------

    async def analyze(self, exp: ExperimentDoc) -> Work:
        """Called under the campaign's analysis lock; the version is the next free one."""
        experiments = await self.experiments()
        lab = await self._lab(experiments, anchors=True)
        version = history.next_version(experiments)
        return await asyncio.to_thread(lab.analyze, exp, experiments, version)

    async def commit(self, exp: ExperimentDoc) -> ExperimentDoc:
        """Commit an adopted version to the campaign's evolution branch (git, in a thread).

        A failed commit is recorded as `Committed=False` and never loses the adoption.
        """
        run_dir = self.memo.config.data_dir / self.namespace
        versioner = Versioner(self.ctx.spec, self._blocking(), run_dir, log.info,
                              credentials=await self.memo.git_credentials(self.ctx),
                              uid=self.ctx.uid)
        return await asyncio.to_thread(versioner.adopt, exp)

    # ---- the sandbox -----------------------------------------------------------------------

    async def sandbox(self, exp: ExperimentDoc, stage: jobs.Stage) -> Work | None:
        """The stage's result once its Job finished; None while it runs.

        An execution runs the evaluation cascade's next stage (`aivc.research.cascade`), one
        Job per stage; what the stage means is decided by local mode's own step
        (`Lab.stage_work`), so both drivers go through the same stages.
        """
        generation = exp.status.generation
        step: cascade.Stage | None = None
        experiments: list[ExperimentDoc] = []
        if stage is jobs.Stage.EXECUTION:
            experiments = await self.experiments()
            key = (generation, len(exp.status.cascade.stages))
            step = self.chosen.get(key)
            if step is None:  # chosen once: a best adopted meanwhile must not change the Job
                step = (await self._lab(experiments, anchors=False)).stage_now(exp, experiments)
                self.chosen[key] = step
        hold = exp.status.hold
        retry = hold.count if hold is not None and hold.category == INFRA else 0
        part = "-".join(p for p in (step.part if step else "", f"r{retry}" if retry else "") if p)
        measurement = jobs.Measurement(part=part) if step is None else \
            jobs.Measurement(step.clips, step.levels, step.redecode, part)
        name = jobs.job_name(self.name, stage, generation, part)
        if name not in self.ensured:
            await self._ensure_job(exp, stage, generation, measurement)
        job = await self._observe(name)
        if job is None:
            fault = await self._running_fault(name)
            return None if fault is None else await self._infra(exp, name, fault, retry)
        pods = await self.memo.api.list(PODS, self.namespace, {"job-name": name})
        pod = outcomes.newest_pod(pods)
        limit = self.ctx.spec.validation_timeout_s if stage is jobs.Stage.VALIDATION \
            else self.ctx.spec.execution_timeout_s
        fault = infra.finished_fault(job, pod, limit)
        if fault is not None:
            return await self._infra(exp, name, fault, retry)
        log = None
        if stage is jobs.Stage.EXECUTION and pod is not None:
            try:
                log = await self.memo.api.logs(self.namespace, pod["metadata"]["name"], jobs.CONTAINER)
            except NotFound:
                log = None  # gone with its node: the termination message still has the summary
        sha = exp.spec.codec.sha256 if exp.spec.codec else None
        done = outcomes.finished(stage, job, pod, log, sha)
        fields = {**done.status, "jobs": {**exp.status.jobs, stage.value: name}}
        results = done.status.get("results")
        if stage is jobs.Stage.VALIDATION:
            experiments = await self.experiments()
            lab = await self._lab(experiments, anchors=False)
            return await asyncio.to_thread(lab.after_validation, exp, Work(done.event, fields),
                                           experiments)
        if step is None or results is None:
            return Work(done.event, fields)
        lab = await self._lab(experiments, anchors=True)
        work = await asyncio.to_thread(lab.stage_work, exp, step.name,
                                       EvaluationResult.from_dict(results), experiments)
        return Work(work.event, {**fields, **work.status})

    async def _running_fault(self, name: str) -> infra.InfraFault | None:
        """A running Job's pod the cluster cannot run (looked at once per resync)."""
        checked = self.pods_checked.get(name, 0.0)
        if time.monotonic() - checked < self.memo.config.loops.resync_seconds:
            return None
        self.pods_checked[name] = time.monotonic()
        pods = await self.memo.api.list(PODS, self.namespace, {"job-name": name})
        return infra.running_fault(pods, dt.datetime.now(dt.UTC),
                                   self.memo.config.jobs.unschedulable_grace_seconds)

    async def _infra(self, exp: ExperimentDoc, name: str, fault: infra.InfraFault,
                     retry: int) -> Work:
        """The cluster could not run the Job: delete it and hold the stage for a back-off."""
        with contextlib.suppress(NotFound):
            await self.memo.api.delete(JOBS, self.namespace, name)
        self.ensured.pop(name, None)
        settings = self.memo.config.jobs
        wait = min(settings.infra_backoff_seconds * 2 ** retry, settings.infra_backoff_max_seconds)
        until = iso(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait))
        hold = Hold(INFRA, f"Job {name}: {fault.message}"[:500], until, fault.reason, retry + 1)
        return Work(Deferred(INFRA, f"{fault.reason}: {fault.message}"), {"hold": hold})

    async def _ensure_job(self, exp: ExperimentDoc, stage: jobs.Stage, generation: int,
                          measurement: jobs.Measurement | None) -> None:
        """Create the Job, or adopt the one a previous run of the operator created."""
        body = jobs.build_sandbox_job(exp.reference(), self.ctx.spec, stage, generation,
                                      self.memo.config.jobs, measurement)
        name = body["metadata"]["name"]
        try:
            await self.memo.api.create(JOBS, self.namespace, body)
        except Conflict:
            existing = await self.memo.api.get(JOBS, self.namespace, name)
            owners = {ref.get("uid") for ref in existing["metadata"].get("ownerReferences") or []}
            if exp.meta.uid not in owners:
                raise kopf.TemporaryError(f"Job {name} belongs to an earlier experiment of this "
                                          "name; waiting for the garbage collector", delay=10) from None
        self.ensured[name] = time.monotonic()

    async def _observe(self, name: str) -> dict[str, Any] | None:
        """The Job once finished: from kopf's index, or fetched when the index is quiet."""
        found = self.jobs_index.get((self.namespace, name))
        job = next(iter(found), None) if found is not None else None
        if job is not None and outcomes.job_done(job):
            return dict(job)
        since = time.monotonic() - self.ensured[name]
        if since < self.memo.config.loops.resync_seconds:
            return None
        self.ensured[name] = time.monotonic()
        try:
            job = await self.memo.api.get(JOBS, self.namespace, name)
        except NotFound:
            del self.ensured[name]  # gone before we read it: run it again
            return None
        return job if outcomes.job_done(job) else None
