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
    CONTAINER,
    DECODE,
    ENCODE,
    MAX_JOB_NAME,
    Measurement,
    Stage,
    build_codec_configmap,
    build_sandbox_job,
    cpu_count,
    job_name,
    sandbox_commands,
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


def containers(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    pod = manifest["spec"]["template"]["spec"]
    return {c["name"]: c for c in [*pod["initContainers"], *pod["containers"]]}


def mounts(container: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    return {m["mountPath"]: (m["name"], bool(m.get("readOnly"))) for m in container["volumeMounts"]}


def test_only_execution_asks_for_gpus_and_gpu_nodes() -> None:
    validation, execution = (job(s)["spec"]["template"]["spec"] for s in (Stage.VALIDATION, Stage.EXECUTION))
    for c in [*validation["initContainers"], *validation["containers"]]:
        assert "nvidia.com/gpu" not in c["resources"]["limits"]
    assert "nodeSelector" not in validation and "tolerations" not in validation
    assert execution["nodeSelector"] == {"pool": "gpu"}
    cpu_only = job(Stage.EXECUTION, sandbox={"gpus": 0})["spec"]["template"]["spec"]
    for c in [*cpu_only["initContainers"], *cpu_only["containers"]]:
        assert set(c["resources"]["limits"]) == {"cpu", "memory"}


def test_the_gpu_profile_gives_only_candidate_steps_the_device_and_no_address_space_limit() -> None:
    steps = containers(job(Stage.EXECUTION))
    for name in (ENCODE, DECODE):
        assert steps[name]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert "gpu=true" in steps[name]["command"]
        assert steps[name]["resources"]["limits"]["memory"] == "8Gi"  # the pod bounds memory
    assert "nvidia.com/gpu" not in steps[CONTAINER]["resources"]["limits"]
    cpu_only = containers(job(Stage.EXECUTION, sandbox={"gpus": 0}))
    assert all("gpu=true" not in c["command"] for c in cpu_only.values())
    assert "gpu=true" not in containers(job(Stage.VALIDATION))[ENCODE]["command"]


def test_gpu_limits_give_a_child_no_address_space_limit_and_the_device_nodes() -> None:
    from aivc.sandbox import confine, policy
    from aivc.sandbox.layers import required
    from aivc.sandbox.limits import SandboxLimits

    gpu = SandboxLimits(gpu=True, pod=True)
    assert "memory-limit" not in required(gpu)  # the pod's memory limit does that job
    assert "memory-limit" in required(SandboxLimits(gpu=True))  # locally: refused unless accepted
    assert "/proc/driver/nvidia" in policy.GPU_READ_ROOTS
    seen: list[int] = []
    original = confine._limit
    try:
        confine._limit = lambda which, soft, hard=None: seen.append(which)  # type: ignore[assignment]
        import resource
        confine.set_rlimits(gpu, own_user=True)
        assert resource.RLIMIT_AS not in seen and resource.RLIMIT_CPU in seen
        seen.clear()
        confine.set_rlimits(SandboxLimits(), own_user=True)
        assert resource.RLIMIT_AS in seen
    finally:
        confine._limit = original  # type: ignore[assignment]


def test_deadlines_follow_the_campaign_time_limits() -> None:
    settings = JobSettings()
    assert job(Stage.VALIDATION)["spec"]["activeDeadlineSeconds"] == \
        300 + settings.deadline_margin_seconds + settings.unschedulable_grace_seconds
    policy = job(Stage.EXECUTION)["spec"]["podFailurePolicy"]["rules"]
    assert policy == [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget",
                                                                "status": "True"}]}]
    steps = containers(job(Stage.EXECUTION))
    for name in (ENCODE, DECODE):
        assert "wall_seconds=1800" in steps[name]["command"] and "parallel=4" in steps[name]["command"]
        assert "pod=true" in steps[name]["command"]
    for name in (ENCODE, CONTAINER):
        command = steps[name]["command"]
        assert command[command.index("--clips") + 1] == "carphone:30,bikes:30,bbb720:12:320x180"


def test_the_decode_step_sees_neither_the_clips_nor_what_the_encode_step_left() -> None:
    manifest = job(Stage.EXECUTION, dataset={"clips": ["own/a.y4m:30"], "volumeClaim": "clips"})
    steps = containers(manifest)
    decode = mounts(steps[DECODE])
    assert "clips" not in {name for name, _ in decode.values()}
    for path in JobSettings().clip_dirs_in_image:
        assert decode[path] == ("no-clips", True)
    assert decode["/exchange/bitstreams"] == ("bitstreams", True)
    assert {"report", "encode-work"}.isdisjoint(name for name, _ in decode.values())
    assert "--clips" not in steps[DECODE]["command"]
    encode = mounts(steps[ENCODE])
    assert encode["/exchange/bitstreams"] == ("bitstreams", False)
    assert encode["/exchange/report"] == ("report", False)
    assert mounts(steps[CONTAINER])["/exchange/report"] == ("report", True)


