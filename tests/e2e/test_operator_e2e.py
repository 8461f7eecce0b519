"""The operator scenarios on a real cluster: the same handlers, real Jobs, real garbage collection.

Opt-in: set AIVC_E2E_KUBECONFIG to a kubeconfig for a disposable cluster (kind works) that
can pull the sandbox image (AIVC_E2E_SANDBOX_IMAGE, default `aivc-sandbox:0.1.0` from
`make images`; `kind load docker-image aivc-sandbox:0.1.0`). The operator runs here, in this
process (so the scripted planner and test codecs plug in as in tests/integration), against
that cluster: it installs the CRDs when missing, works in a fresh namespace and deletes it
at the end. AIVC_E2E_GPUS sets the GPUs per execution Job (default 0).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KUBECONFIG = os.environ.get("AIVC_E2E_KUBECONFIG")
if not KUBECONFIG:
    pytest.skip("AIVC_E2E_KUBECONFIG is not set: the operator end-to-end tests need a real "
                "cluster (see this module's docstring)", allow_module_level=True)

from aivc.api.spec import validate  # noqa: E402
from aivc.kube.client import CAMPAIGNS, CONFIGMAPS, EXPERIMENTS, JOBS, KubeApi, NotFound  # noqa: E402
from aivc.kube.memo import OperatorMemo  # noqa: E402
from aivc.kube.running import OperatorThread  # noqa: E402
from tests.fakes.cluster import campaign_manifest, fast_config  # noqa: E402
from tests.fakes.scripted_planner import ScriptedPlanner, proposal  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = ROOT / ".tools" / "bin" / "kubectl"
IMAGE = os.environ.get("AIVC_E2E_SANDBOX_IMAGE", "aivc-sandbox:0.1.0")
GPUS = int(os.environ.get("AIVC_E2E_GPUS", "0"))


def kubectl(*args: str) -> str:
    env = {**os.environ, "KUBECONFIG": str(KUBECONFIG)}
    proc = subprocess.run([str(KUBECTL), *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    kubectl("apply", "-f", str(ROOT / "crds"))
    name = f"aivc-e2e-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false")


def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    os.environ["KUBECONFIG"] = str(KUBECONFIG)
    return kopf.login_with_kubeconfig(**kwargs)


async def wait(check: Any, timeout: float, what: str) -> Any:
    for _ in range(int(timeout / 2)):
        if value := await check():
            return value
        await asyncio.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


async def _scenario(ns: str, data_dir: Path) -> dict[str, Any]:
    planner = ScriptedPlanner({1: [proposal("no_decoder"), proposal("raw_quantize")],
                               2: [proposal("dpcm_quantize")]})
    memo = OperatorMemo(fast_config(data_dir, namespaces=(ns,)), planner_factory=planner.factory(),
                        credentials=login)
    runner = OperatorThread(memo)
    info = login(logger=logging.getLogger("aivc.e2e"), settings=kopf.OperatorSettings())
    assert info is not None
    api = KubeApi(info, user_agent="e2e")
    out: dict[str, Any] = {}
    await asyncio.to_thread(runner.start)
    try:
        sandbox = {"image": IMAGE, "gpus": GPUS, "cpu": "1", "memory": "2Gi"}
        manifest = validate(campaign_manifest("e2e", budget={"maxExperiments": 3}, sandbox=sandbox,
                                              retries={"validation": 1}), "Campaign")
        await api.create(CAMPAIGNS, ns, {**manifest, "metadata": {"name": "e2e", "namespace": ns}})

        async def finished() -> list[dict[str, Any]] | None:
            docs = await api.list(EXPERIMENTS, ns)
            done = [d for d in docs if (d.get("status") or {}).get("phase") in ("Succeeded", "Failed")]
            return docs if len(done) == 3 else None
        out["experiments"] = {d["metadata"]["name"]: d for d in await wait(finished, 1800, "3 experiments")}
        exp = out["experiments"]["e2e-0002"]
        await api.delete(EXPERIMENTS, ns, "e2e-0002")

        async def collected() -> bool:
            left = [o for kind in (JOBS, CONFIGMAPS) for o in await api.list(kind, ns)
                    if o["metadata"].get("labels", {}).get("aivc.dev/experiment") == "e2e-0002"]
            try:
                await api.get(EXPERIMENTS, ns, "e2e-0002")
            except NotFound:
                return not left
            return False
        out["collected"] = await wait(collected, 300, "the garbage collector")
        out["uid"] = exp["metadata"]["uid"]
    finally:
        await api.close()
        await asyncio.to_thread(runner.stop)
    return out


@pytest.fixture(scope="module")
def run(namespace: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return asyncio.run(_scenario(namespace, tmp_path_factory.mktemp("e2e")))


def test_three_experiments_end_adopted_rejected_adopted(run: dict[str, Any]) -> None:
    verdicts = [run["experiments"][f"e2e-000{i}"]["status"].get("verdict") for i in range(3)]
    assert verdicts == ["Adopted", "Rejected", "Adopted"]
    assert run["experiments"]["e2e-0001"]["status"]["attempts"]["validation"] == 1


def test_results_come_back_from_real_pods(run: dict[str, Any]) -> None:
    status = run["experiments"]["e2e-0002"]["status"]
    assert status["resultsSource"] == "log" and len(status["results"]["levels"]) == 4


def test_deleting_an_experiment_lets_the_cluster_collect_its_jobs_and_configmap(run: dict[str, Any]) -> None:
    assert run["collected"] is True
