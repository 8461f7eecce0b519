"""Pure manifest builders for what an Experiment owns: its codec ConfigMaps and sandbox Jobs.

Everything here is a function of its arguments (no API calls, no clock), so the manifests
are tested against stored YAML in `tests/expected/` and the Helm chart's tests can check the
same Job against the Pod Security "restricted" profile.

Sandbox pods run untrusted code, so they get nothing they do not need: no service-account
token, no Secret, no service links, a read-only root filesystem with a size-limited
`emptyDir` for work, non-root uid/gid 65534, all capabilities dropped, seccomp
`RuntimeDefault`, `backoffLimit: 0` (retries belong to the phase machine) and an
`activeDeadlineSeconds` a little above the campaign's time limit. The candidate source comes
in read-only from a ConfigMap; the harness writes its compact summary to the termination
message and prints the full results on stdout (the pod log).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any

from aivc.api import API_VERSION
from aivc.api.spec import CampaignSpec
from aivc.kube.settings import MANAGED_BY, JobSettings

CODEC_KEY = "codec.py"
CONTAINER = "sandbox"
SANDBOX_UID = 65534
TERMINATION_LOG = "/dev/termination-log"
MAX_JOB_NAME = 63  # the Job controller copies the name into a label value


class Stage(StrEnum):
    VALIDATION = "validation"
    EXECUTION = "execution"


_SHORT = {Stage.VALIDATION: "val", Stage.EXECUTION: "run"}
_SANDBOX_MODE = {Stage.VALIDATION: "validate", Stage.EXECUTION: "evaluate"}


def bounded_name(base: str, suffix: str, limit: int) -> str:
    """`base-suffix`, with `base` cut and hashed when the whole would exceed `limit`."""
    name = f"{base}-{suffix}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    keep = limit - len(suffix) - len(digest) - 2
    return f"{base[:keep].rstrip('-.')}-{digest}-{suffix}"


def job_name(experiment: str, stage: Stage, generation: int) -> str:
    """Deterministic, so a restarted operator finds (adopts) the Job instead of doubling it."""
    return bounded_name(experiment, f"{_SHORT[stage]}{generation}", MAX_JOB_NAME)


def codec_configmap_name(experiment: str) -> str:
    """The one ConfigMap holding an experiment's current candidate (replaced on a repair)."""
    return bounded_name(experiment, "codec", 253)


def labels_for(experiment: dict[str, Any], component: str) -> dict[str, str]:
    spec = experiment.get("spec") or {}
    return {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/part-of": "aivc",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "aivc.dev/campaign": str(spec.get("campaign", "")),
        "aivc.dev/experiment": experiment["metadata"]["name"],
    }


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    """The owner's garbage collector link: deleting the owner deletes this object."""
    meta = owner["metadata"]
    return {"apiVersion": owner.get("apiVersion", API_VERSION), "kind": owner["kind"],
            "name": meta["name"], "uid": meta["uid"], "controller": True,
            "blockOwnerDeletion": True}


def _metadata(experiment: dict[str, Any], name: str, component: str,
              extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": experiment["metadata"]["namespace"],
            "labels": {**labels_for(experiment, component), **(extra_labels or {})},
            "ownerReferences": [owner_reference(experiment)]}


def source_sha256(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def build_codec_configmap(experiment: dict[str, Any], source: str) -> dict[str, Any]:
    """The candidate source, owned by its Experiment (so it goes when the Experiment goes)."""
    meta = _metadata(experiment, codec_configmap_name(experiment["metadata"]["name"]), "aivc-codec")
    meta["annotations"] = {"aivc.dev/sha256": source_sha256(source)}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {CODEC_KEY: source}}


def cpu_count(quantity: str) -> int:
    """Whole CPUs in a Kubernetes quantity ("2", "1.5", "500m"), at least one."""
    text = str(quantity).strip()
    value = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    return max(1, int(value))


def sandbox_command(stage: Stage, campaign: CampaignSpec, settings: JobSettings) -> list[str]:
    """`python -m aivc.sandbox validate|evaluate ...` exactly as the sandbox CLI takes it.

    No candidate process may outlive the stage's time limit, and the sandbox runs as many
    side by side as the pod has CPUs (it would otherwise count the node's cores).
    """
    limit = (campaign.validation_timeout_s if stage is Stage.VALIDATION
             else campaign.execution_timeout_s)
    cmd = [settings.python, "-m", "aivc.sandbox", _SANDBOX_MODE[stage],
           "--codec", f"/codec/{CODEC_KEY}", "--summary-file", TERMINATION_LOG,
           "--limit", f"wall_seconds={limit}",
           "--limit", f"parallel={cpu_count(campaign.sandbox.cpu)}"]
    if stage is Stage.EXECUTION:
        cmd += ["--clips", ",".join([*campaign.clips, *campaign.held_out])]
    return cmd


