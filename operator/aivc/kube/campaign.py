"""Campaigns: one kopf daemon per running Campaign, a driver of the one core.

Each tick plans with the core (`aivc.research.campaigning.plan_campaign`: parallelism,
budgets, deadline, goal, the completion rule) and carries the plan out: it creates the
Experiments the plan names — `<campaign>-<sequence:04d>`, owned by the Campaign, created or
adopted, so a restart never doubles one — writes the status patch when there is one,
publishes the gauges, and once the plan says the campaign is finished writes the finish-up
report and then the Completed status. It reads experiments from a kopf index (no API calls
while idle).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import kopf

from aivc.api import GROUP, VERSION
from aivc.api.documents import (
    CampaignDoc,
    Condition,
    ExperimentDoc,
    Json,
    Meta,
    campaign_status_json,
    find_condition,
    index_view,
    new_experiment,
    parse_campaign_status,
    set_conditions,
    status_patch,
)
from aivc.api.spec import ManifestError
from aivc.api.times import iso, parse_time
from aivc.api.types import CampaignPhase, ConditionStatus, ConditionType, Reason
from aivc.errors import AivcError
from aivc.kube import events, refusals
from aivc.kube.client import CAMPAIGNS, EXPERIMENTS, ApiError, Conflict
from aivc.kube.memo import CampaignContext, OperatorMemo
from aivc.kube.pausing import pause
from aivc.kube.store import BlockingStore
from aivc.observe import metrics
from aivc.research import anchoring, publishing
from aivc.research.campaigning import (
    CampaignPlan,
    completed,
    edit_reviewed,
    edited_since_completed,
    invalid,
    plan_campaign,
    restarted,
    still_stopped,
)
from aivc.store.base import experiment_name, new_document
from aivc.store.local import LocalStore


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CampaignDriver:
    def __init__(self, memo: OperatorMemo, body: kopf.Body, index: kopf.Index[Any, Any]) -> None:
        self.memo, self.body, self.index = memo, body, index
        self.namespace = str(body["metadata"]["namespace"])
        self.name = str(body["metadata"]["name"])
        self.status: Json = dict(body.get("status") or {})
        self.created: dict[str, dict[str, Any]] = {}

    def experiments(self) -> list[ExperimentDoc]:
        """Indexed experiments, plus ones we created that the watch has not delivered yet."""
        found = self.index.get((self.namespace, self.name))
        docs = {d["metadata"]["name"]: d for d in (found or [])}
        for name in [n for n in self.created if n in docs]:
            del self.created[name]  # the index has it now; later it may even be deleted
        parsed = [ExperimentDoc.parse(d) for d in [*docs.values(), *self.created.values()]]
        return sorted(parsed, key=lambda e: e.sequence)

    def document(self) -> CampaignDoc:
        """The live body with the status this driver last wrote; `ManifestError` if invalid."""
        return CampaignDoc.parse({**self.body, "status": self.status})

    async def run(self, stopped: kopf.DaemonStopped) -> None:
        ctx = await self._context()
        started = parse_campaign_status(self.status).start_time
        metrics.campaign_started(self.name, ctx.spec.budget.max_cost_usd, namespace=self.namespace,
                                 started_at=parse_time(started).timestamp() if started else None,
                                 llm_models=ctx.spec.llm.models_in_use() if ctx.spec.uses_llm else ())
        while not stopped:
            ctx = await self._context()  # the live body: a changed spec applies at once
            try:
                if await self.tick(ctx):
                    # Wait for kopf to stop this daemon (the phase no longer matches its
                    # filter) rather than return: a daemon that returns on its own is never
                    # spawned again, and a raised budget must be able to resume it.
                    await stopped.wait()
                    return
            except ApiError as exc:
                metrics.reconcile_error("Campaign")
                if exc.retryable:
                    raise kopf.TemporaryError(f"API: {exc}", delay=self.memo.config.loops.retry_seconds) from exc
                await self._refused(exc)
                raise kopf.TemporaryError(f"API: {exc}",
                                          delay=self.memo.config.loops.refused_retry_seconds) from exc
            await pause(stopped, self.memo.config.loops.poll_seconds)

    async def _context(self) -> CampaignContext:
        try:
            self.document()
            return self.memo.context(self.namespace, self.name, dict(self.body))
        except ManifestError as exc:
            await self._write(invalid(parse_campaign_status(self.status), str(exc), now()))
            events.post(self._reference(), Reason.INVALID_SPEC, str(exc), warning=True)
            raise kopf.PermanentError(f"invalid Campaign: {exc}") from exc

    async def tick(self, ctx: CampaignContext) -> bool:
        """Carry out one plan; True once the campaign is complete."""
        campaign = self.document()
        plan = plan_campaign(campaign, self.experiments(), now())
        for sequence in plan.create:
            await self._create(sequence)
        if plan.status_patch:
            await self._write(plan.status_patch)
        access = find_condition(parse_campaign_status(self.status).conditions, ConditionType.API_ACCESS)
        if access is not None and access.status is ConditionStatus.FALSE:
            await self._set_condition(refusals.ACCEPTED)
        publishing.gauges(self.name, ctx.spec.anchor, plan.gauges, namespace=self.namespace)
        if plan.finished:
            await self._finish(ctx, campaign, plan)
            return True
        return False

    async def _create(self, sequence: int) -> None:
        """Create (or adopt after a restart) the experiment with this sequence number."""
        name = experiment_name(self.name, sequence)
        spec, labels = new_experiment(self.name, sequence)
        doc = new_document("Experiment", name, spec, owner=dict(self.body), labels=labels)
        meta = {k: v for k, v in doc["metadata"].items() if k not in ("uid", "creationTimestamp")}
        body = {**doc, "metadata": {**meta, "namespace": self.namespace}}
        body.pop("status", None)
        try:
            created = await self.memo.api.create(EXPERIMENTS, self.namespace, body)
        except Conflict:
            created = await self.memo.api.get(EXPERIMENTS, self.namespace, name)
            owners = {r.get("uid") for r in created["metadata"].get("ownerReferences") or []}
            if self.body["metadata"]["uid"] not in owners:
                raise kopf.TemporaryError(f"Experiment {name} belongs to an earlier campaign of this "
                                          "name; waiting for the garbage collector", delay=10) from None
        self.created[name] = index_view(name, created.get("spec") or {}, created.get("status") or {})
        events.post(self._reference(), Reason.EXPERIMENT_CREATED, f"created {name} (sequence {sequence})")

    async def _write(self, patch: Json) -> None:
        doc = await self.memo.api.patch(CAMPAIGNS, self.namespace, self.name, {"status": patch}, "status")
        old = parse_campaign_status(self.status)
        self.status = dict(doc.get("status") or {})
        new = parse_campaign_status(self.status)
        if new.phase is not old.phase:
            events.post(doc, new.phase.value, new.stop_reason or f"campaign {new.phase.value.lower()}")

    async def _refused(self, err: ApiError) -> None:
        """A refusal people must fix: a Warning, then `ApiAccess=False` (best effort)."""
        cond = refusals.refused(err, self.memo.config.loops.refused_retry_seconds)
        events.post(self._reference(), Reason.API_REFUSED, cond.message, warning=True)
        await self._set_condition(cond)

    async def _set_condition(self, cond: Condition) -> None:
        old = parse_campaign_status(self.status)
        new = replace(old, conditions=set_conditions(old.conditions, [cond], iso(now())))
        with contextlib.suppress(ApiError):
            await self._write(status_patch(campaign_status_json(old), campaign_status_json(new)))

    async def review_edit(self) -> None:
        """A Completed campaign whose spec was edited: Running again when the edit lifts what
        stopped it (a raised budget, a later deadline); otherwise the edit is recorded as
        seen (`observedGeneration`) with an Event that says what still stops it.

        kopf does not retry an event handler, and this runs once per edit: a transient API
        error is retried here."""
        for attempt in range(3):
            try:
                return await self._review_edit()
            except ApiError as exc:
                if not exc.retryable:
                    await self._refused(exc)
                    return
                if attempt == 2:
                    raise
                await asyncio.sleep(self.memo.config.loops.retry_seconds)

    async def _review_edit(self) -> None:
        try:
            campaign = self.document()
        except ManifestError:
            return  # the daemon reports an invalid spec when it runs
        uid, generation = str(self.body["metadata"].get("uid")), campaign.meta.generation
        if not edited_since_completed(generation, campaign.status) \
                or self.memo.reviewed.get(uid) == generation:
            return  # reviewed already: this event was queued before that write
        reason = still_stopped(campaign, self.experiments(), now())
        if reason is None:
            await self._write(restarted(campaign, now()))
            events.post(self._reference(), Reason.RESUMED,
                        "the edited spec lets the campaign go on: Running again")
        else:
            await self._write(edit_reviewed(campaign))
            events.post(self._reference(), Reason.COMPLETED,
                        f"the edited spec still stops the campaign: {reason}")
        if generation is not None:
            self.memo.reviewed[uid] = generation

    def _reference(self) -> Json:
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Campaign",
                "metadata": {k: self.body["metadata"].get(k) for k in ("name", "namespace", "uid")}}

    async def _finish(self, ctx: CampaignContext, campaign: CampaignDoc, plan: CampaignPlan) -> None:
        """Finish-up: the campaign report (when asked for), then the Completed status.

        The report comes first: once the status says Completed, kopf stops this daemon. The
        status carries the generation this plan read: an edit that landed meanwhile is ahead
        of it and is reviewed (`review_edit`).
        """
        path = None
        if ctx.spec.finish_report:
            out = self.memo.config.data_dir / self.namespace / "reports" / self.name
            try:
                anchors = anchoring.for_clips(await self.memo.anchors(ctx), plan.report_clips)
                path = await asyncio.to_thread(self._report, out, anchors, asyncio.get_running_loop())
            except (AivcError, OSError, ValueError) as exc:
                events.post(self._reference(), Reason.REPORT_FAILED, str(exc), warning=True)
        await self._write(completed(campaign, plan, now(), None if path is None else str(path)))
        metrics.campaign_stopped(self.name, namespace=self.namespace)
        self.memo.forget(self.namespace, self.name)

    def _report(self, out: Path, anchors: anchoring.Anchors, loop: asyncio.AbstractEventLoop) -> Path:
        """The local-mode report, written from the API's documents (runs in a thread)."""
        from aivc.research import report

        store = BlockingStore(self.memo.store(self.namespace), loop)
        return Path(report.write_report(cast(LocalStore, store), self.name, out, anchors=anchors))


