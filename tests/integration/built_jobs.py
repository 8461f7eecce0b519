"""Sandbox Jobs exactly as the operator builds them (`aivc.kube.jobs.build_sandbox_job`).

The Campaign turns on every option a Job can carry (GPU, node selector, tolerations,
runtimeClassName, a clip volume), so the chart's checks see the most a sandbox pod gets.
"""

from __future__ import annotations

from typing import Any

from aivc.api.spec import CampaignSpec
from aivc.kube.jobs import Stage, build_sandbox_job

CAMPAIGN = {
    "apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign",
    "metadata": {"name": "quickstart", "namespace": "research"},
    "spec": {
        "dataset": {"clips": ["carphone:30"], "heldOut": ["clips/own.yuv:10::352x288@25"],
                    "volumeClaim": "clips"},
        "sandbox": {"gpus": 1, "gpuResourceName": "nvidia.com/gpu", "runtimeClassName": "gvisor",
                    "nodeSelector": {"pool": "gpu"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                                     "effect": "NoSchedule"}]},
    },
}
EXPERIMENT = {
    "apiVersion": "aivc.dev/v1alpha1", "kind": "Experiment",
    "metadata": {"name": "quickstart-0003", "namespace": "research",
                 "uid": "0b7c3f9e-0000-4000-8000-000000000003"},
    "spec": {"campaign": "quickstart", "sequence": 3},
}


def sandbox_jobs() -> dict[str, dict[str, Any]]:
    """stage name -> the Job the operator creates for that stage."""
    spec = CampaignSpec.from_manifest(CAMPAIGN)
    return {stage.value: build_sandbox_job(EXPERIMENT, spec, stage, 1) for stage in Stage}
