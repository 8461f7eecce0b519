"""The `operator` bench's cluster: the API emulator and an instant kubelet, in their own process.

`python -m aivc.bench.operator_cluster WORKDIR BASE_CODEC CLIP` evaluates the base codec
once in-process (real numbers), serves the API, writes its URL to WORKDIR/url, and answers
every sandbox Job at once with those results under the candidate's own sha. When its stdin
closes it writes WORKDIR/stats.json (latencies and call counts) and exits.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import kmock
import yaml

from aivc.api.crds import CRD_DIR
from aivc.evaluate.clips import ClipSpec
from aivc.evaluate.inprocess import evaluate_in_process
from aivc.evaluate.results import EvaluationResult
from aivc.testing.emulator import ApiServer
from aivc.testing.kubelet import PodResult, PodRunner

OPERATOR_AGENTS = ("aivc-operator", "kopf/")


class InstantKubelet(PodRunner):
    """Answers every pod at once with a recorded evaluation under the candidate's sha."""

    def __init__(self, api: ApiServer, url: str, result: EvaluationResult) -> None:
        super().__init__(api, url)
        self.result = result

    async def run_pod(self, namespace: str, job: dict[str, Any], pod: dict[str, Any]) -> PodResult:
        volume = next(v for v in pod["spec"]["volumes"] if "configMap" in v)
        cm = await self.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/"
                                       f"{volume['configMap']['name']}")
        sha = hashlib.sha256(cm["data"]["codec.py"].encode()).hexdigest()
        stage = pod["metadata"]["labels"]["aivc.dev/stage"]
        if stage == "validation":
            result = EvaluationResult("validate", sha, self.result.levels_declared)
        else:
            result = EvaluationResult.from_dict({**self.result.to_dict(), "codec_sha256": sha})
        return PodResult(0, result.to_json(), result.summary())


def statistics(api: ApiServer, kubelet: InstantKubelet) -> dict[str, Any]:
    """Latencies and the operator's call counts, from the emulator's logs (one clock)."""
    ours = [c for c in api.calls if c.agent.startswith(OPERATOR_AGENTS)]
    writes: dict[str, list[float]] = {}  # experiment -> times of its status writes
    for call in ours:
        parts = call.path.split("/")
        if call.method == "PATCH" and parts[-1] == "status" and parts[-3] == "experiments":
            writes.setdefault(parts[-2], []).append(call.at)
    created = {key.split("/")[-1]: at for key, at in api.created.items()
               if key.startswith("experiments/")}
    pickup = [writes[name][0] - at for name, at in created.items() if name in writes]
    job = []
    for job_name, at in kubelet.finished:
        later = [t for t in writes.get(job_name.rsplit("-", 1)[0], []) if t >= at]
        if later:
            job.append(later[0] - at)
    by_verb: dict[str, int] = {}
    for call in ours:
        verb = "watch" if call.watch else call.method.lower()
        by_verb[verb] = by_verb.get(verb, 0) + 1
    return {"experiments": len(created), "pickup_seconds": pickup, "job_seconds": job,
            "calls": {"total": len(ours), "by_verb": by_verb}}


async def serve(work: Path, base_codec: Path, clip: str) -> None:
    result = evaluate_in_process(base_codec, [ClipSpec.parse(clip)])
    api = ApiServer()
    for path in sorted(CRD_DIR.glob("*.yaml")):
        api.declare_crd(yaml.safe_load(path.read_text()))
    async with api, kmock.Server(api) as server:
        url = str(server.url).rstrip("/")
        async with InstantKubelet(api, url, result) as kubelet:
            (work / "url").write_text(url)
            await asyncio.to_thread(sys.stdin.read)  # until the bench closes our stdin
            (work / "stats.json").write_text(json.dumps(statistics(api, kubelet)))


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