def register(registry: kopf.OperatorRegistry) -> None:
    """The Campaign handlers: indexes of campaigns and of experiments, and the campaign daemon."""

    @kopf.index(GROUP, VERSION, "campaigns", registry=registry, id="campaigns")
    def campaigns(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
        meta = body.get("metadata") or {}
        keep = {k: meta.get(k) for k in ("name", "namespace", "uid", "generation")}
        return {(namespace, name): {"apiVersion": body.get("apiVersion"), "kind": "Campaign",
                                    "metadata": keep, "spec": dict(body.get("spec") or {})}}

    @kopf.index(GROUP, VERSION, "experiments", registry=registry, id="campaign_experiments")
    def campaign_experiments(namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status,
                             **_: Any) -> dict[Any, Any]:
        return {(namespace, spec.get("campaign")): index_view(name, dict(spec), dict(status))}

    @kopf.daemon(GROUP, VERSION, "campaigns", registry=registry, id="campaign",
                 when=lambda status, **_: status.get("phase") not in (CampaignPhase.COMPLETED,
                                                                       CampaignPhase.FAILED),
                 errors=kopf.ErrorsMode.TEMPORARY, backoff=10, cancellation_timeout=5.0)
    async def campaign(body: kopf.Body, stopped: kopf.DaemonStopped, memo: OperatorMemo,
                       campaign_experiments: kopf.Index[Any, Any] | None = None, **_: Any) -> None:
        assert campaign_experiments is not None  # kopf passes every index to every handler
        await CampaignDriver(memo, body, campaign_experiments).run(stopped)

    # Level-triggered, not an on.update handler: a change handler filtered on the phase
    # leaves kopf blind to the spec until the phase matches, so an edit that arrives with the
    # Completed status (or while the daemon completes under the spec it read) would be taken
    # as the spec kopf first saw and never handled. Every event of a Completed campaign whose
    # generation is ahead of `observedGeneration` is reviewed instead, whatever the order.
    @kopf.on.event(GROUP, VERSION, "campaigns", registry=registry, id="review-edit",
                   when=lambda type, body, **_: type != "DELETED" and _edited(body))
    async def review_edit(body: kopf.Body, memo: OperatorMemo,
                          campaign_experiments: kopf.Index[Any, Any] | None = None, **_: Any) -> None:
        assert campaign_experiments is not None
        await CampaignDriver(memo, body, campaign_experiments).review_edit()


def _edited(body: kopf.Body) -> bool:
    """`edited_since_completed` on a raw body, its spec left unparsed (False for one going)."""
    meta = body.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return False
    return edited_since_completed(Meta.parse(meta).generation, parse_campaign_status(body.get("status")))