def test_the_measuring_container_runs_no_candidate_code_and_shares_no_uid_or_group() -> None:
    manifest = job(Stage.EXECUTION)
    pod = manifest["spec"]["template"]["spec"]
    steps = containers(manifest)
    assert [c["name"] for c in pod["containers"]] == [CONTAINER]
    assert [c["name"] for c in pod["initContainers"]] == [ENCODE, DECODE]
    assert steps[CONTAINER]["command"][3] == "measure"
    ids = {name: (c["securityContext"]["runAsUser"], c["securityContext"]["runAsGroup"])
           for name, c in steps.items()}
    assert ids[CONTAINER] not in (ids[ENCODE], ids[DECODE])
    assert ids[CONTAINER][1] not in (ids[ENCODE][1], ids[DECODE][1])
    assert "fsGroup" not in pod["securityContext"] and "supplementalGroups" not in pod["securityContext"]
    assert all(not ro for p, (_, ro) in mounts(steps[CONTAINER]).items() if p == "/work")
    assert all(ro for p, (_, ro) in mounts(steps[CONTAINER]).items() if p.startswith("/exchange"))


def test_each_candidate_step_gets_its_own_read_only_shm_and_capped_scratch() -> None:
    manifest = job(Stage.EXECUTION)
    volumes = {v["name"]: v for v in manifest["spec"]["template"]["spec"]["volumes"]}
    steps = containers(manifest)
    for name in (ENCODE, DECODE):
        shm, work = mounts(steps[name])["/dev/shm"], mounts(steps[name])["/work"]
        assert shm == (f"{name}-shm", True) and work == (f"{name}-work", False)
        assert volumes[f"{name}-work"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "4Gi"}
        assert f"max_written_bytes={4 << 30}" in steps[name]["command"]


def test_a_cascade_stage_narrows_the_clips_levels_and_redecode_policy() -> None:
    narrow = Measurement(clips=("carphone:30",), levels=(0, -1), redecode="sample", part="a")
    manifest = build_sandbox_job(EXPERIMENT, spec(), Stage.EXECUTION, 2, JobSettings(), narrow)
    assert manifest["metadata"]["name"] == job_name("gpu-search-0007", Stage.EXECUTION, 2, "a") \
        == "gpu-search-0007-run2-a" != job(Stage.EXECUTION)["metadata"]["name"]
    assert manifest["metadata"]["labels"]["aivc.dev/part"] == "a"
    steps = containers(manifest)
    for name in (ENCODE, CONTAINER):
        command = steps[name]["command"]
        assert command[command.index("--clips") + 1] == "carphone:30"
    assert steps[ENCODE]["command"][steps[ENCODE]["command"].index("--levels") + 1] == "0,-1"
    assert steps[DECODE]["command"][steps[DECODE]["command"].index("--redecode") + 1] == "sample"
    default = sandbox_commands(Stage.EXECUTION, spec(), JobSettings())[DECODE]
    assert default[default.index("--redecode") + 1] == "all"


def test_relative_clip_paths_resolve_inside_the_clip_volume() -> None:
    manifest = job(Stage.EXECUTION, dataset={"clips": ["own/a.y4m:30"], "volumeClaim": "clips"})
    pod = manifest["spec"]["template"]["spec"]
    for name, container in containers(manifest).items():
        if name == DECODE:
            continue
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


@pytest.mark.parametrize("stage", list(Stage))
def test_sandbox_pods_pull_their_image_with_the_campaigns_pull_secrets_only(stage: Stage) -> None:
    sandbox = {**CAMPAIGN["spec"]["sandbox"], "imagePullSecrets": [{"name": "regcred"}]}
    manifest = job(stage, sandbox=sandbox)
    pod = manifest["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    kubernetes_validate.validate(manifest, "1.30", strict=True)
    # the kubelet uses it to pull; no container, volume or variable sees a Secret
    del pod["imagePullSecrets"]
    assert "secret" not in yaml.safe_dump(pod).lower()


def test_quantities_written_as_numbers_reach_the_pod_as_kubernetes_strings() -> None:
    sandbox = {**CAMPAIGN["spec"]["sandbox"], "cpu": 2, "workDirSizeLimit": "1.5Gi"}
    manifest = job(Stage.EXECUTION, sandbox=sandbox)
    measure = containers(manifest)["measure"]
    assert measure["resources"]["requests"]["cpu"] == "2"
    assert f"max_written_bytes={3 << 29}" in containers(manifest)["encode"]["command"]
    kubernetes_validate.validate(manifest, "1.30", strict=True)
