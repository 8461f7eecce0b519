"""Pure manifest builders for what an Experiment owns: its codec ConfigMaps and sandbox Jobs.

Everything here is a function of its arguments (no API calls, no clock), so the manifests
are tested against stored YAML in `tests/expected/` and the Helm chart's tests can check the
same Job against the Pod Security "restricted" profile.

A sandbox Job's pod runs one measurement as three steps, each in a container of its own
(`aivc.sandbox.podsteps`), so that no step can reach what it must not:

- ``encode`` (init container, candidate code, uid 65534): the codec, the source clips, its
  own scratch volume; writes the bitstreams (and a manifest of the clips' geometry) to the
  ``bitstreams`` volume and its timings and errors to ``encode-report``.
- ``decode`` (init container, candidate code, uid 65534): the codec and the bitstreams,
  read-only; an empty volume covers the image's baked clips and no clip volume is mounted,
  so the decode step cannot see the source; nothing the encode step left but the bitstreams
  either (not its scratch, not its report). Writes raw planes to ``decoded``.
- ``measure`` (the pod's only container, uid 65532, no candidate code): reads the clips, the
  bitstreams, the planes and both reports, computes every number, prints the results (the
  pod log) and writes the summary to the termination message.

Init containers run one after the other, so the encoder has exited before any decoder
starts. Each candidate container gets its own memory-backed /dev/shm, read-only, instead
of the pod's shared one, and its own memory-backed scratch volume (a tmpfs of
`SandboxSpec.work_dir_size_limit`: a hard cap on what its processes write). Inside each,
the sandbox adds what a pod allows (`--limit pod=true`: seccomp, Landlock, rlimits, and
namespaces where the runtime permits them). There is no fsGroup: the measuring container
shares no group with candidate code either, and reads the others' files as world-readable.

Sandbox pods get nothing they do not need: no service-account token, no Secret (an image
pull secret the campaign names is the kubelet's, for the pull; no container sees it), no
service links, read-only root file systems, all capabilities dropped, seccomp
`RuntimeDefault`, `backoffLimit: 0` (retries belong to the phase machine) and an
`activeDeadlineSeconds` a little above the campaign's time limit. The candidate source comes
in read-only from a ConfigMap.

The GPU profile (execution with `sandbox.gpus > 0`): the GPU is requested by the two
candidate containers (init containers run one at a time, so the device is handed on), and
their sandbox runs with `--limit gpu=true`: the NVIDIA device nodes are reachable and no
address-space limit is set (it breaks the CUDA runtime); the pod's memory limit bounds
memory instead. docs/sandbox.md says how to check it on a GPU node.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aivc.api import API_VERSION
from aivc.api.quantities import byte_count, cpu_count
from aivc.api.spec import CampaignSpec
from aivc.kube.settings import MANAGED_BY, JobSettings

CODEC_KEY = "codec.py"
CONTAINER = "measure"
"""The container whose termination message and log carry the results (no candidate code)."""
ENCODE, DECODE = "encode", "decode"
"""The init containers that run candidate code."""
SANDBOX_UID = 65534
MEASURE_UID = 65532
EXCHANGE = "/exchange"
TERMINATION_LOG = "/dev/termination-log"
MAX_JOB_NAME = 63  # the Job controller copies the name into a label value


class Stage(StrEnum):
    VALIDATION = "validation"
    EXECUTION = "execution"


_SHORT = {Stage.VALIDATION: "val", Stage.EXECUTION: "run"}


def bounded_name(base: str, suffix: str, limit: int) -> str:
    """`base-suffix`, with `base` cut and hashed when the whole would exceed `limit`."""
    name = f"{base}-{suffix}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    keep = limit - len(suffix) - len(digest) - 2
    return f"{base[:keep].rstrip('-.')}-{digest}-{suffix}"


def job_name(experiment: str, stage: Stage, generation: int, part: str = "") -> str:
    """Deterministic, so a restarted operator finds (adopts) the Job instead of doubling it;
    `part` tells apart the Jobs of one cascade (`Measurement.part`)."""
    suffix = f"{_SHORT[stage]}{generation}" + (f"-{part}" if part else "")
    return bounded_name(experiment, suffix, MAX_JOB_NAME)


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


@dataclass(frozen=True)
class Measurement:
    """What one Job measures: clips (None: the campaign's and its held-out ones), levels
    (None: all; negative counts from the last) and the determinism policy."""

    clips: tuple[str, ...] | None = None
    levels: tuple[int, ...] | None = None
    redecode: str = "all"
    part: str = ""
    """A short tag (e.g. "a", "b") naming this stage of a cascade: it goes into the Job's
    name (`job_name`) and its `aivc.dev/part` label, so the stages' Jobs do not collide."""


def sandbox_commands(stage: Stage, campaign: CampaignSpec, settings: JobSettings,
                     work: Measurement | None = None) -> dict[str, list[str]]:
    """The three containers' `python -m aivc.sandbox ...` command lines, by container name.

    No candidate process may outlive the stage's time limit, and the sandbox runs as many
    side by side as the pod has CPUs (it would otherwise count the node's cores).
    """
    work = work or Measurement()
    limit = (campaign.validation_timeout_s if stage is Stage.VALIDATION
             else campaign.execution_timeout_s)
    base = [settings.python, "-m", "aivc.sandbox"]
    codec = ["--codec", f"/codec/{CODEC_KEY}"]
    what = ["--validation"]
    if stage is Stage.EXECUTION:
        clips = work.clips if work.clips is not None else (*campaign.clips, *campaign.held_out)
        what = ["--clips", ",".join(clips)]
        if work.levels is not None:
            what += ["--levels", ",".join(str(x) for x in work.levels)]
    sandboxed = ["--limit", f"wall_seconds={limit}",
                 "--limit", f"parallel={cpu_count(campaign.sandbox.cpu)}",
                 "--limit", f"max_written_bytes={byte_count(campaign.sandbox.work_dir_size_limit)}",
                 "--limit", "pod=true"]
    if _gpu(stage, campaign):
        sandboxed += ["--limit", "gpu=true"]
    exchange = {"--bitstreams": f"{EXCHANGE}/bitstreams", "--decoded": f"{EXCHANGE}/decoded",
                "--report": f"{EXCHANGE}/report"}
    term = ["--summary-file", TERMINATION_LOG]
    return {
        ENCODE: [*base, "encode", *codec, *what, "--bitstreams", exchange["--bitstreams"],
                 "--report", exchange["--report"], *sandboxed, *term],
        DECODE: [*base, "decode", *codec, "--bitstreams", exchange["--bitstreams"],
                 "--decoded", exchange["--decoded"], "--redecode", work.redecode, *sandboxed,
                 *term],
        CONTAINER: [*base, "measure", *codec, *what, *(x for kv in exchange.items() for x in kv),
                    *term],
    }


def sandbox_command(stage: Stage, campaign: CampaignSpec, settings: JobSettings) -> list[str]:
    """The measuring container's command (the one whose output the operator reads)."""
    return sandbox_commands(stage, campaign, settings)[CONTAINER]


def _gpu(stage: Stage, campaign: CampaignSpec) -> bool:
    return stage is Stage.EXECUTION and campaign.sandbox.gpus > 0


def _resources(campaign: CampaignSpec, stage: Stage, gpu: bool) -> dict[str, Any]:
    sb = campaign.sandbox
    limits: dict[str, Any] = {"cpu": sb.cpu, "memory": sb.memory}
    if gpu and _gpu(stage, campaign):
        limits[sb.gpu_resource_name] = str(sb.gpus)
    return {"requests": {"cpu": sb.cpu, "memory": sb.memory}, "limits": limits}


def _claim(campaign: CampaignSpec) -> str | None:
    """The PersistentVolumeClaim holding clip files, when the campaign names one."""
    claim = (campaign.raw.get("spec") or {}).get("dataset", {}).get("volumeClaim")
    return str(claim) if claim else None


def _security(uid: int) -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def _env() -> list[dict[str, str]]:
    return [{"name": "HOME", "value": "/work"}, {"name": "TMPDIR", "value": "/work"},
            {"name": "AIVC_CACHE_DIR", "value": "/work/cache"},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}]


