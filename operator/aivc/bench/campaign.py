"""Bench section `campaign`: experiments per hour of a real campaign, with and without the
evaluation cascade, the same candidates judged both ways, and the scaling of local mode's
`parallelism`.

1. The quickstart (`examples/local-campaign.yaml`, `AIVC_BENCH_EXPERIMENTS` experiments,
   default 20) runs once with the cascade off — every candidate measured on every clip,
   held-out included, every level decoded twice, as AIVC did before the cascade — with the
   search planner. Its proposals are recorded.
2. The same proposals, in the same order, run again with the cascade on (a planner that
   replays them), so both runs judge the same candidates: the adopted versions must match.
3. The replayed run again with `parallelism` 1 .. the machine's cores.

Reported: wall time, experiments per hour, the speed-up, the adopted experiments of each run
and whether they agree. The target is at least twice the experiments per hour with the same
adopted versions. Planner time is part of run 1 only (the replay costs nothing), which
flatters the cascade by the search planner's few seconds; the notes say how much.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aivc import settings as settings_mod
from aivc.api.documents import ExperimentDoc
from aivc.api.spec import CampaignSpec, load_manifest_file
from aivc.research.local import run_campaign
from aivc.research.planning import DesignRequest, Lesson, Outcome, Proposal, make_planner
from aivc.store.local import LocalStore

QUICKSTART = Path(__file__).resolve().parents[3] / "examples" / "local-campaign.yaml"


@dataclass
class Replay:
    """A planner that proposes what another run proposed, in the same order."""

    proposals: dict[int, Proposal]
    name: str = "replay"
    requests: list[int] = field(default_factory=list)

    def propose(self, request: DesignRequest) -> Proposal:
        self.requests.append(request.sequence)
        return self.proposals[request.sequence]

    def learn(self, outcome: Outcome) -> Lesson:
        return Lesson()

    def replay(self, outcomes: list[Outcome]) -> None:
        return None


def _spec(experiments: int, *, cascade: bool, parallelism: int = 1) -> CampaignSpec:
    doc = copy.deepcopy(load_manifest_file(QUICKSTART))
    spec = doc["spec"]
    spec["budget"] = {**spec.get("budget", {}), "maxExperiments": experiments}
    spec["budget"].pop("maxDurationMinutes", None)
    spec["evaluation"] = {**spec.get("evaluation", {}), "cascade": {"enabled": cascade}}
    spec["parallelism"] = parallelism
    spec["finishUp"] = {"report": False}
    return CampaignSpec.from_manifest(doc)


def _run(spec: CampaignSpec, run_dir: Path, planner: Any, settings: settings_mod.Settings) -> dict[str, Any]:
    start = time.perf_counter()
    run_campaign(spec, run_dir, planner=planner, settings=settings, progress=False)
    seconds = time.perf_counter() - start
    docs = sorted((ExperimentDoc.parse(d) for d in LocalStore(run_dir).list("Experiment")),
                  key=lambda e: e.sequence)
    adopted = [e.sequence for e in docs if e.status.adopted]
    stopped = sum(1 for e in docs if e.status.cascade.stopped_early)
    return {"seconds": seconds, "per_hour": len(docs) / seconds * 3600, "adopted": adopted,
            "docs": docs, "stopped_early": stopped}


def _proposals(run_dir: Path, docs: list[ExperimentDoc]) -> dict[int, Proposal]:
    store = LocalStore(run_dir)
    out = {}
    for exp in docs:
        source = store.get_source(exp.name)
        if source is not None and exp.sequence > 0:
            out[exp.sequence] = Proposal(source, exp.spec.hypothesis or "", 0,
                                         params=dict(exp.status.params or {}))
    return out


def run() -> dict[str, Any]:
    settings = settings_mod.load()
    experiments = settings.bench.campaign_experiments
    with tempfile.TemporaryDirectory(prefix="aivc-bench-campaign-") as tmp:
        root = Path(tmp)
        off_spec = _spec(experiments, cascade=False)
        before = _run(off_spec, root / "off", make_planner(off_spec, settings), settings)
        proposals = _proposals(root / "off", before["docs"])
        after = _run(_spec(experiments, cascade=True), root / "on", Replay(proposals), settings)
        rows = [_row("cascade off (every clip, held-out, every level decoded twice)", before, before),
                _row("cascade on (same candidates)", after, before)]
        for n in range(2, (os.cpu_count() or 1) + 1):
            scaled = _run(_spec(experiments, cascade=True, parallelism=n), root / f"p{n}",
                          Replay(proposals), settings)
            rows.append(_row(f"cascade on, parallelism {n}", scaled, before))
    same = after["adopted"] == before["adopted"]
    return {
        "title": f"Campaign throughput: the quickstart, {experiments} experiments",
        "rows": rows,
        "notes": [
            f"same adopted experiments with and without the cascade: {'yes' if same else 'NO'} "
            f"({before['adopted']} vs {after['adopted']})",
            f"speed-up of the cascade: {after['per_hour'] / before['per_hour']:.2f}x "
            "(target: at least 2x with the same adoptions)",
            f"the cascade stopped {after['stopped_early']} candidates after the screening stage",
            "run 1 includes the search planner's own time; the replays propose instantly",
        ],
    }


def _row(label: str, run: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    return {"run": label, "wall_s": round(run["seconds"], 1), "experiments_per_hour": round(run["per_hour"], 1),
            "speedup": round(run["per_hour"] / base["per_hour"], 2),
            "adopted": " ".join(f"#{s}" for s in run["adopted"]),
            "stopped_early": run["stopped_early"]}
