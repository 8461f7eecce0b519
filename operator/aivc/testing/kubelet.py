"""The Job controller and kubelet an API emulator lacks, for tests and the benchmark.

`PodRunner` watches sandbox Jobs through the HTTP API and does the bookkeeping a cluster
would: one Pod per Job (labels `job-name`/`controller-uid`, owned by the Job), the Pod's
phase and terminated state with its termination message (cut to 4 KiB like the kubelet's),
the pod log (served by `ApiServer.logs`), and the Job's `succeeded`/`failed` counts and
`Complete`/`Failed` condition (`DeadlineExceeded` past `activeDeadlineSeconds`). What
"running the container" means is up to a subclass (`run_pod`): the test kubelet runs the
real command as a local process; the benchmark answers at once. A stage can be held
(`hold`) so a test can act while a Job "runs"; pods deleted meanwhile are stopped.
Development only, like `aivc.testing.emulator`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp

from aivc.kube.jobs import CONTAINER
from aivc.testing.emulator import ApiServer

TERMINATION_LIMIT = 4096
SELECTOR = "app.kubernetes.io/managed-by=aivc"


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PodResult:
    """How a pod's containers ended: the measuring one (`jobs.CONTAINER`), and the steps
    before it (init containers) as (name, exit code, termination message)."""

    exit_code: int | None
    log: str = ""
    message: str = ""  # the termination message
    timed_out: bool = False
    steps: list[tuple[str, int | None, str]] = field(default_factory=list)
    ran: bool = True
    """False when an init container failed and the measuring container never started."""


class PodRunner:
    """Use as `async with Runner(api, url):` (see the module docstring)."""

    user_agent = "fake-kubelet"

    def __init__(self, api: ApiServer, url: str, poll_seconds: float = 0.1) -> None:
        self.api, self.url, self.poll_seconds = api, url.rstrip("/"), poll_seconds
        self.finished: list[tuple[str, float]] = []  # (job name, loop time its status was written)
        self._held: dict[str, asyncio.Event] = {}
        self._seen: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._pods: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._trouble: dict[str, list[str]] = {}

    async def run_pod(self, namespace: str, job: dict[str, Any], pod: dict[str, Any]) -> PodResult:
        raise NotImplementedError

    def trouble(self, stage: str, *kinds: str) -> None:
        """Make the next pods of `stage` meet the cluster's trouble, one kind each, in order:
        ImagePullBackOff, CreateContainerConfigError, Unschedulable (the pod never runs, until
        its Job is deleted), Evicted or Preempted (the pod is disrupted and the Job controller
        replaces it, as podFailurePolicy Ignore asks), NodeLost (the pod fails with its node)."""
        self._trouble.setdefault(stage, []).extend(kinds)

    def hold(self, stage: str) -> None:
        """Keep pods of this stage (`validation`/`execution`) from running until `release`."""
        self._held[stage] = asyncio.Event()

    def release(self, stage: str) -> None:
        self._held.pop(stage, asyncio.Event()).set()

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(self.url, headers={"User-Agent": self.user_agent})
        self._tasks.append(asyncio.create_task(self._loop()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for event in self._held.values():
            event.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._session.close()

    async def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
        async with self._session.request(method, path, json=body, headers=headers) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise RuntimeError(f"{method} {path}: {resp.status} {data}")
            return dict(data)

    async def _loop(self) -> None:
        """Follow sandbox Jobs (new: run them) and Pods (deleted: stop them) by watching."""
        self._tasks.append(asyncio.create_task(self._watch(
            f"/api/v1/pods?watch=true&labelSelector={SELECTOR}", self._on_pod)))
        await self._watch(f"/apis/batch/v1/jobs?watch=true&labelSelector={SELECTOR}", self._on_job)

    async def _watch(self, path: str, handle: Any) -> None:
        while True:  # the stream ends on server timeouts: watch again
            async with self._session.get(path) as resp:
                async for line in resp.content:
                    if line.strip():
                        event = json.loads(line)
                        await handle(event.get("type"), event.get("object") or {})
            await asyncio.sleep(self.poll_seconds)

    async def _on_job(self, kind: str, job: dict[str, Any]) -> None:
        uid = job["metadata"]["uid"]
        if kind == "ADDED" and uid not in self._seen \
                and not (job.get("status") or {}).get("completionTime"):
            self._seen.add(uid)
            self._tasks.append(asyncio.create_task(self._run_job(job)))

    async def _on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        """A kubelet kills the containers of pods that were deleted (e.g. by the GC)."""
        if kind == "DELETED":
            task = self._pods.pop((pod["metadata"]["namespace"], pod["metadata"]["name"]), None)
            if task is not None:
                task.cancel()

    def _pod_for(self, job: dict[str, Any]) -> dict[str, Any]:
        meta, template = job["metadata"], job["spec"]["template"]
        labels = {**(template["metadata"].get("labels") or {}), "job-name": meta["name"],
                  "batch.kubernetes.io/job-name": meta["name"], "controller-uid": meta["uid"]}
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"],
                 "controller": True, "blockOwnerDeletion": True}
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{meta['name']}-{uuid.uuid4().hex[:5]}",
                             "namespace": meta["namespace"], "labels": labels,
                             "ownerReferences": [owner]},
                "spec": template["spec"], "status": {"phase": "Pending"}}

    async def _run_job(self, job: dict[str, Any]) -> None:
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        pod = self._pod_for(job)
        pod_name = pod["metadata"]["name"]
        await self.request("POST", f"/api/v1/namespaces/{ns}/pods", pod)
        task = asyncio.current_task()
        assert task is not None
        self._pods[(ns, pod_name)] = task
        await self._patch_job(ns, name, {"active": 1, "startTime": now()})
        stage = pod["metadata"]["labels"].get("aivc.dev/stage", "")
        if stage in self._held:
            await self._held[stage].wait()
        queued = self._trouble.get(stage) or []
        if queued and await self._troubled(ns, job, pod_name, queued.pop(0)):
            return
        started = now()
        with contextlib.suppress(RuntimeError):
            await self.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{pod_name}/status",
                               {"status": {"phase": "Running", "startTime": started}})
        result = await self.run_pod(ns, job, pod)
        self.api.logs[(ns, pod_name)] = result.log
        self._pods.pop((ns, pod_name), None)
        await self._finish(ns, name, pod_name, result, started)

    async def _troubled(self, ns: str, job: dict[str, Any], pod: str, kind: str) -> bool:
        """Play one kind of cluster trouble on this pod; True when the Job is done with."""
        path = f"/api/v1/namespaces/{ns}/pods/{pod}/status"
        if kind in ("ImagePullBackOff", "CreateContainerConfigError"):
            waiting = {"reason": kind, "message": f"{kind} (played by the test kubelet)"}
            await self.request("PATCH", path, {"status": {"phase": "Pending", "containerStatuses": [
                {"name": c["name"], "ready": False, "restartCount": 0, "state": {"waiting": waiting}}
                for c in job["spec"]["template"]["spec"]["containers"]]}})
            await asyncio.Event().wait()  # until the Job (and its pod) is deleted
        if kind == "Unschedulable":
            cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient example.com/gpu.",
                    "lastTransitionTime": now()}
            await self.request("PATCH", path, {"status": {"phase": "Pending", "conditions": [cond]}})
            await asyncio.Event().wait()
        if kind in ("Evicted", "Preempted"):
            why = "EvictionByEvictionAPI" if kind == "Evicted" else "PreemptionByScheduler"
            cond = {"type": "DisruptionTarget", "status": "True", "reason": why,
                    "message": f"{kind} (played by the test kubelet)", "lastTransitionTime": now()}
            await self.request("PATCH", path, {"status": {"phase": "Failed", "conditions": [cond]}})
            self._pods.pop((ns, pod), None)
            await self._run_job(job)  # the Job controller replaces a disrupted pod
            return True
        if kind == "NodeLost":
            await self.request("PATCH", path, {"status": {
                "phase": "Failed", "reason": "NodeLost", "message": "node gpu-1 stopped answering"}})
            self._pods.pop((ns, pod), None)
            cond = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                    "message": "pod failed", "lastTransitionTime": now()}
            await self._patch_job(ns, job["metadata"]["name"], {
                "active": None, "failed": 1, "conditions": [cond], "completionTime": now()})
            return True
        raise ValueError(f"unknown trouble {kind!r}")

    async def _finish(self, ns: str, job: str, pod: str, result: PodResult, started: str) -> None:
        ok = result.exit_code == 0 and not result.timed_out
        reason = "Completed" if ok else ("DeadlineExceeded" if result.timed_out else "Error")
        terminated = {"exitCode": result.exit_code, "reason": reason, "startedAt": started,
                      "finishedAt": now(), "message": _cut(result.message)}
        state = {"terminated": terminated} if result.ran else \
            {"waiting": {"reason": "PodInitializing"}}
        steps = [{"name": name, "ready": False, "restartCount": 0, "state": {"terminated": {
            "exitCode": code, "reason": "Completed" if code == 0 else "Error", "startedAt": started,
            "finishedAt": now(), "message": _cut(message)}}} for name, code, message in result.steps]
        with contextlib.suppress(RuntimeError):  # the pod may be gone
            await self.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{pod}/status", {"status": {
                "phase": "Succeeded" if ok else "Failed",
                "initContainerStatuses": steps,
                "containerStatuses": [{"name": CONTAINER, "ready": False, "restartCount": 0,
                                       "state": state}]}})
        cond = {"type": "Complete" if ok else "Failed", "status": "True",
                "reason": "Completed" if ok else (
                    "DeadlineExceeded" if result.timed_out else "BackoffLimitExceeded"),
                "message": "" if ok else f"pod {pod} exited with {result.exit_code}",
                "lastTransitionTime": now()}
        await self._patch_job(ns, job, {"active": None, "succeeded": 1 if ok else None,
                                        "failed": None if ok else 1, "conditions": [cond],
                                        "completionTime": now()})
        self.finished.append((job, asyncio.get_running_loop().time()))

    async def _patch_job(self, ns: str, name: str, status: dict[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the Job may be gone (deleted experiment)
            await self.request("PATCH", f"/apis/batch/v1/namespaces/{ns}/jobs/{name}/status",
                               {"status": status})


def _cut(message: str) -> str:
    """A termination message as the kubelet keeps it: at most 4 KiB."""
    return message.encode()[:TERMINATION_LIMIT].decode(errors="ignore")
