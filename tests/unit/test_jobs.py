"""The sandbox Job and codec ConfigMap manifests the operator builds (pure builders).

The manifests are compared with reviewed copies in tests/expected/; after an intended
change, regenerate them with `AIVC_REGEN_EXPECTED=1 pytest tests/unit/test_jobs.py` and
review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from aivc.api.spec import CampaignSpec
from aivc.kube.jobs import (
    MAX_JOB_NAME,
    Stage,
    build_codec_configmap,
    build_sandbox_job,
    cpu_count,
    job_name,
)
from aivc.kube.settings import JobSettings
from tests.integration.pod_security import restricted_violations

EXPECTED = Path(__file__).resolve().parents[1] / "expected"
CAMPAIGN: dict[str, Any] = {
    "apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign",
    "metadata": {"name": "gpu-search", "namespace": "research"},
    "spec": {
        "dataset": {"clips": ["carphone:30", "bikes:30"], "heldOut": ["bbb720:12:320x180"]},
        "evaluation": {"validationTimeoutSeconds": 300, "executionTimeoutSeconds": 1800},
        "sandbox": {"image": "ghcr.io/aivc/sandbox:0.1.0", "cpu": "4", "memory": "8Gi", "gpus": 1,
                    "gpuResourceName": "nvidia.com/gpu", "nodeSelector": {"pool": "gpu"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                                     "effect": "NoSchedule"}],
                    "runtimeClassName": "nvidia", "workDirSizeLimit": "4Gi"},
    },
}
EXPERIMENT = {
    "apiVersion": "aivc.dev/v1alpha1", "kind": "Experiment",
    "metadata": {"name": "gpu-search-0007", "namespace": "research",
                 "uid": "5f1d2c3b-0000-4000-8000-000000000007"},
    "spec": {"campaign": "gpu-search", "sequence": 7},
}


def spec(**changes: Any) -> CampaignSpec:
    doc = {**CAMPAIGN, "spec": {**CAMPAIGN["spec"], **changes}}
    return CampaignSpec.from_manifest(doc)


def job(stage: Stage, **changes: Any) -> dict[str, Any]:
    return build_sandbox_job(EXPERIMENT, spec(**changes), stage, 2, JobSettings())


def matches_expected(name: str, obj: dict[str, Any]) -> None:
    path = EXPECTED / name
    text = yaml.safe_dump(obj, sort_keys=False)
    if os.environ.get("AIVC_REGEN_EXPECTED"):
        path.write_text(text)
    assert path.is_file(), f"{path} is missing: run with AIVC_REGEN_EXPECTED=1 and review it"
    assert yaml.safe_load(path.read_text()) == obj, f"{name} changed; regenerate and review the diff"


@pytest.mark.parametrize("stage", list(Stage))
def test_sandbox_jobs_match_the_reviewed_manifests(stage: Stage) -> None:
    matches_expected(f"sandbox-job-{stage.value}.yaml", job(stage))


def test_the_codec_configmap_matches_the_reviewed_manifest() -> None:
    matches_expected("codec-configmap.yaml", build_codec_configmap(EXPERIMENT, "LEVELS = 4\n"))


@pytest.mark.parametrize("stage", list(Stage))
def test_manifests_are_valid_kubernetes_objects(stage: Stage) -> None:
    kubernetes_validate.validate(job(stage), "1.30", strict=True)
    kubernetes_validate.validate(build_codec_configmap(EXPERIMENT, "x = 1\n"), "1.30", strict=True)


@pytest.mark.parametrize("stage", list(Stage))
def test_sandbox_pods_meet_the_restricted_pod_security_profile(stage: Stage) -> None:
    pod = job(stage, dataset={"clips": ["clips/a.y4m"], "volumeClaim": "clips"})["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []


@pytest.mark.parametrize("stage", list(Stage))
def test_sandbox_pods_get_no_token_no_secret_and_no_service_links(stage: Stage) -> None:
    manifest = job(stage)
    pod = manifest["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    assert "secret" not in yaml.safe_dump(pod).lower()
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"valueFrom", "envFrom"}.isdisjoint(k for e in container["env"] for k in e)
    assert manifest["spec"]["backoffLimit"] == 0 and manifest["spec"]["ttlSecondsAfterFinished"] > 0


def test_only_execution_asks_for_gpus_and_gpu_nodes() -> None:
    validation, execution = (job(s)["spec"]["template"]["spec"] for s in (Stage.VALIDATION, Stage.EXECUTION))
    assert "nvidia.com/gpu" not in validation["containers"][0]["resources"]["limits"]
    assert "nodeSelector" not in validation and "tolerations" not in validation
    assert execution["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert execution["nodeSelector"] == {"pool": "gpu"}
    cpu_only = job(Stage.EXECUTION, sandbox={"gpus": 0})["spec"]["template"]["spec"]
    assert set(cpu_only["containers"][0]["resources"]["limits"]) == {"cpu", "memory"}


def test_deadlines_follow_the_campaign_time_limits() -> None:
    assert job(Stage.VALIDATION)["spec"]["activeDeadlineSeconds"] == 300 + JobSettings().deadline_margin_seconds
    command = job(Stage.EXECUTION)["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "wall_seconds=1800" in command and "parallel=4" in command
    assert command[command.index("--clips") + 1] == "carphone:30,bikes:30,bbb720:12:320x180"


def test_relative_clip_paths_resolve_inside_the_clip_volume() -> None:
    pod = job(Stage.EXECUTION, dataset={"clips": ["own/a.y4m:30"], "volumeClaim": "clips"})[
        "spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["workingDir"] == "/clips"
    assert {"name": "clips", "mountPath": "/clips", "readOnly": True} in container["volumeMounts"]
    assert {"name": "clips", "persistentVolumeClaim": {"claimName": "clips", "readOnly": True}} in pod["volumes"]


def test_job_names_are_deterministic_and_fit_a_label_value() -> None:
    assert job_name("gpu-search-0007", Stage.EXECUTION, 3) == "gpu-search-0007-run3"
    long = "c" * 52 + "-0001"
    names = {job_name(long, Stage.VALIDATION, 12), job_name(long, Stage.VALIDATION, 12)}
    assert len(names) == 1 and len(names.pop()) <= MAX_JOB_NAME
    assert job_name(long, Stage.VALIDATION, 1) != job_name(long + "x", Stage.VALIDATION, 1)


@pytest.mark.parametrize(("quantity", "cpus"), [("2", 2), ("1.5", 1), ("500m", 1), ("3000m", 3)])
def test_cpu_counts_come_from_kubernetes_quantities(quantity: str, cpus: int) -> None:
    assert cpu_count(quantity) == cpus
