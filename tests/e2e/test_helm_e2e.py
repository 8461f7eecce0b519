"""The chart on a real cluster: `helm install`, a small Campaign, a NeedsHuman experiment
decided by `kubectl annotate`, and a clean `helm uninstall`.

Opt-in: set AIVC_E2E_KUBECONFIG to a kubeconfig for a disposable cluster (kind works) that
can run the images, e.g. after `make images` and `kind load docker-image aivc-operator:dev
aivc-sandbox:dev`. AIVC_E2E_OPERATOR_IMAGE / AIVC_E2E_SANDBOX_IMAGE name other images,
AIVC_E2E_GPUS the GPUs per execution Job (default 0), AIVC_E2E_TIMEOUT the seconds to wait
for the campaign (default 1800). The cluster must not already have an AIVC release: this one
installs the CRDs and removes them again.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

KUBECONFIG = os.environ.get("AIVC_E2E_KUBECONFIG")
if not KUBECONFIG:
    pytest.skip("AIVC_E2E_KUBECONFIG is not set: the Helm end-to-end test needs a real cluster "
                "(see this module's docstring)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "bin"
TIMEOUT = float(os.environ.get("AIVC_E2E_TIMEOUT", "1800"))
RELEASE = "aivc-e2e"


def _image(var: str, default: str) -> dict[str, str]:
    repo, _, tag = os.environ.get(var, default).rpartition(":")
    return {"repository": repo, "tag": tag}


def run(tool: str, *args: str, check: bool = True, stdin: str | None = None) -> str:
    """helm or kubectl from .tools/bin against the e2e cluster; raises on failure."""
    env = {**os.environ, "KUBECONFIG": str(KUBECONFIG)}
    proc = subprocess.run([str(TOOLS / tool), *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=900, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def kube_json(*args: str) -> dict[str, Any]:
    return dict(json.loads(run("kubectl", *args, "-o", "json")))


def wait_for(what: str, probe: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def campaign(name: str, namespace: str, **spec: Any) -> str:
    doc = {"apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"planner": "search", "dataset": {"clips": ["carphone:8"]},
                    "evaluation": {"anchors": ["x264"]}, **spec}}
    return yaml.safe_dump(doc)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A namespace that enforces Pod Security "restricted", with the chart installed in it."""
    namespace = f"aivc-e2e-{uuid.uuid4().hex[:6]}"
    values = {"watchNamespaces": [namespace], "crds": {"keep": False},
              "persistence": {"keepOnUninstall": False},
              "operator": {"image": _image("AIVC_E2E_OPERATOR_IMAGE", "aivc-operator:dev"),
                           "extraArgs": ["--verbose"]},
              "sandbox": {"image": _image("AIVC_E2E_SANDBOX_IMAGE", "aivc-sandbox:dev"),
                          "gpus": int(os.environ.get("AIVC_E2E_GPUS", "0"))}}
    values_file = tmp_path_factory.mktemp("e2e") / "values.yaml"
    values_file.write_text(json.dumps(values))
    run("kubectl", "create", "namespace", namespace)
    run("kubectl", "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    try:
        run("helm", "install", RELEASE, str(ROOT / "helm" / "aivc"), "--namespace", namespace,
            "--values", str(values_file), "--wait", "--timeout", "10m")
        yield namespace
    finally:
        run("kubectl", "delete", "campaigns,experiments", "--all", "-n", namespace,
            "--wait=true", "--timeout=5m", check=False)
        run("helm", "uninstall", RELEASE, "--namespace", namespace, "--wait", check=False)
        run("kubectl", "delete", "namespace", namespace, "--wait=false", check=False)


def experiments(namespace: str, campaign_name: str, *phases: str) -> list[dict[str, Any]]:
    """The campaign's experiments, only those in `phases` when given."""
    items = kube_json("get", "experiments", "-n", namespace)["items"]
    return [e for e in items if e["spec"]["campaign"] == campaign_name
            and (not phases or (e.get("status") or {}).get("phase") in phases)]


def test_a_small_campaign_runs_to_measured_experiments(release: str) -> None:
    run("kubectl", "apply", "-f", "-", stdin=campaign(
        "small", release, budget={"maxExperiments": 2}, parallelism=2))
    finished = wait_for("two finished experiments", lambda: (
        lambda done: done if len(done) >= 2 else None)(
        experiments(release, "small", "Succeeded", "Failed")))
    assert any(e["status"].get("verdict") in ("Adopted", "Rejected") for e in finished)
    assert any(e["status"].get("metrics", {}).get("kbps") for e in finished)
    assert "PSNR-Y" in run("kubectl", "get", "experiments", "-n", release)


def test_a_person_decides_a_needs_human_experiment_by_annotation(release: str) -> None:
    # 16 MiB cannot hold the interpreter: validation fails, and with no retries left the
    # experiment waits for a person.
    run("kubectl", "apply", "-f", "-", stdin=campaign(
        "starved", release, budget={"maxExperiments": 1}, retries={"validation": 0, "design": 0},
        sandbox={"memory": "16Mi"}))
    stuck = wait_for("an experiment in NeedsHuman",
                     lambda: experiments(release, "starved", "NeedsHuman"))[0]
    name = stuck["metadata"]["name"]
    run("kubectl", "annotate", "experiment", name, "-n", release, "aivc.dev/decision=skip",
        "aivc.dev/note=e2e: not worth more memory")
    after = wait_for("the decision to take effect", lambda: [
        e for e in experiments(release, "starved", "Failed") if e["metadata"]["name"] == name])
    assert after[0]["status"]["verdict"] == "Skipped"


def test_uninstall_leaves_nothing_of_the_release_behind(release: str) -> None:
    # The operator removes its finalizers while it still runs: delete the work before it.
    for kind in ("campaigns", "experiments"):
        run("kubectl", "delete", kind, "--all", "-n", release, "--wait=true", "--timeout=5m")
    run("helm", "uninstall", RELEASE, "--namespace", release, "--wait")
    selector = f"app.kubernetes.io/instance={RELEASE}"
    left = run("kubectl", "get", "all,configmaps,networkpolicies,pvc,roles,rolebindings,"
               "serviceaccounts", "-n", release, "-l", selector, "-o", "name")
    cluster_left = run("kubectl", "get", "clusterroles,clusterrolebindings,crd", "-l", selector,
                       "-o", "name")
    assert left.strip() == "" and cluster_left.strip() == ""
    crds = run("kubectl", "get", "crd", "-o", "name")
    assert "campaigns.aivc.dev" not in crds and "experiments.aivc.dev" not in crds
