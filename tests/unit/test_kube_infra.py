"""Which failures are the cluster's, read from a sandbox Job and its pods (aivc.kube.infra)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from aivc.kube.infra import finished_fault, running_fault

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def pod(phase: str = "Running", *, waiting: str | None = None, conditions: list[dict[str, Any]] | None = None,
        reason: str | None = None, started: str | None = None, created: str = "2026-05-01T11:00:00Z",
        version: str = "1") -> dict[str, Any]:
    state: dict[str, Any] = {}
    if waiting:
        state = {"waiting": {"reason": waiting, "message": f"{waiting} for aivc-sandbox:dev"}}
    elif started:
        state = {"terminated": {"startedAt": started, "exitCode": 1}}
    status: dict[str, Any] = {"phase": phase, "conditions": conditions or [],
                              "containerStatuses": [{"name": "measure", "state": state}]}
    if reason:
        status["reason"] = reason
    return {"metadata": {"creationTimestamp": created, "resourceVersion": version}, "status": status}


def job(reason: str | None = None, at: str = "2026-05-01T11:30:00Z") -> dict[str, Any]:
    if reason is None:
        return {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    return {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": reason,
                                       "lastTransitionTime": at}]}}


UNSCHEDULED = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/3 nodes are available", "lastTransitionTime": "2026-05-01T11:50:00Z"}]

RUNNING = [
    ("an image that cannot be pulled", [pod("Pending", waiting="ImagePullBackOff")], "ImagePullBackOff"),
    ("a bad container config", [pod("Pending", waiting="CreateContainerConfigError")],
     "CreateContainerConfigError"),
    ("no node, past the grace", [pod("Pending", conditions=UNSCHEDULED)], "Unschedulable"),
    ("a pod that runs", [pod("Running")], None),
    ("no pod yet", [], None),
]


@pytest.mark.parametrize(("pods", "reason"), [r[1:] for r in RUNNING], ids=[r[0] for r in RUNNING])
def test_a_running_job_that_the_cluster_cannot_run_is_recognised(pods, reason):
    fault = running_fault(pods, NOW, grace_s=300)
    assert (fault.reason if fault else None) == reason


def test_a_pod_waiting_for_a_node_gets_its_grace():
    assert running_fault([pod("Pending", conditions=UNSCHEDULED)], NOW, grace_s=3600) is None


DISRUPTED = [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
              "message": "preempted by a higher-priority pod"}]

FINISHED = [
    ("a completed job", job(), pod("Succeeded"), None),
    ("the candidate failed", job("BackoffLimitExceeded"), pod("Failed", started="2026-05-01T11:01:00Z"), None),
    ("a lost node", job("BackoffLimitExceeded"), pod("Failed", reason="NodeLost"), "NodeLost"),
    ("an eviction", job("BackoffLimitExceeded"), pod("Failed", reason="Evicted"), "Evicted"),
    ("a preemption", job("PodFailurePolicy"), pod("Failed", conditions=DISRUPTED), "Preempted"),
    ("a deadline before any container started", job("DeadlineExceeded"), pod("Pending"), "SlowStart"),
    ("a deadline after a short run", job("DeadlineExceeded"),
     pod("Failed", started="2026-05-01T11:29:00Z"), "SlowStart"),
    ("a deadline the candidate used up", job("DeadlineExceeded"),
     pod("Failed", started="2026-05-01T11:00:00Z"), None),
    ("no pod at all", job("BackoffLimitExceeded"), None, "Unschedulable"),
]


@pytest.mark.parametrize(("j", "p", "reason"), [r[1:] for r in FINISHED], ids=[r[0] for r in FINISHED])
def test_a_failed_job_is_the_clusters_doing_or_the_candidates(j, p, reason):
    fault = finished_fault(j, p, limit_s=600)
    assert (fault.reason if fault else None) == reason
