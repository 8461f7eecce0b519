"""Telling the cluster's failures from the candidate's, from a sandbox Job and its pods (pure).

A Job whose pod never ran the candidate says nothing about the candidate: an image that
cannot be pulled, a pod no node will take, a container the kubelet cannot create, a pod
evicted or preempted, a node lost under it. These become an `InfraFault`: the operator
deletes the Job, holds the stage (no retry of the candidate's is used, the planner is never
told) and runs it again after a back-off.

Evictions and preemptions mark the pod `DisruptionTarget`, which the Job's podFailurePolicy
ignores, so the Job controller replaces the pod by itself; a fault is reported only when the
Job fails for such a reason anyway, or when the replacement cannot run either. The
candidate's clock starts when its first container starts: a Job that runs past its deadline
before that never ran the candidate (`SlowStart`), only one whose containers ran that long
is the candidate's `timeout`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from aivc.api.times import parse_time
from aivc.kube.outcomes import newest_pod

PULL_REASONS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName")
CONTAINER_REASONS = ("CreateContainerConfigError", "CreateContainerError")
DISRUPTIONS = {"PreemptionByScheduler": "Preempted", "PreemptionByKubeScheduler": "Preempted",
               "EvictionByEvictionAPI": "Evicted", "TerminationByKubelet": "Evicted",
               "DeletionByTaintManager": "NodeLost", "DeletionByPodGC": "NodeLost"}


@dataclass(frozen=True)
class InfraFault:
    reason: str
    """CamelCase, as the cluster names it (ImagePullBackOff, Unschedulable, Evicted, ...)."""
    message: str


def _statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or []
                 if c.get("type") == kind), None)


def started(pod: dict[str, Any]) -> dt.datetime | None:
    """When the pod's first container started (None: none ever did)."""
    times = [parse_time(at) for cs in _statuses(pod) for key in ("running", "terminated")
             if (at := ((cs.get("state") or {}).get(key) or {}).get("startedAt"))]
    return min(times) if times else None


def _waiting(pod: dict[str, Any]) -> InfraFault | None:
    for cs in _statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason") or ""
        if reason in PULL_REASONS or reason in CONTAINER_REASONS:
            return InfraFault(reason, f"container {cs.get('name')}: {waiting.get('message') or reason}")
    return None


def _disrupted(pod: dict[str, Any]) -> InfraFault | None:
    status = pod.get("status") or {}
    cond = _condition(pod, "DisruptionTarget")
    if cond is not None and cond.get("status") == "True":
        reason = DISRUPTIONS.get(str(cond.get("reason")), "Evicted")
        return InfraFault(reason, str(cond.get("message") or cond.get("reason") or reason))
    if status.get("reason") == "Evicted":
        return InfraFault("Evicted", str(status.get("message") or "the pod was evicted"))
    if status.get("reason") == "NodeLost" or status.get("phase") == "Unknown":
        return InfraFault("NodeLost", str(status.get("message") or "the pod's node stopped answering"))
    return None


def _unschedulable(pod: dict[str, Any], now: dt.datetime, grace_s: float) -> InfraFault | None:
    cond = _condition(pod, "PodScheduled")
    if cond is None or cond.get("status") != "False" or cond.get("reason") != "Unschedulable":
        return None
    since = parse_time(cond.get("lastTransitionTime") or (pod.get("metadata") or {}).get(
        "creationTimestamp") or "1970-01-01T00:00:00Z")
    if (now - since).total_seconds() < grace_s:
        return None
    return InfraFault("Unschedulable", f"no node took the pod for {(now - since).total_seconds():.0f} s: "
                                       f"{cond.get('message') or 'unschedulable'}")


def running_fault(pods: list[dict[str, Any]], now: dt.datetime, grace_s: float) -> InfraFault | None:
    """Why a Job that has not finished cannot run its newest pod, if the cluster is why."""
    pod = newest_pod(pods)
    if pod is None:
        return None
    return _waiting(pod) or _unschedulable(pod, now, grace_s)


def finished_fault(job: dict[str, Any], pod: dict[str, Any] | None, limit_s: float) -> InfraFault | None:
    """Why a finished Job failed, if the cluster is why (None: the candidate's result)."""
    failed = _condition(job, "Failed") or _condition(job, "FailureTarget")
    if failed is None or failed.get("status") != "True":
        return None
    if pod is None:
        return InfraFault("Unschedulable", f"the Job failed ({failed.get('reason')}) before any pod ran")
    fault = _disrupted(pod) or _waiting(pod)
    if fault is not None:
        return fault
    if failed.get("reason") == "DeadlineExceeded":
        began = started(pod)
        at = failed.get("lastTransitionTime")
        end = parse_time(str(at)) if at else None
        if began is None:
            return InfraFault("SlowStart", "the Job's deadline passed before any container started")
        if end is not None and (end - began).total_seconds() < limit_s:
            return InfraFault("SlowStart", f"the containers started {began.isoformat()} and ran only "
                                           f"{(end - began).total_seconds():.0f} s of the {limit_s:.0f} s "
                                           "allowed: the rest went to scheduling and pulling")
    return None