def _mount(volume: str, path: str, read_only: bool = False) -> dict[str, Any]:
    return {"name": volume, "mountPath": path, **({"readOnly": True} if read_only else {})}


_MOUNTS: dict[str, list[tuple[str, str, bool]]] = {
    ENCODE: [("bitstreams", "bitstreams", False), ("report", "report", False)],
    DECODE: [("bitstreams", "bitstreams", True), ("decoded", "decoded", False)],
    CONTAINER: [("bitstreams", "bitstreams", True), ("decoded", "decoded", True),
                ("report", "report", True)],
}


def _container(name: str, command: list[str], campaign: CampaignSpec, stage: Stage,
               settings: JobSettings) -> dict[str, Any]:
    candidate = name != CONTAINER
    mounts = [_mount("codec", "/codec", True), _mount(f"{name}-work", "/work")]
    mounts += [_mount(vol, f"{EXCHANGE}/{sub}", ro) for vol, sub, ro in _MOUNTS[name]]
    sees_clips = name != DECODE
    if sees_clips and _claim(campaign):  # relative clip paths resolve inside the claim
        mounts.append(_mount("clips", settings.clips_mount, True))
    if name == DECODE:
        mounts += [_mount("no-clips", path, True) for path in settings.clip_dirs_in_image]
    if candidate:
        mounts.append(_mount(f"{name}-shm", "/dev/shm", True))
    return {
        "name": name,
        "image": campaign.sandbox.image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "workingDir": settings.clips_mount if sees_clips and _claim(campaign) else "/work",
        "env": _env(),
        "resources": _resources(campaign, stage, gpu=candidate),
        "securityContext": _security(SANDBOX_UID if candidate else MEASURE_UID),
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "volumeMounts": mounts,
    }


