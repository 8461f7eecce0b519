"""Keeping adopted versions: commit them to the campaign's evolution branch (the CommitVersion
action of the driver core, carried out the same way by both drivers).

A failed commit never loses an experiment: the adoption stands, the failure is recorded as
a `Committed=False` condition and logged, and the next run tries again. Committing is
idempotent (`aivc.vcs.evolution`), so a run killed after an adoption was persisted but
before its commit finishes the job when it resumes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from aivc.api.documents import (
    CommitRecord,
    ExperimentDoc,
    condition,
    set_conditions,
    status_update,
)
from aivc.api.spec import CampaignSpec
from aivc.api.times import iso
from aivc.api.types import ConditionType, Reason
from aivc.store.base import ExperimentStore
from aivc.vcs.evolution import Evolution, GitCredentials, VcsError, commit_message


class Versioner:
    def __init__(self, spec: CampaignSpec, store: ExperimentStore, run_dir: Path,
                 say: Callable[[str], None], credentials: GitCredentials | None = None,
                 uid: str | None = None) -> None:
        """`uid` (the operator passes the Campaign's) keys the repository and tags, so a
        Campaign created again under an old name never meets the old one's versions; a
        local run dir is its campaign's alone, so local mode keys by name."""
        self.spec, self.store, self.say = spec, store, say
        self.evolution = Evolution.for_campaign(spec.name, spec.git_branch, run_dir, spec.git_repo,
                                                credentials=credentials, uid=uid)

    def adopt(self, doc: ExperimentDoc) -> ExperimentDoc:
        """Commit a newly adopted experiment and say so."""
        doc = self.commit(doc)
        reason = doc.status.analysis.reason if doc.status.analysis else "adopted by a person"
        self.say(f"+ {doc.name} adopted as {doc.status.version_name}: {reason}")
        return doc

    def restore(self, experiments: Iterable[ExperimentDoc]) -> None:
        """On start: commit adoptions a previous run could not (failed ones included)."""
        for exp in experiments:
            if exp.status.adopted and exp.status.commit is None:
                self.commit(exp)

    def commit(self, doc: ExperimentDoc) -> ExperimentDoc:
        status, spec = doc.status, doc.spec
        version = int(status.version or 0)
        source = self.store.get_source(doc.name) or ""
        metrics = status.metrics.to_json() if status.metrics else None
        payload = {"experiment": doc.name, "version": f"v{version}", "campaign": self.spec.name,
                   "hypothesis": spec.hypothesis, "metrics": metrics,
                   "results": self.store.get_results(doc.name)}
        message = commit_message(version, doc.name, spec.hypothesis or "", spec.parent_version,
                                 status.metrics, self.spec.anchor)
        now = iso(dt.datetime.now(dt.UTC))
        try:
            made = self.evolution.commit_version(version, source,
                                                 json.dumps(payload, indent=1) + "\n", message)
        except VcsError as exc:
            self.say(f"! {doc.name}: {exc} (the adoption stands; the next run retries the commit)")
            failed = condition(ConditionType.COMMITTED, False, Reason.COMMIT_FAILED, str(exc))
            return self._write(doc, {"conditions": set_conditions(status.conditions, [failed], now)})
        done = condition(ConditionType.COMMITTED, True, Reason.COMMITTED,
                         f"{made.tag} at {made.sha[:12]} on {self.evolution.branch}")
        record = CommitRecord(made.sha, made.tag, self.evolution.branch,
                              str(self.evolution.remote_url or self.evolution.path))
        return self._write(doc, {"commit": record,
                                 "conditions": set_conditions(status.conditions, [done], now)})

    def _write(self, doc: ExperimentDoc, fields: Mapping[str, object]) -> ExperimentDoc:
        patch = status_update(doc, **fields)
        return ExperimentDoc.parse(self.store.patch_status("Experiment", doc.name, patch))
