"""The README's Kubernetes sequence on a real cluster: `helm install` with the image values
the README gives, `kubectl apply` of examples/campaign.yaml as written, what the API server
refuses (quantities, immutable fields), a small campaign run to measured experiments, a
NeedsHuman experiment decided by `kubectl annotate`, and an uninstall that the pre-delete
hook holds while work is in flight and that then leaves nothing behind.

Opt-in: set AIVC_E2E_KUBECONFIG to a kubeconfig for a disposable cluster (kind works) that
can pull the images the README's `make images push REGISTRY=...` made: set
AIVC_E2E_REGISTRY to that REGISTRY (empty, the default, for images loaded into kind with
`kind load docker-image aivc-operator:0.1.0 aivc-sandbox:0.1.0`) and AIVC_E2E_TAG to its
TAG if not the chart's appVersion. AIVC_E2E_GPUS sets the GPUs per execution Job (default
0), AIVC_E2E_TIMEOUT the seconds to wait for a campaign (default 1800). The example runs the
llm planner: with AIVC_E2E_ANTHROPIC_API_KEY it gets that key, otherwise a dummy one and
only its acceptance is checked. The cluster must not already have an AIVC release: this one
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
REGISTRY = os.environ.get("AIVC_E2E_REGISTRY", "")
TAG = os.environ.get("AIVC_E2E_TAG", "")
EXAMPLE = ROOT / "examples" / "campaign.yaml"


def run(tool: str, *args: str, check: bool = True, stdin: str | None = None) -> str:
    """helm or kubectl from .tools/bin against the e2e cluster; raises on failure."""
    proc = attempt(tool, *args, stdin=stdin)
    if check and proc.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def attempt(tool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(KUBECONFIG)}
    return subprocess.run([str(TOOLS / tool), *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=900, check=False)


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


class Install:
    """The README's namespaces: the release in one, Campaigns in another it watches."""

    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.system, self.research = f"aivc-e2e-{suffix}", f"research-e2e-{suffix}"

    def values(self) -> list[str]:
        """The README's `--set`s, plus what a disposable cluster needs."""
        sets = [f"imageRegistry={REGISTRY}", f"watchNamespaces={{{self.research}}}",
                "crds.keep=false", "persistence.keepOnUninstall=false",
                f"sandbox.gpus={int(os.environ.get('AIVC_E2E_GPUS', '0'))}",
                "operator.extraArgs={--verbose}"]
        if TAG:
            sets += [f"operator.image.tag={TAG}", f"sandbox.image.tag={TAG}"]
        return [arg for s in sets for arg in ("--set", s)]


@pytest.fixture(scope="module")
def install() -> Iterator[Install]:
    """README: create the namespace and the key's Secret, then `helm install`."""
    where = Install()
    key = os.environ.get("AIVC_E2E_ANTHROPIC_API_KEY", "sk-ant-e2e-dummy")
    run("kubectl", "create", "namespace", where.research)
    run("kubectl", "label", "namespace", where.research,
        "pod-security.kubernetes.io/enforce=restricted")
    run("kubectl", "-n", where.research, "create", "secret", "generic", "anthropic",
        f"--from-literal=api-key={key}")
    try:
        run("helm", "install", RELEASE, str(ROOT / "helm" / "aivc"), "--namespace", where.system,
            "--create-namespace", *where.values(), "--wait", "--timeout", "10m")
        yield where
    finally:
        run("kubectl", "delete", "campaigns,experiments", "--all", "-n", where.research,
            "--wait=true", "--timeout=5m", check=False)
        run("helm", "uninstall", RELEASE, "--namespace", where.system, "--wait", check=False)
        for ns in (where.research, where.system):
            run("kubectl", "delete", "namespace", ns, "--wait=false", check=False)


def experiments(namespace: str, campaign_name: str, *phases: str) -> list[dict[str, Any]]:
    """The campaign's experiments, only those in `phases` when given."""
    items = kube_json("get", "experiments", "-n", namespace)["items"]
    return [e for e in items if e["spec"]["campaign"] == campaign_name
            and (not phases or (e.get("status") or {}).get("phase") in phases)]


def test_the_example_is_accepted_as_written_and_gets_the_pushed_sandbox_image(install: Install) -> None:
    applied = json.loads(run("kubectl", "-n", install.research, "apply", "--dry-run=server",
                             "-f", str(EXAMPLE), "-o", "json"))
    sandbox = applied["spec"]["sandbox"]
    operator = kube_json("-n", install.system, "get", "deployment", f"{RELEASE}-operator")
    operator_image = operator["spec"]["template"]["spec"]["containers"][0]["image"]
    assert sandbox["image"] == operator_image.replace("aivc-operator:", "aivc-sandbox:")
    assert applied["spec"]["llm"]["apiKeySecret"]["name"] == "anthropic"