def _volumes(campaign: CampaignSpec, configmap: str) -> list[dict[str, Any]]:
    size = campaign.sandbox.work_dir_size_limit
    volumes: list[dict[str, Any]] = [
        {"name": "codec", "configMap": {"name": configmap, "defaultMode": 0o444,
                                        "items": [{"key": CODEC_KEY, "path": CODEC_KEY}]}},
        {"name": "bitstreams", "emptyDir": {"sizeLimit": size}},
        {"name": "decoded", "emptyDir": {"sizeLimit": size}},
        {"name": "report", "emptyDir": {"sizeLimit": "16Mi"}},
        {"name": f"{ENCODE}-work", "emptyDir": {"medium": "Memory", "sizeLimit": size}},
        {"name": f"{DECODE}-work", "emptyDir": {"medium": "Memory", "sizeLimit": size}},
        {"name": f"{CONTAINER}-work", "emptyDir": {"sizeLimit": size}},
        {"name": f"{ENCODE}-shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        {"name": f"{DECODE}-shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        {"name": "no-clips", "emptyDir": {"sizeLimit": "1Mi"}},
    ]
    claim = _claim(campaign)
    if claim:
        volumes.append({"name": "clips", "persistentVolumeClaim": {"claimName": claim,
                                                                   "readOnly": True}})
    return volumes


def _pod_spec(campaign: CampaignSpec, stage: Stage, configmap: str,
              settings: JobSettings, work: Measurement | None) -> dict[str, Any]:
    commands = sandbox_commands(stage, campaign, settings, work)
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [_container(n, commands[n], campaign, stage, settings)
                           for n in (ENCODE, DECODE)],
        "containers": [_container(CONTAINER, commands[CONTAINER], campaign, stage, settings)],
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
    if sb.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in sb.image_pull_secrets]
    return spec


def build_sandbox_job(experiment: dict[str, Any], campaign: CampaignSpec, stage: Stage,
                      generation: int, settings: JobSettings | None = None,
                      work: Measurement | None = None) -> dict[str, Any]:
    """The Job that validates or evaluates one design generation of `experiment`; `work`
    narrows an execution to some clips and levels (a cascade's stage)."""
    settings = settings or JobSettings()
    name = experiment["metadata"]["name"]
    configmap = codec_configmap_name(name)
    extra = {"aivc.dev/stage": stage.value, "aivc.dev/generation": str(generation)}
    part = work.part if work is not None else ""
    if part:
        extra["aivc.dev/part"] = part
    meta = _metadata(experiment, job_name(name, stage, generation, part), "aivc-sandbox", extra)
    limit = (campaign.validation_timeout_s if stage is Stage.VALIDATION
             else campaign.execution_timeout_s)
    pod_meta = {"labels": dict(meta["labels"]),
                "annotations": {"kubectl.kubernetes.io/default-container": CONTAINER}}
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
        "spec": {
            "backoffLimit": 0,
            # the candidate's clock starts when its container does (`aivc.kube.infra`): the
            # deadline leaves room for the scheduling and pulling that precede it
            "activeDeadlineSeconds": limit + settings.deadline_margin_seconds
            + settings.unschedulable_grace_seconds,
            # evictions and preemptions say nothing about the candidate: the Job controller
            # replaces the pod instead of failing the Job
            "podFailurePolicy": {"rules": [{"action": "Ignore",
                                            "onPodConditions": [{"type": "DisruptionTarget",
                                                                 "status": "True"}]}]},
            "ttlSecondsAfterFinished": settings.ttl_seconds,
            "template": {"metadata": pod_meta,
                         "spec": _pod_spec(campaign, stage, configmap, settings, work)},
        },
    }
