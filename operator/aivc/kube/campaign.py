"""Campaigns: one kopf daemon per running Campaign creates Experiments and keeps its status.

Each tick plans with the shared scheduler (`aivc.research.scheduler`: parallelism, budgets,
deadline, goal), creates the Experiments it allows — named `<campaign>-<sequence:04d>`,
owned by the Campaign, created or adopted, so a restart never doubles one — and writes the
Campaign's status (phase, counts, best version, cost, conditions) when it changed. It reads
experiments from a kopf index (no API calls while idle). The campaign completes when it has
stopped starting experiments and every experiment has finished.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any, cast

import kopf

from aivc.errors import AivcError
from aivc.kube import events
from aivc.kube.client import CAMPAIGNS, EXPERIMENTS, ApiError, Conflict
from aivc.kube.memo import CampaignContext, OperatorMemo
from aivc.observe import metrics
from aivc.research import archive, history
from aivc.research.phases import Phase
from aivc.research.scheduler import CampaignPlan, plan_campaign
from aivc.research.spec import GROUP, VERSION, ManifestError
from aivc.research.status import state_from_status, state_to_status
from aivc.store.base import experiment_name, new_document, now_iso
from aivc.store.kube import BlockingStore
from aivc.store.local import LocalStore

DROPPED = ("results", "conditions", "lesson", "decision", "validation", "execution", "jobs")


def index_entry(name: str, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """What the campaign keeps of an Experiment in memory: everything but the bulky parts."""
    kept = {k: v for k, v in status.items() if k not in DROPPED}
    if isinstance(kept.get("metrics"), dict):
        kept["metrics"] = {k: v for k, v in kept["metrics"].items() if k != "perClip"}
    return {"metadata": {"name": name}, "spec": dict(spec), "status": kept}


def best_summary(experiments: list[dict[str, Any]]) -> dict[str, Any] | None:
    best = archive.best_experiment(experiments)
    if best is None:
        return None
    m = best["status"].get("metrics") or {}
    return {"version": best["status"].get("versionName"), "experiment": best["metadata"]["name"],
            "bdRate": m.get("bdRate"), "kbps": m.get("kbps"), "psnrY": m.get("psnrY")}


def campaign_status(plan: CampaignPlan, experiments: list[dict[str, Any]], started: str,
                    old: dict[str, Any]) -> dict[str, Any]:
    """The Campaign's status for this plan (pure; `None` values clear fields)."""
    counts = plan.counts
    finished = plan.stop_reason is not None and counts.get("running", 0) == 0 \
        and counts.get("needsHuman", 0) == 0
    conds = [events.condition("Running", not finished, "Completed" if finished else "Running",
                              plan.stop_reason or "starting experiments as the budget allows")]
    if plan.stop_reason:
        waiting = counts.get("needsHuman", 0)
        conds.append(events.condition(
            "Stopping", True, "BudgetOrGoal",
            plan.stop_reason + (f"; {waiting} experiment(s) wait for a person" if waiting else "")))
    return {
        "phase": "Completed" if finished else "Running",
        "startTime": started, "stopReason": plan.stop_reason,
        "experiments": counts, "best": best_summary(experiments),
        "costUSD": round(history.spent_usd(experiments), 6),
        "conditions": events.set_conditions(old.get("conditions"), *conds),
    }


