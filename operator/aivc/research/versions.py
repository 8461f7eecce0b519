"""Keeping adopted versions: commit them to git and publish the best one's metrics.

A failed commit never loses an experiment: the adoption stands, the failure is recorded as
a `Committed=False` condition and logged, and the next run tries again. Committing is
idempotent (`aivc.vcs.evolution`), so a run killed after an adoption was persisted but
before its commit finishes the job when it resumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aivc.observe import metrics
from aivc.research import archive, history
from aivc.research.spec import CampaignSpec
from aivc.store.base import ExperimentStore, now_iso, parse_time
from aivc.vcs.evolution import Evolution, VcsError, commit_message


def set_condition(conditions: list[dict[str, Any]] | None, cond: dict[str, Any]) -> list[dict[str, Any]]:
    """Replace the condition of the same type (Kubernetes style: one per type)."""
    kept = [c for c in (conditions or []) if c.get("type") != cond["type"]]
    return [*kept, {**cond, "lastTransitionTime": now_iso()}]


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    return parse_time(text).timestamp()


class Versioner:
    def __init__(self, spec: CampaignSpec, store: ExperimentStore, run_dir: Path,
                 say: Callable[[str], None]) -> None:
        self.spec, self.store, self.say = spec, store, say
        self.evolution = Evolution.for_campaign(spec.name, spec.git_branch, run_dir, spec.git_repo)

    def adopt(self, doc: dict[str, Any], experiments: list[dict[str, Any]]) -> dict[str, Any]:
        """Commit a newly adopted experiment and announce the best version if it changed."""
        doc = self.commit(doc)
        status = doc["status"]
        self.say(f"+ {doc['metadata']['name']} adopted as {status.get('versionName')}: "
                 f"{(status.get('analysis') or {}).get('reason') or 'adopted by a person'}")
        self.publish_best(experiments)
        return doc

    def restore(self, experiments: list[dict[str, Any]]) -> None:
        """On start: commit adoptions a previous run could not, and publish the best."""
        for exp in experiments:
            status = history.status_of(exp)
            if status.get("verdict") == "Adopted" and not status.get("commit"):
                self.commit(exp)
        self.publish_best(experiments)

    def publish_best(self, experiments: list[dict[str, Any]]) -> None:
        best = archive.best_experiment(experiments)
        if best is None:
            return
        m = best["status"].get("metrics") or {}
        if isinstance(m.get("kbps"), (int, float)) and isinstance(m.get("psnrY"), (int, float)):
            metrics.best_changed(self.spec.name, self.spec.anchor, int(best["status"]["version"]),
                                 m.get("bdRate"), m["kbps"], m["psnrY"],
                                 adopted_at=_timestamp(best["status"].get("completionTime")))

    def commit(self, doc: dict[str, Any]) -> dict[str, Any]:
        name, status, spec = doc["metadata"]["name"], doc.get("status") or {}, doc.get("spec") or {}
        version = int(status["version"])
        source = self.store.get_source(name) or ""
        payload = {"experiment": name, "version": f"v{version}", "campaign": self.spec.name,
                   "hypothesis": spec.get("hypothesis"), "metrics": status.get("metrics"),
                   "results": self.store.get_results(name)}
        message = commit_message(version, name, str(spec.get("hypothesis") or ""),
                                 spec.get("parentVersion"), status.get("metrics") or {},
                                 self.spec.anchor)
        try:
            made = self.evolution.commit_version(version, source, json.dumps(payload, indent=1) + "\n",
                                                 message)
        except VcsError as exc:
            self.say(f"! {name}: {exc} (the adoption stands; the next run retries the commit)")
            cond = {"type": "Committed", "status": "False", "reason": "CommitFailed",
                    "message": str(exc)}
            return self.store.patch_status("Experiment", name, {
                "conditions": set_condition(status.get("conditions"), cond)})
        cond = {"type": "Committed", "status": "True", "reason": "Committed",
                "message": f"{made.tag} at {made.sha[:12]} on {self.evolution.branch}"}
        return self.store.patch_status("Experiment", name, {
            "commit": {"sha": made.sha, "tag": made.tag, "branch": self.evolution.branch,
                       "repo": str(self.evolution.remote_url or self.evolution.path)},
            "conditions": set_condition(status.get("conditions"), cond)})
