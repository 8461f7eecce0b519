"""Local mode: a driver of the one core (`driving`, `campaigning`) on this machine.

The loop is a reconcile loop over the run directory's documents: apply people's decisions,
plan the campaign (start experiments, write its status, publish its gauges, complete it),
then advance every experiment that is owed work by one step, up to the campaign's
`parallelism` at once, each in a worker thread with its own sandbox processes — `labwork`
does the work, `driving.transition` decides everything the step writes and does, and this
module only persists the plan and carries it out. Each plan is persisted before its actions
run, and the work owed is read back from the persisted phase, so a run killed at any instant
and started again continues where it was, without losing or repeating finished work.

The ordering guarantees are the operator's: planner calls are serialised (a design lock),
and analyses are serialised with the transition they lead to (an analysis lock), so two
experiments finishing together never become the same version and each is judged against the
best as it stands when its turn comes. With `parallelism` N each sandbox run gets
cores / N processes side by side.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aivc import settings as settings_mod
from aivc.api.documents import (
    BestSummary,
    CampaignDoc,
    Counts,
    ExperimentDoc,
    new_experiment,
    status_update,
)
from aivc.api.spec import CampaignSpec
from aivc.api.times import parse_time
from aivc.api.types import Phase, Reason
from aivc.errors import AivcError
from aivc.evaluate.anchors import AnchorCurve
from aivc.observe import metrics
from aivc.observe.metrics import LOCAL_NAMESPACE as LOCAL_NS
from aivc.research import anchoring, history, publishing
from aivc.research.campaigning import CampaignPlan, completed, plan_campaign, restarted
from aivc.research.display import Display, leaderboard
from aivc.research.driving import (
    ExperimentPlan,
    Said,
    Work,
    decide,
    held,
    owed,
    transition,
)
from aivc.research.labwork import Lab, booked_lesson
from aivc.research.phases import (
    CommitVersion,
    NotifyHuman,
    RecordLesson,
    RequestDesign,
    RunAnalysis,
    RunExecution,
    RunValidation,
    Start,
)
from aivc.research.planning import Planner, make_planner
from aivc.research.versions import Versioner
from aivc.store.base import experiment_name, new_document
from aivc.store.local import LocalStore

log = logging.getLogger("aivc.local")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class CampaignSummary:
    campaign: str
    run_dir: Path
    stop_reason: str | None
    counts: Counts
    best: BestSummary | None
    leaderboard: tuple[list[str], list[list[str]]]
    report: Path | None
    needs_human: tuple[str, ...]
    wall_seconds: float


def run_campaign(spec: CampaignSpec, run_dir: Path, *, planner: Planner | None = None,
                 settings: settings_mod.Settings | None = None, sandbox_limits: Any = None,
                 progress: bool = True, metrics_port: int | None = None) -> CampaignSummary:
    """Run (or resume) `spec` in `run_dir` until its budget stops it; then report."""
    settings = settings or settings_mod.load()
    if metrics_port is not None:
        metrics.serve(metrics_port, driver="local")
    driver = LocalDriver(spec, Path(run_dir), planner or make_planner(spec, settings), settings,
                         sandbox_limits, progress)
    return driver.run()


class LocalDriver:
    def __init__(self, spec: CampaignSpec, run_dir: Path, planner: Planner,
                 settings: settings_mod.Settings, sandbox_limits: Any, progress: bool) -> None:
        self.spec, self.run_dir, self.planner, self.progress = spec, run_dir, planner, progress
        self.store = LocalStore(run_dir)
        self.name = spec.name
        self.cache_dir = settings.paths.cache_dir
        self.sandbox_limits = sandbox_limits
        self.versions = Versioner(spec, self.store, run_dir, self._say)
        self.display = Display(spec.budget.max_experiments, 0, enabled=progress)
        self.anchors: dict[str, dict[str, AnchorCurve]] = {}
        self.replayed: set[str] = set()
        self.lab: Lab | None = None
        """Finished experiments the planner replayed at start: it has learned from them."""
        self.design_lock = threading.Lock()
        """Planners are not thread-safe: one design or lesson at a time."""
        self.analysis_lock = threading.Lock()
        """One analysis (and the transition it leads to) at a time: versions stay in order."""

    # ---- the run -----------------------------------------------------------------------

    def run(self) -> CampaignSummary:
        t0 = time.monotonic()
        campaign = self._ensure_campaign()
        experiments = self.experiments()
        self.planner.replay(history.outcomes(experiments))
        self.replayed = {e.name for e in experiments if e.status.finished}
        started = campaign.status.start_time
        metrics.campaign_started(self.name, self.spec.budget.max_cost_usd, namespace=LOCAL_NS,
                                 started_at=parse_time(started).timestamp() if started else None,
                                 llm_models=self.spec.llm.models_in_use() if self.spec.uses_llm else ())
        self.anchors = anchoring.campaign_anchors(self.spec, self.cache_dir, progress=self.progress)
        anchoring.save(self.run_dir, self.name, self.anchors)
        lab = self.lab = Lab(self.spec, self.store, self.planner, self.anchors, self.cache_dir,
                             self._limits(), on_progress=self.display.level_done)
        self.display.resume(sum(1 for e in experiments if e.status.finished))
        self.display.rows(sorted(experiments, key=lambda e: e.sequence))
        self.versions.restore(experiments)
        try:
            reason = self._loop(lab)
        finally:
            self.display.close()
            metrics.campaign_stopped(self.name, namespace=LOCAL_NS)
        return self._summary(reason, time.monotonic() - t0)

    def experiments(self) -> list[ExperimentDoc]:
        docs = [ExperimentDoc.parse(d) for d in self.store.list("Experiment", campaign=self.name)]
        return sorted(docs, key=lambda e: e.sequence)

    def campaign(self) -> CampaignDoc:
        doc = self.store.get("Campaign", self.name)
        if doc is None:
            raise AivcError(f"campaign {self.name} vanished from {self.run_dir}")
        return CampaignDoc.parse(doc)

    def _limits(self) -> Any:
        """The sandbox limits, sharing the machine's cores among experiments run at once."""
        if self.spec.parallelism <= 1:
            return self.sandbox_limits
        from aivc.sandbox import SandboxLimits

        limits = self.sandbox_limits or SandboxLimits()
        share = max(1, (os.cpu_count() or 1) // self.spec.parallelism)
        return limits if limits.parallel else replace(limits, parallel=share)

    def _loop(self, lab: Lab) -> str | None:
        running: dict[str, Future[None]] = {}
        with ThreadPoolExecutor(max_workers=self.spec.parallelism,
                                thread_name_prefix="aivc-experiment") as pool:
            try:
                return self._reconcile(lab, pool, running)
            finally:
                wait(running.values())

    def _reconcile(self, lab: Lab, pool: ThreadPoolExecutor, running: dict[str, Future[None]]) -> str | None:
        while True:
            for name in [n for n, f in running.items() if f.done()]:
                running.pop(name).result()  # a driver bug surfaces here, not silently
            self._apply_decisions()
            campaign, experiments = self.campaign(), self.experiments()
            plan = plan_campaign(campaign, experiments, now())
            if plan.status_patch:
                self.store.patch_status("Campaign", self.name, plan.status_patch)
            publishing.gauges(self.name, self.spec.anchor, plan.gauges, namespace=LOCAL_NS)
            if plan.create:
                for sequence in plan.create:
                    self._create(sequence)
                continue
            if plan.finished and not running:
                self._complete(campaign, plan)
                return plan.stop_reason
            for exp in experiments:
                if len(running) < self.spec.parallelism and exp.name not in running \
                        and owed(exp, now()) is not None:
                    running[exp.name] = pool.submit(self._advance, lab, exp, experiments)
            if not running:
                holds = [e.status.hold for e in experiments if held(e, now())]
                if not holds:
                    return plan.stop_reason  # the rest waits for people: `aivc approve`, run again
                self._wait_for_planner(min(parse_time(h.until) for h in holds if h))
                continue
            wait(running.values(), timeout=2.0, return_when=FIRST_COMPLETED)

    def _wait_for_planner(self, until: dt.datetime) -> None:
        """Designs are held (the planner unreachable or its key refused): wait, then retry."""
        seconds = max(0.0, min((until - now()).total_seconds(), 30.0))
        self._say(f"! waiting {seconds:.0f} s for the planner (see `aivc describe campaign "
                  f"{self.name}`)")
        time.sleep(seconds)

    def _ensure_campaign(self) -> CampaignDoc:
        """Create the Campaign document, or take the new spec for an existing one."""
        manifest_spec = self.spec.raw.get("spec") or {}
        if self.store.get("Campaign", self.name) is None:
            self.store.create(new_document("Campaign", self.name, manifest_spec))
        else:
            self.store.replace_spec("Campaign", self.name, manifest_spec)
            patch = restarted(self.campaign(), now())
            if patch:
                self.store.patch_status("Campaign", self.name, patch)
        return self.campaign()

    def _create(self, sequence: int) -> None:
        name = experiment_name(self.name, sequence)
        if self.store.get("Experiment", name) is None:
            spec, labels = new_experiment(self.name, sequence)
            owner = self.store.get("Campaign", self.name)
            self.store.create(new_document("Experiment", name, spec, owner=owner, labels=labels))

    # ---- one step of one experiment ------------------------------------------------------

    def _advance(self, lab: Lab, exp: ExperimentDoc, experiments: list[ExperimentDoc]) -> None:
        work_owed = owed(exp)
        assert work_owed is not None
        self.display.phase(exp.name, exp.status.phase.value)
        match work_owed.action:
            case Start():
                work = Work(Start())
            case RequestDesign() as action:
                with self.design_lock:
                    work = lab.design(exp, action, experiments)
            case RunValidation():
                work = lab.validate(exp, experiments)
            case RunExecution():
                work = lab.execute(exp, experiments)
            case RunAnalysis():
                with self.analysis_lock:  # the best and the next version as they are now
                    current = self.experiments()
                    work = lab.analyze(exp, current, history.next_version(current))
                    self._carry_out(transition(exp, work, self.spec.limits, now()))
                return
            case CommitVersion():
                self.versions.adopt(exp)
                return
            case RecordLesson():
                self._learn(exp)
                return
        self._carry_out(transition(exp, work, self.spec.limits, now()))

    def _carry_out(self, plan: ExperimentPlan) -> ExperimentDoc:
        """Persist the plan, publish what it observed, then carry out its actions in order."""
        name = plan.after.name
        if plan.spec_patch:
            self.store.patch("Experiment", name, {"spec": plan.spec_patch})
        doc = ExperimentDoc.parse(self.store.patch_status("Experiment", name, plan.status_patch))
        publishing.observations(self.spec.anchor, plan.observations, namespace=LOCAL_NS)
        self._tell(name, [o for o in plan.observations if isinstance(o, Said)])
        for action in plan.actions:
            match action:
                case CommitVersion():
                    doc = self.versions.adopt(doc)
                case RecordLesson():
                    doc = self._learn(doc)
                case NotifyHuman():
                    self._say(f"  decide with: aivc approve {name} --decision "
                              f"retry|skip|adopt|reject [--note ...] --run-dir {self.run_dir}")
                    self.display.rows([doc])
        if doc.status.terminal:
            self.display.finished(doc)
        return doc

    def _learn(self, doc: ExperimentDoc) -> ExperimentDoc:
        """RecordLesson: the planner learns from the outcome (with its evidence: both sources
        and RD tables), unless it replayed it at start."""
        assert self.lab is not None
        outcome = self.lab.outcome_of(doc, self.experiments())
        lesson = None
        with self.design_lock:
            if outcome is not None and doc.name not in self.replayed:
                lesson = self.planner.learn(outcome)
            self.replayed.add(doc.name)
        patch = status_update(doc, **booked_lesson(doc, lesson))
        return ExperimentDoc.parse(self.store.patch_status("Experiment", doc.name, patch))

    def _tell(self, name: str, said: list[Said]) -> None:
        """Warnings and people's decisions on the terminal; progress is the table's job."""
        for item in said:
            if item.warning:
                self._say(f"! {name}: {item.message}")
            elif item.reason == Reason.DECISION_APPLIED:
                self._say(f"> {name}: {item.message}")

    # ---- people's decisions ----------------------------------------------------------

    def _apply_decisions(self) -> None:
        """Decisions recorded by `aivc approve` (annotations), applied once each."""
        for exp in self.experiments():
            if exp.meta.decision is None:
                continue
            with self.analysis_lock:  # an adoption takes the next version
                found = decide(exp, history.next_version(self.experiments()), self.spec.limits,
                               now(), by=exp.meta.decision_by, at=exp.meta.decision_at)
                if found is None:
                    continue
                self._tell(exp.name, list(found.observations))
                if found.applied is not None:
                    self._carry_out(found.applied)
                self.store.patch("Experiment", exp.name, found.clear)

    # ---- the end -----------------------------------------------------------------------

    def _complete(self, campaign: CampaignDoc, plan: CampaignPlan) -> None:
        """The finish-up report (when asked for), then the Completed status."""
        path = None
        if self.spec.finish_report:
            from aivc.research import report  # matplotlib loads only when a report is drawn

            try:
                path = report.write_report(self.store, self.name, self.run_dir / "reports" / self.name,
                                           anchors=anchoring.for_clips(self.anchors, plan.report_clips))
            except (AivcError, OSError, ValueError) as exc:
                self._say(f"! the finish-up report failed: {exc}")
        self.store.patch_status("Campaign", self.name,
                                completed(campaign, plan, now(), None if path is None else str(path)))

    def _summary(self, reason: str | None, wall: float) -> CampaignSummary:
        campaign, experiments = self.campaign(), self.experiments()
        waiting = tuple(e.name for e in experiments if e.status.phase is Phase.NEEDS_HUMAN)
        board = leaderboard(experiments, self.spec.anchors)
        path = Path(campaign.status.report) if campaign.status.report else None
        return CampaignSummary(self.name, self.run_dir, reason, campaign.status.counts,
                               campaign.status.best, board, path, waiting, wall)

    def _say(self, line: str) -> None:
        """A line for the terminal; problems ("! ...") are logged as warnings even when quiet."""
        if self.progress:
            self.display.write(line)
            log.info(line)
        elif line.startswith("!"):
            log.warning(line[2:])
        else:
            log.info(line)