def _resources(campaign: CampaignSpec, stage: Stage) -> dict[str, Any]:
    sb = campaign.sandbox
    limits: dict[str, Any] = {"cpu": sb.cpu, "memory": sb.memory}
    if stage is Stage.EXECUTION and sb.gpus > 0:
        limits[sb.gpu_resource_name] = str(sb.gpus)
    return {"requests": {"cpu": sb.cpu, "memory": sb.memory}, "limits": limits}


def _claim(campaign: CampaignSpec) -> str | None:
    """The PersistentVolumeClaim holding clip files, when the campaign names one."""
    claim = (campaign.raw.get("spec") or {}).get("dataset", {}).get("volumeClaim")
    return str(claim) if claim else None


def _container(campaign: CampaignSpec, stage: Stage, settings: JobSettings) -> dict[str, Any]:
    mounts = [{"name": "codec", "mountPath": "/codec", "readOnly": True},
              {"name": "work", "mountPath": "/work"}]
    if _claim(campaign):  # relative clip paths resolve inside the claim
        mounts.append({"name": "clips", "mountPath": settings.clips_mount, "readOnly": True})
    return {
        "name": CONTAINER,
        "image": campaign.sandbox.image,
        "imagePullPolicy": "IfNotPresent",
        "command": sandbox_command(stage, campaign, settings),
        "workingDir": settings.clips_mount if _claim(campaign) else "/work",
        "env": [{"name": "HOME", "value": "/work"}, {"name": "TMPDIR", "value": "/work"},
                {"name": "AIVC_CACHE_DIR", "value": "/work/cache"},
                {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
        "resources": _resources(campaign, stage),
        "securityContext": {
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True, "runAsUser": SANDBOX_UID, "runAsGroup": SANDBOX_UID,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "volumeMounts": mounts,
    }


def _volumes(campaign: CampaignSpec, configmap: str) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [
        {"name": "codec", "configMap": {"name": configmap, "defaultMode": 0o444,
                                        "items": [{"key": CODEC_KEY, "path": CODEC_KEY}]}},
        {"name": "work", "emptyDir": {"sizeLimit": campaign.sandbox.work_dir_size_limit}},
    ]
    claim = _claim(campaign)
    if claim:
        volumes.append({"name": "clips", "persistentVolumeClaim": {"claimName": claim,
                                                                   "readOnly": True}})
    return volumes


def _pod_spec(campaign: CampaignSpec, stage: Stage, configmap: str,
              settings: JobSettings) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": SANDBOX_UID,
                            "runAsGroup": SANDBOX_UID, "fsGroup": SANDBOX_UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [_container(campaign, stage, settings)],
        "volumes": _volumes(campaign, configmap),
    }
    sb = campaign.sandbox
    if stage is Stage.EXECUTION:  # validation is CPU-only and may run on any node
        if sb.node_selector:
            spec["nodeSelector"] = dict(sb.node_selector)
        if sb.tolerations:
            spec["tolerations"] = list(sb.tolerations)
    if sb.runtime_class_name:
        spec["runtimeClassName"] = sb.runtime_class_name
    return spec


def build_sandbox_job(experiment: dict[str, Any], campaign: CampaignSpec, stage: Stage,
                      generation: int, settings: JobSettings | None = None) -> dict[str, Any]:
    """The Job that validates or evaluates one design generation of `experiment`."""
    settings = settings or JobSettings()
    name = experiment["metadata"]["name"]
    configmap = codec_configmap_name(name)
    extra = {"aivc.dev/stage": stage.value, "aivc.dev/generation": str(generation)}
    meta = _metadata(experiment, job_name(name, stage, generation), "aivc-sandbox", extra)
    limit = (campaign.validation_timeout_s if stage is Stage.VALIDATION
             else campaign.execution_timeout_s)
    pod_meta = {"labels": dict(meta["labels"])}
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": limit + settings.deadline_margin_seconds,
            "ttlSecondsAfterFinished": settings.ttl_seconds,
            "template": {"metadata": pod_meta,
                         "spec": _pod_spec(campaign, stage, configmap, settings)},
        },
    }