def unchanged(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """`new` already holds in `old`, condition timestamps aside (an idle campaign writes nothing)."""
    def strip(value: Any) -> Any:
        if isinstance(value, list):
            return [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in value]
        return value
    return all(strip(old.get(k)) == strip(v) for k, v in new.items())


class CampaignDriver:
    def __init__(self, memo: OperatorMemo, body: kopf.Body, index: kopf.Index[Any, Any]) -> None:
        self.memo, self.body, self.index = memo, body, index
        self.namespace = str(body["metadata"]["namespace"])
        self.name = str(body["metadata"]["name"])
        self.status: dict[str, Any] = dict(body.get("status") or {})
        self.created: dict[str, dict[str, Any]] = {}
        self.final: dict[str, Any] = {}

    def experiments(self) -> list[dict[str, Any]]:
        """Indexed experiments, plus ones we created that the watch has not delivered yet."""
        found = self.index.get((self.namespace, self.name))
        docs = {d["metadata"]["name"]: d for d in (found or [])}
        for name in [n for n in self.created if n in docs]:
            del self.created[name]  # the index has it now; later it may even be deleted
        return sorted([*docs.values(), *self.created.values()], key=history.sequence_of)

    def next_sequence(self, experiments: list[dict[str, Any]]) -> int:
        """Sequences are never reused, even after a person deletes an experiment."""
        seen = max((history.sequence_of(e) for e in experiments), default=-1) + 1
        return max(seen, int(self.status.get("nextSequence") or 0))

    async def run(self, stopped: kopf.DaemonStopped) -> None:
        ctx = await self._context()
        started = self.status.get("startTime") or now_iso()
        metrics.campaign_started(self.name, ctx.spec.budget.max_cost_usd,
                                 started_at=_parse(started).timestamp(),
                                 llm_model=ctx.spec.llm.model if ctx.spec.planner == "llm" else None)
        while not stopped:
            ctx = await self._context()  # the live body: a changed spec applies at once
            try:
                if await self.tick(ctx, started):
                    await self._finish(ctx)
                    return
            except ApiError as exc:
                metrics.reconcile_error("Campaign")
                if exc.retryable:
                    raise kopf.TemporaryError(f"API: {exc}", delay=self.memo.config.loops.retry_seconds) from exc
                raise
            await stopped.wait(self.memo.config.loops.poll_seconds)

    async def _context(self) -> CampaignContext:
        try:
            return self.memo.context(self.namespace, self.name, dict(self.body))
        except ManifestError as exc:
            await self._write({"phase": "Failed", "conditions": events.set_conditions(
                self.status.get("conditions"), events.condition("SpecValid", False, "InvalidSpec", str(exc)))})
            events.post(dict(self.body), "InvalidSpec", str(exc), warning=True)
            raise kopf.PermanentError(f"invalid Campaign: {exc}") from exc

    async def tick(self, ctx: CampaignContext, started: str) -> bool:
        """Create what the plan allows and update the status; True once the campaign is done."""
        experiments = self.experiments()
        now = dt.datetime.now(dt.UTC)
        plan = plan_campaign(ctx.spec, experiments, now, _parse(started), history.spent_usd(experiments))
        next_seq = self.next_sequence(experiments)
        for seq in range(next_seq, next_seq + plan.create):
            await self._create(seq)
        if plan.create:
            await self._write({"nextSequence": next_seq + plan.create})
            return False
        status = campaign_status(plan, experiments, started, self.status)
        waiting = {e["metadata"]["name"]: _parse(e["status"].get("phaseSince") or started).timestamp()
                   for e in experiments if e["status"].get("phase") == Phase.NEEDS_HUMAN}
        metrics.needs_human(self.name, len(waiting), waiting)
        metrics.campaign_cost(self.name, history.spent_usd(experiments))
        if status["phase"] == "Completed":
            self.final = status  # written by the finish-up, after the report
            return True
        if not unchanged(status, self.status):
            await self._write(status)
        return False

    async def _create(self, sequence: int) -> None:
        """Create (or adopt after a restart) the experiment with this sequence number."""
        name = experiment_name(self.name, sequence)
        owner = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Campaign",
                 "metadata": {"name": self.name, "uid": self.body["metadata"]["uid"]}}
        doc = new_document("Experiment", name, {"campaign": self.name, "sequence": sequence},
                           owner=owner, labels={"aivc.dev/campaign": self.name})
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
        status = created.get("status") or state_to_status(state_from_status(None))
        self.created[name] = index_entry(name, created.get("spec") or {}, status)
        events.post(dict(self.body), "ExperimentCreated", f"created {name} (sequence {sequence})")

    async def _write(self, status: dict[str, Any]) -> None:
        doc = await self.memo.api.patch(CAMPAIGNS, self.namespace, self.name, {"status": status}, "status")
        old_phase = self.status.get("phase")
        self.status = dict(doc.get("status") or {})
        if self.status.get("phase") != old_phase:
            reason = str(self.status.get("phase"))
            events.post(doc, reason, str(self.status.get("stopReason") or f"campaign {reason.lower()}"))

    async def _finish(self, ctx: CampaignContext) -> None:
        """Finish-up: the campaign report (when asked for), then the Completed status.

        The report comes first: once the status says Completed, kopf stops this daemon.
        """
        status = {**self.final, "completionTime": now_iso()}
        if ctx.spec.finish_report:
            out = self.memo.config.data_dir / self.namespace / "reports" / self.name
            try:
                path = await asyncio.to_thread(self._report, out, asyncio.get_running_loop())
                status["report"] = str(path)
            except (AivcError, OSError, ValueError) as exc:
                events.post(dict(self.body), "ReportFailed", str(exc), warning=True)
        await self._write(status)
        metrics.campaign_stopped(self.name)
        self.memo.forget(self.namespace, self.name)

    def _report(self, out: Path, loop: asyncio.AbstractEventLoop) -> Path:
        """The local-mode report, written from the API's documents (runs in a thread)."""
        from aivc.research import report

        store = BlockingStore(self.memo.store(self.namespace), loop)
        return Path(report.write_report(cast(LocalStore, store), self.name, out))


def _parse(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))


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
        return {(namespace, spec.get("campaign")): index_entry(name, dict(spec), dict(status))}

    @kopf.daemon(GROUP, VERSION, "campaigns", registry=registry, id="campaign",
                 when=lambda status, **_: status.get("phase") not in ("Completed", "Failed"),
                 errors=kopf.ErrorsMode.TEMPORARY, backoff=10, cancellation_timeout=5.0)
    async def campaign(body: kopf.Body, stopped: kopf.DaemonStopped, memo: OperatorMemo,
                       campaign_experiments: kopf.Index[Any, Any] | None = None, **_: Any) -> None:
        assert campaign_experiments is not None  # kopf passes every index to every handler
        await CampaignDriver(memo, body, campaign_experiments).run(stopped)
