"""Local mode: drive a campaign's experiments through the phase machine on this machine.

The loop is a reconcile loop over the run directory's documents: apply people's decisions,
start experiments while the budget allows (`scheduler`), then advance the oldest experiment
in flight by one phase (`labwork` does the work, `phases.step` decides). Each transition is
persisted before anything else happens, and the work owed is read back from the persisted
phase, so a run killed at any instant and started again continues where it was, without
losing or repeating finished work. Experiments run one at a time here (`parallelism` is
for the operator, whose sandbox Jobs run side by side).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aivc import settings as settings_mod
from aivc.errors import AivcError
from aivc.evaluate.anchors import anchor_curves
from aivc.observe import metrics
from aivc.research import archive, history, report
from aivc.research.display import Display, leaderboard
from aivc.research.labwork import Lab, Step
from aivc.research.phases import (
    CommitVersion,
    Decision,
    ExecutionFailed,
    HumanDecision,
    IllegalTransition,
    NotifyHuman,
    Phase,
    RecordLesson,
    RequestDesign,
    RunAnalysis,
    RunExecution,
    RunValidation,
    Start,
    ValidationFailed,
    resume_action,
    step,
)
from aivc.research.planner import Planner
from aivc.research.planners import make_planner
from aivc.research.scheduler import CampaignPlan, plan_campaign
from aivc.research.spec import CampaignSpec
from aivc.research.status import state_from_status, state_to_status
from aivc.research.versions import Versioner
from aivc.store.base import (
    DECISION_ANNOTATION,
    NOTE_ANNOTATION,
    experiment_name,
    new_document,
    now_iso,
    parse_time,
)
from aivc.store.local import LocalStore

log = logging.getLogger("aivc.local")
OUTCOME_LABELS = {"Adopted": "adopted", "Rejected": "rejected", "Skipped": "skipped"}


@dataclass(frozen=True)
class CampaignSummary:
    campaign: str
    run_dir: Path
    stop_reason: str | None
    counts: dict[str, int]
    best: dict[str, Any] | None
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
        self.display: Display | None = None

    # ---- the run -----------------------------------------------------------------------

    def run(self) -> CampaignSummary:
        t0 = time.monotonic()
        started_at = self._ensure_campaign()
        experiments = self.experiments()
        self.planner.replay(history.outcomes(experiments))
        metrics.campaign_started(self.name, self.spec.budget.max_cost_usd,
                                 started_at=started_at.timestamp(),
                                 llm_model=self.spec.llm.model if self.spec.planner == "llm" else None)
        lab = Lab(self.spec, self.store, self.planner, self._anchors(), self.cache_dir,
                  self.sandbox_limits)
        done = [e for e in experiments if history.is_finished(e)]
        self.display = Display(self.spec.budget.max_experiments, len(done), enabled=self.progress)
        lab.on_progress = self.display.level_done
        self.display.rows(sorted(experiments, key=history.sequence_of))
        self.versions.restore(experiments)
        try:
            reason = self._loop(lab, started_at)
        finally:
            self.display.close()
            metrics.campaign_stopped(self.name)
        return self._finish(reason, time.monotonic() - t0)

    def experiments(self) -> list[dict[str, Any]]:
        return sorted(self.store.list("Experiment", campaign=self.name), key=history.sequence_of)

    def _loop(self, lab: Lab, started_at: dt.datetime) -> str | None:
        local_spec = replace(self.spec, parallelism=1)
        while True:
            self._apply_decisions()
            experiments = self.experiments()
            plan = plan_campaign(local_spec, experiments, dt.datetime.now(dt.UTC), started_at,
                                 history.spent_usd(experiments))
            self._campaign_status(plan, experiments)
            if plan.create:
                self._create(experiments)
                continue
            active = [e for e in experiments if _in_flight(e)]
            if not active:
                return plan.stop_reason
            self._advance(lab, active[0], experiments)

    def _ensure_campaign(self) -> dt.datetime:
        """Create the Campaign document, or take the new spec for an existing one."""
        doc = self.store.get("Campaign", self.name)
        manifest_spec = self.spec.raw.get("spec") or {}
        if doc is None:
            doc = new_document("Campaign", self.name, manifest_spec)
            doc["status"] = {"phase": "Running", "startTime": now_iso()}
            doc = self.store.create(doc)
        else:
            self.store.replace_spec("Campaign", self.name, manifest_spec)
            start = (doc.get("status") or {}).get("startTime") or now_iso()
            doc = self.store.patch_status("Campaign", self.name, {
                "phase": "Running", "startTime": start, "stopReason": None, "completionTime": None})
        return parse_time(doc["status"]["startTime"])

    def _anchors(self) -> dict[str, dict[str, Any]]:
        """Anchor curves of every clip (cached on disk after the first run)."""
        from aivc.evaluate.clips import ClipSpec

        out: dict[str, dict[str, Any]] = {}
        for text in (*self.spec.clips, *self.spec.held_out):
            clip = ClipSpec.parse(text)
            out[str(clip)] = anchor_curves(clip, self.spec.anchors, cache_dir=self.cache_dir,
                                           progress=self.progress)
        report.save_anchors(self.run_dir, self.name, out)
        return out

    def _create(self, experiments: list[dict[str, Any]]) -> None:
        seq = max((history.sequence_of(e) for e in experiments), default=-1) + 1
        name = experiment_name(self.name, seq)
        if self.store.get("Experiment", name) is None:
            campaign = self.store.get("Campaign", self.name)
            doc = new_document("Experiment", name, {"campaign": self.name, "sequence": seq},
                               owner=campaign, labels={"aivc.dev/campaign": self.name})
            doc["status"] = state_to_status(state_from_status(None))
            self.store.create(doc)

    # ---- one step of one experiment ------------------------------------------------------

    def _advance(self, lab: Lab, exp: dict[str, Any], experiments: list[dict[str, Any]]) -> None:
        state = state_from_status(exp.get("status"))
        assert self.display is not None
        self.display.phase(exp, state.phase.value)
        if state.phase is Phase.PENDING:
            self._transition(exp, Step(Start(), {"startTime": now_iso()}))
            return
        match resume_action(state):
            case RequestDesign() as action:
                work = lab.design(exp, action, experiments)
            case RunValidation():
                work = lab.validate(exp)
            case RunExecution():
                work = lab.execute(exp)
            case RunAnalysis():
                work = lab.analyze(exp, experiments, history.next_version(experiments))
            case _:
                raise AivcError(f"experiment {exp['metadata']['name']} in {state.phase} has no work")
        if isinstance(work.event, (ValidationFailed, ExecutionFailed)):
            stage = "validation" if isinstance(work.event, ValidationFailed) else "execution"
            metrics.sandbox_failed(self.name, stage, work.event.category)
        self._transition(exp, work)

    def _transition(self, exp: dict[str, Any], work: Step) -> dict[str, Any]:
        """Feed the event to the machine, persist the result, then carry out its actions."""
        name, old = exp["metadata"]["name"], exp.get("status") or {}
        state = state_from_status(old)
        result = step(state, work.event, self.spec.limits)
        new = result.state
        if work.spec:
            self.store.patch("Experiment", name, {"spec": work.spec})
        status = {**work.status, **state_to_status(new), "phaseSince": now_iso()}
        if new.version is not None:
            status["versionName"] = history.version_name(new.version)
        if new.terminal:
            status["completionTime"] = now_iso()
        doc = self.store.patch_status("Experiment", name, status)
        since = old.get("phaseSince")
        seconds = (dt.datetime.now(dt.UTC) - parse_time(since)).total_seconds() if since else None
        metrics.phase_changed(self.name, state.phase.value, new.phase.value, seconds)
        if state.phase is Phase.ANALYZING:
            self._measured(doc)
        for action in result.actions:
            doc = self._act(action, doc)
        if new.terminal:
            verdict = (doc.get("status") or {}).get("verdict") or "Failed"
            metrics.experiment_finished(self.name, OUTCOME_LABELS.get(verdict, "failed"))
            assert self.display is not None
            self.display.finished(doc)
        return doc

    def _act(self, action: Any, doc: dict[str, Any]) -> dict[str, Any]:
        name = doc["metadata"]["name"]
        match action:
            case CommitVersion():
                return self.versions.adopt(doc, self.experiments())
            case RecordLesson():
                outcome = history.outcome_of(doc)
                lesson = self.planner.learn(outcome) if outcome is not None else None
                if lesson:
                    return self.store.patch_status("Experiment", name, {"lesson": lesson})
            case NotifyHuman(reason):
                self._say(f"! {name} needs a person: {reason}")
                self._say(f"  decide with: aivc approve {name} --decision retry|skip|adopt|reject "
                          f"[--note ...] --run-dir {self.run_dir}")
                self._needs_human()
                assert self.display is not None
                self.display.rows([doc])
        return doc

    def _measured(self, doc: dict[str, Any]) -> None:
        m = (doc.get("status") or {}).get("metrics") or {}
        if isinstance(m.get("kbps"), (int, float)) and isinstance(m.get("psnrY"), (int, float)):
            metrics.measured(self.name, self.spec.anchor, history.sequence_of(doc), m.get("bdRate"),
                             m["kbps"], m["psnrY"])

    def _needs_human(self) -> None:
        waiting = {e["metadata"]["name"]: parse_time(e["status"]["phaseSince"]).timestamp()
                   for e in self.experiments()
                   if (e.get("status") or {}).get("phase") == Phase.NEEDS_HUMAN
                   and e["status"].get("phaseSince")}
        metrics.needs_human(self.name, len(waiting), waiting)

    # ---- people's decisions ----------------------------------------------------------

    def _apply_decisions(self) -> None:
        """Decisions recorded by `aivc approve` (annotations), applied once each."""
        for exp in self.experiments():
            notes = (exp.get("metadata") or {}).get("annotations") or {}
            if not notes.get(DECISION_ANNOTATION):
                continue
            name = exp["metadata"]["name"]
            if history.status_of(exp).get("phase") == Phase.NEEDS_HUMAN:
                self._decide(exp, str(notes[DECISION_ANNOTATION]), notes.get(NOTE_ANNOTATION))
            else:
                log.info("%s: ignoring a decision for an experiment not waiting for one", name)
            self.store.patch("Experiment", name, {"metadata": {"annotations": {
                DECISION_ANNOTATION: None, NOTE_ANNOTATION: None}}})
            self._needs_human()

    def _decide(self, exp: dict[str, Any], word: str, note: str | None) -> None:
        name = exp["metadata"]["name"]
        try:
            decision = Decision(word)
            version = history.next_version(self.experiments()) if decision is Decision.ADOPT else None
            event = HumanDecision(decision, note=note, version=version)
            self._say(f"> {name}: a person decided {decision.value}" + (f" ({note})" if note else ""))
            self._transition(exp, Step(event, {"decision": {"decision": decision.value,
                                                            "note": note, "at": now_iso()}}))
        except (ValueError, IllegalTransition) as exc:
            self._say(f"! {name}: cannot apply decision {word!r}: {exc}")

    # ---- campaign status and the end ------------------------------------------------------

    def _campaign_status(self, plan: CampaignPlan, experiments: list[dict[str, Any]]) -> None:
        best = archive.best_experiment(experiments)
        best_doc = None
        if best is not None:
            m = best["status"].get("metrics") or {}
            best_doc = {"version": best["status"].get("versionName"),
                        "experiment": best["metadata"]["name"], "bdRate": m.get("bdRate"),
                        "kbps": m.get("kbps"), "psnrY": m.get("psnrY")}
        spent = history.spent_usd(experiments)
        metrics.campaign_cost(self.name, spent)
        self.store.patch_status("Campaign", self.name, {
            "experiments": plan.counts, "best": best_doc, "costUSD": round(spent, 6)})

    def _finish(self, reason: str | None, wall: float) -> CampaignSummary:
        experiments = self.experiments()
        waiting = tuple(e["metadata"]["name"] for e in experiments
                        if history.status_of(e).get("phase") == Phase.NEEDS_HUMAN)
        status = self.store.patch_status("Campaign", self.name, {
            "phase": "Completed", "stopReason": reason, "completionTime": now_iso()})["status"]
        path = None
        if self.spec.finish_report:
            try:
                path = report.write_report(self.store, self.name, self.run_dir / "reports" / self.name)
                self.store.patch_status("Campaign", self.name, {"report": str(path)})
            except (AivcError, OSError, ValueError) as exc:
                self._say(f"! the finish-up report failed: {exc}")
        board = leaderboard(experiments, self.spec.anchors)
        return CampaignSummary(self.name, self.run_dir, reason, dict(status.get("experiments") or {}),
                               status.get("best"), board, path, waiting, wall)

    def _say(self, line: str) -> None:
        """A line for the terminal; problems ("! ...") are logged as warnings even when quiet."""
        if self.progress:
            if self.display is not None:
                self.display.write(line)
            else:
                print(line)
            log.info(line)
        elif line.startswith("!"):
            log.warning(line[2:])
        else:
            log.info(line)


def _in_flight(exp: dict[str, Any]) -> bool:
    phase = history.status_of(exp).get("phase") or Phase.PENDING.value
    return phase not in (Phase.SUCCEEDED, Phase.FAILED, Phase.NEEDS_HUMAN)
