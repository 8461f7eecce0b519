"""A cluster for operator tests: the API emulator, the fake kubelet and an in-process operator.

`Cluster` serves the real CRDs from `crds/` (as `kubectl apply -f crds/` would), validates
and defaults Campaign manifests with their openAPIV3Schema like the API server, runs the
kubelet stand-in, and starts or stops operators (`operator()`), so a test can restart one
mid-flight. Tests talk to it with `kubectl`-like helpers through the same HTTP API.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import kmock
import kopf
import yaml

from aivc.api.spec import validate
from aivc.kube.client import CAMPAIGNS, EXPERIMENTS, JOBS, MERGE_PATCH, SECRETS, Kind, KubeApi
from aivc.kube.memo import OperatorMemo
from aivc.kube.running import OperatorThread
from aivc.kube.settings import JobSettings, LoopSettings, OperatorConfig
from aivc.testing.emulator import ApiServer, Call
from tests.fakes.kubelet import Kubelet

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "aivc-test"
EVENTS = Kind("", "v1", "events", "Event")
OPERATOR_AGENTS = ("aivc-operator", "kopf/")


AUDIT: list[tuple[str, bool, bool, list[Call]]] = []
"""(scenario, namespaced, peering, calls) of each scenario run in this session."""


def campaign_manifest(name: str, **spec: Any) -> dict[str, Any]:
    """A small Campaign: the base codec is a test fixture, one short clip, x264 anchor only."""
    from tests.fakes.scripted_planner import CODECS

    base = {"budget": {"maxExperiments": 1}, "parallelism": 1,
            "baseCodec": str(CODECS / "quantize.py"), "dataset": {"clips": ["carphone:4"]},
            "evaluation": {"anchors": ["x264"]}}
    return {"apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": name},
            "spec": {**base, **spec}}


def fast_config(data_dir: Path, **overrides: Any) -> OperatorConfig:
    """Short polls and retries so scenarios take seconds, not minutes; standalone by default."""
    loops = LoopSettings(poll_seconds=0.1, resync_seconds=3.0, retry_seconds=0.3,
                         refused_retry_seconds=0.5)
    fields: dict[str, Any] = {"peering": None, "data_dir": data_dir, "loops": loops,
                              "jobs": JobSettings(ttl_seconds=600)}
    return OperatorConfig(**{**fields, **overrides})


class Cluster:
    def __init__(self) -> None:
        self.api = ApiServer()
        for path in sorted((ROOT / "crds").glob("*.yaml")):
            self.api.declare_crd(yaml.safe_load(path.read_text()))
        self.api.objects["v1/namespaces", None, NAMESPACE] = {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}

    async def __aenter__(self) -> Cluster:
        self._stack = contextlib.AsyncExitStack()
        await self._stack.enter_async_context(self.api)  # errors become API responses
        self.server = await self._stack.enter_async_context(kmock.Server(self.api))
        self.url = str(self.server.url).rstrip("/")
        self.kubelet = await self._stack.enter_async_context(Kubelet(self.api, self.url))
        self.kubectl = KubeApi(self.connection(), user_agent="kubectl")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.kubectl.close()
        await self._stack.aclose()

    def connection(self, **_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=self.url, scheme="Bearer", token="test", insecure=True)

    def memo(self, data_dir: Path, **kwargs: Any) -> OperatorMemo:
        config = kwargs.pop("config", None) or fast_config(data_dir)
        return OperatorMemo(config, credentials=self.connection, **kwargs)

    @contextlib.asynccontextmanager
    async def operator(self, memo: OperatorMemo) -> AsyncIterator[None]:
        """Run an operator until the block ends (a clean stop, like a rolling restart)."""
        runner = OperatorThread(memo)
        await asyncio.to_thread(runner.start)
        try:
            yield
        finally:
            await asyncio.to_thread(runner.stop)

    # ---- kubectl-like helpers -------------------------------------------------------------

    async def apply_campaign(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Validate and default like the API server (CRD schema), then create."""
        doc = validate(manifest, "Campaign")
        doc["metadata"] = {**doc["metadata"], "namespace": NAMESPACE}
        return await self.kubectl.create(CAMPAIGNS, NAMESPACE, doc)

    async def get(self, kind: Kind, name: str) -> dict[str, Any]:
        return await self.kubectl.get(kind, NAMESPACE, name)

    async def experiment(self, name: str) -> dict[str, Any]:
        return await self.get(EXPERIMENTS, name)

    async def annotate(self, name: str, annotations: dict[str, str | None]) -> None:
        """`kubectl annotate experiment NAME k=v --overwrite` (its field manager included)."""
        await self.kubectl.request("PATCH", EXPERIMENTS.url(NAMESPACE, name),
                                   body={"metadata": {"annotations": annotations}},
                                   params={"fieldManager": "kubectl-annotate"},
                                   content_type=MERGE_PATCH)

    async def jobs(self, experiment: str | None = None) -> list[dict[str, Any]]:
        labels = {"aivc.dev/experiment": experiment} if experiment else None
        return await self.kubectl.list(JOBS, NAMESPACE, labels)

    async def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in await self.kubectl.list(EVENTS, NAMESPACE)
                if (e.get("involvedObject") or {}).get("name") == name]

    async def wait_for(self, check: Callable[[], Any], timeout: float = 60.0,
                       what: str = "condition") -> Any:
        """Poll an async or sync check until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
            await asyncio.sleep(0.1)

    async def wait_phase(self, name: str, phases: tuple[str, ...], timeout: float = 90.0) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            try:
                exp = await self.experiment(name)
            except Exception:
                return None
            return exp if (exp.get("status") or {}).get("phase") in phases else None
        return dict(await self.wait_for(check, timeout, f"{name} to reach {'/'.join(phases)}"))

    def operator_calls(self) -> list[Call]:
        """Every request the operator (and kopf inside it) made."""
        return [c for c in self.api.calls if c.agent.startswith(OPERATOR_AGENTS)]

    def audit(self, scenario: str, memo: OperatorMemo) -> list[str]:
        """Record the operator's calls for the permission tests; return the uncovered ones."""
        from aivc.kube.permissions import uncovered

        calls = self.operator_calls()
        config = memo.config
        AUDIT.append((scenario, not config.clusterwide, config.peering is not None, calls))
        return uncovered([(c.method, c.path, c.watch) for c in calls])

    def add_peering(self, name: str = "aivc") -> None:
        """The peering objects the Helm chart deploys (kopf needs them to exist)."""
        self.api.objects["kopf.dev/v1/clusterkopfpeerings", None, name] = {
            "apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}
        self.api.objects["kopf.dev/v1/kopfpeerings", NAMESPACE, name] = {
            "apiVersion": "kopf.dev/v1", "kind": "KopfPeering",
            "metadata": {"name": name, "namespace": NAMESPACE}}

    async def create_secret(self, name: str, data: dict[str, str]) -> None:
        import base64

        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        await self.kubectl.create(SECRETS, NAMESPACE, body)