def test_the_api_server_refuses_what_the_crd_refuses(install: Install) -> None:
    bad = attempt("kubectl", "apply", "-f", "-", stdin=campaign(
        "bad-memory", install.research, sandbox={"memory": "4GB"}))
    assert bad.returncode != 0 and "spec.sandbox.memory" in bad.stderr
    run("kubectl", "apply", "--dry-run=server", "-f", "-", stdin=campaign(
        "cpu-number", install.research, sandbox={"cpu": 2}))
    run("kubectl", "apply", "-f", "-", stdin=campaign(
        "frozen", install.research, budget={"maxExperiments": 1}))
    moved = attempt("kubectl", "-n", install.research, "patch", "campaign", "frozen",
                    "--type", "merge", "-p", '{"spec":{"dataset":{"clips":["bikes:8"]}}}')
    assert moved.returncode != 0 and "spec.dataset is immutable" in moved.stderr
    run("kubectl", "-n", install.research, "patch", "campaign", "frozen", "--type", "merge",
        "-p", '{"spec":{"budget":{"maxExperiments":2},"parallelism":2}}')
    run("kubectl", "-n", install.research, "delete", "campaign", "frozen", "--wait=true",
        "--timeout=5m")


def test_a_small_campaign_runs_to_measured_experiments(install: Install) -> None:
    run("kubectl", "apply", "-f", "-", stdin=campaign(
        "small", install.research, budget={"maxExperiments": 2}, parallelism=2))
    finished = wait_for("two finished experiments", lambda: (
        lambda done: done if len(done) >= 2 else None)(
        experiments(install.research, "small", "Succeeded", "Failed")))
    assert any(e["status"].get("verdict") in ("Adopted", "Rejected") for e in finished)
    assert any(e["status"].get("metrics", {}).get("kbps") for e in finished)
    assert "PSNR-YUV" in run("kubectl", "get", "experiments", "-n", install.research)


def test_a_person_decides_a_needs_human_experiment_by_annotation(install: Install) -> None:
    # 16 MiB cannot hold the interpreter: validation fails, and with no retries left the
    # experiment waits for a person.
    run("kubectl", "apply", "-f", "-", stdin=campaign(
        "starved", install.research, budget={"maxExperiments": 1},
        retries={"validation": 0, "design": 0}, sandbox={"memory": "16Mi"}))
    stuck = wait_for("an experiment in NeedsHuman",
                     lambda: experiments(install.research, "starved", "NeedsHuman"))[0]
    name = stuck["metadata"]["name"]
    run("kubectl", "annotate", "experiment", name, "-n", install.research,
        "aivc.dev/decision=skip", "aivc.dev/note=e2e: not worth more memory")
    after = wait_for("the decision to take effect", lambda: [
        e for e in experiments(install.research, "starved", "Failed")
        if e["metadata"]["name"] == name])
    assert after[0]["status"]["verdict"] == "Skipped"


def test_uninstall_waits_for_running_work_then_leaves_nothing_behind(install: Install) -> None:
    run("kubectl", "apply", "-f", "-", stdin=campaign(
        "running", install.research, budget={"maxExperiments": 50}))
    wait_for("the running campaign's finalizer", lambda: "aivc.dev/daemon" in (
        kube_json("-n", install.research, "get", "campaign", "running")["metadata"]
        .get("finalizers") or []), timeout=120)
    held = attempt("helm", "uninstall", RELEASE, "--namespace", install.system, "--wait")
    assert held.returncode != 0, "the pre-delete hook must refuse while a campaign runs"
    log = run("kubectl", "-n", install.system, "logs", f"job/{RELEASE}-uninstall-check")
    assert f"Campaign {install.research}/running" in log and "finalizers" in log
    # The README's order: delete the work while the operator runs, then the release.
    for kind in ("campaigns", "experiments"):
        run("kubectl", "delete", kind, "--all", "-n", install.research, "--wait=true",
            "--timeout=5m")
    run("helm", "uninstall", RELEASE, "--namespace", install.system, "--wait")
    selector = f"app.kubernetes.io/instance={RELEASE}"
    left = "".join(run("kubectl", "get", "all,configmaps,networkpolicies,pvc,roles,rolebindings,"
                       "serviceaccounts", "-n", ns, "-l", selector, "-o", "name")
                   for ns in (install.system, install.research))
    cluster_left = run("kubectl", "get", "clusterroles,clusterrolebindings,crd", "-l", selector,
                       "-o", "name")
    assert left.strip() == "" and cluster_left.strip() == ""
    crds = run("kubectl", "get", "crd", "-o", "name")
    assert "campaigns.aivc.dev" not in crds and "experiments.aivc.dev" not in crds
