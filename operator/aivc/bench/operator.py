"""Bench section `operator`: the operator reconciling 500 Experiments against the API emulator.

The emulator and an instant kubelet run in a child process (so this process holds only the
operator, and its memory is the operator's); the operator runs here with a planner that
proposes the base codec with a marker comment (a new candidate each time, no LLM). Jobs
finish at once with the results of one real in-process evaluation of the base codec, so
the numbers measure the operator's own work: kopf, the phase machine, API traffic, the
analysis (real BD-rate against real x264 anchors) and git commits — not the sandbox.

Reported: reconcile latency (experiment created → its first status write; sandbox Job
finished → the status write that records it), API calls per experiment (the operator's and
kopf's, counted by the emulator), throughput, and the operator process's memory (RSS).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aivc.kube.settings import JobSettings, LoopSettings, OperatorConfig
from aivc.research.planning import Lesson

CAMPAIGNS = 10
PER_CAMPAIGN = 50
PARALLELISM = 10
CLIP = "carphone:4"
NAMESPACE = "bench"


def _campaign(name: str, base_codec: Path, experiments: int) -> dict[str, Any]:
    return {"apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"budget": {"maxExperiments": experiments}, "parallelism": PARALLELISM,
                     "baseCodec": str(base_codec), "dataset": {"clips": [CLIP]},
                     "evaluation": {"anchors": ["x264"]}, "finishUp": {"report": False}}}


class MarkerPlanner:
    """Proposes the base codec with a per-experiment marker: distinct candidates, no LLM."""

    name = "bench"

    def __init__(self, source: str) -> None:
        self.source = source

    def propose(self, request: Any) -> Any:
        from aivc.research.planning import Proposal

        return Proposal(source=f"{self.source}\n# candidate {request.sequence}\n",
                        hypothesis=f"re-measure the base codec ({request.sequence})", parent_version=0)

    def learn(self, outcome: Any) -> Lesson:
        return Lesson()

    def replay(self, outcomes: list[Any]) -> None:
        return None


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (None, None)
    cuts = statistics.quantiles(values, n=20)
    return round(statistics.median(values) * 1000, 1), round(cuts[18] * 1000, 1)


def run(campaigns: int = CAMPAIGNS, per_campaign: int = PER_CAMPAIGN) -> dict[str, Any]:
    from aivc.codec.reference import reference_path

    base = reference_path("intra-dct")
    with tempfile.TemporaryDirectory(prefix="aivc-bench-operator-") as tmp:
        work = Path(tmp)
        child = subprocess.Popen([sys.executable, "-m", "aivc.bench.operator_cluster", str(work),
                                  str(base), CLIP], stdin=subprocess.PIPE)
        try:
            url = _wait_for(work / "url")
            wall, rss = _drive(url, work, base, campaigns, per_campaign)
        finally:
            if child.stdin:
                child.stdin.close()  # the cluster writes its statistics and exits
            child.wait(120)
        stats = json.loads((work / "stats.json").read_text())
    return _report(stats, wall, rss, campaigns)


def _wait_for(path: Path, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the emulator did not start ({path})")
        time.sleep(0.1)
    return path.read_text().strip()


def _drive(url: str, work: Path, base: Path, campaigns: int,
           per_campaign: int) -> tuple[float, tuple[int, int]]:
    """Run the operator until every campaign completed; (wall seconds, (RSS before, peak))."""
    import asyncio

    import kopf

    from aivc.kube.client import CAMPAIGNS as CAMPAIGN_KIND
    from aivc.kube.client import KubeApi
    from aivc.kube.memo import OperatorMemo
    from aivc.kube.running import OperatorThread

    def credentials(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, scheme="Bearer", token="bench", insecure=True)

    config = OperatorConfig(peering=None, data_dir=work / "operator",
                            loops=LoopSettings(poll_seconds=0.5, resync_seconds=30, retry_seconds=1),
                            jobs=JobSettings())
    planner = MarkerPlanner(base.read_text())
    memo = OperatorMemo(config, planner_factory=lambda spec, settings: planner, credentials=credentials)

    async def main() -> float:
        api = KubeApi(credentials(), user_agent="bench")
        runner = OperatorThread(memo)
        await asyncio.to_thread(runner.start)
        start = time.monotonic()
        try:
            for i in range(campaigns):
                await api.create(CAMPAIGN_KIND, NAMESPACE, _campaign(f"bench-{i:02d}", base, per_campaign))
            while True:
                docs = await api.list(CAMPAIGN_KIND, NAMESPACE)
                if len(docs) == campaigns and all((d.get("status") or {}).get("phase") == "Completed"
                                                  for d in docs):
                    return time.monotonic() - start
                await asyncio.sleep(1.0)
        finally:
            await api.close()
            await asyncio.to_thread(runner.stop)

    before = _rss_kib("VmRSS")
    wall = asyncio.run(main())
    return wall, (before, _rss_kib("VmHWM"))


def _report(stats: dict[str, Any], wall: float, rss: tuple[int, int],
            campaigns: int) -> dict[str, Any]:
    n = stats["experiments"]
    pickup, job = stats["pickup_seconds"], stats["job_seconds"]
    p50_pick, p95_pick = _percentiles(pickup)
    p50_job, p95_job = _percentiles(job)
    calls = stats["calls"]
    rows = [
        {"measure": "experiments reconciled", "value": n, "unit": "", "note": f"{campaigns} campaigns, parallelism {PARALLELISM} each"},
        {"measure": "wall time", "value": round(wall, 1), "unit": "s", "note": f"{n / wall * 60:.0f} experiments/min"},
        {"measure": "created -> first status write, p50", "value": p50_pick, "unit": "ms", "note": ""},
        {"measure": "created -> first status write, p95", "value": p95_pick, "unit": "ms", "note": ""},
        {"measure": "Job finished -> status records it, p50", "value": p50_job, "unit": "ms", "note": f"{len(job)} Jobs"},
        {"measure": "Job finished -> status records it, p95", "value": p95_job, "unit": "ms", "note": ""},
        {"measure": "API calls per experiment", "value": round(calls["total"] / n, 1), "unit": "",
         "note": ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(calls["by_verb"].items()))},
        {"measure": "operator RSS peak", "value": round(rss[1] / 1024, 1), "unit": "MiB",
         "note": f"{(rss[1] - rss[0]) / 1024:.1f} MiB above the idle process"},
    ]
    return {"title": f"Operator: {n} Experiments against the API emulator", "rows": rows,
            "notes": [
                "Jobs complete instantly with the results of one real evaluation of the base codec "
                f"({CLIP}); no sandbox runs, so this is the operator's cost alone.",
                "latencies include the operator's poll interval (0.5 s) and kopf's watch delivery; "
                "API calls include kopf's own (finalizers, Events, watches) and exclude the kubelet's.",
                "the emulator runs in a child process; RSS is this process: Python, kopf, the "
                "operator and its planner, analysis and git work.",
            ]}


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
