"""The Kubernetes store: Campaigns and Experiments as custom resources in one namespace.

The same document shapes and merge-patch semantics as `aivc.store.base.ExperimentStore`,
over the API server: documents are the CRs themselves, a candidate's source is the
ConfigMap `<experiment>-codec` owned by its Experiment (deleted with it), and full
evaluation results live in the Experiment's `status.results`.

The operator is asynchronous (kopf), so `KubeStore` offers the interface as coroutines.
`BlockingStore` is the plain `ExperimentStore` for the research code the operator runs in
worker threads (`aivc.research.labwork`'s design and analysis steps): each call hops onto
the operator's event loop and waits, so one client and one set of credentials serve both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from aivc.kube.client import CAMPAIGNS as CAMPAIGN_KIND
from aivc.kube.client import CONFIGMAPS, EXPERIMENTS, ApiError, Conflict, Kind, KubeApi, NotFound
from aivc.kube.jobs import CODEC_KEY, build_codec_configmap, codec_configmap_name
from aivc.store.base import StoreError

T = TypeVar("T")
KINDS: dict[str, Kind] = {"Campaign": CAMPAIGN_KIND, "Experiment": EXPERIMENTS}


def _kind(kind: str) -> Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise StoreError(f"unknown kind {kind!r} (expected Campaign or Experiment)") from None


class KubeStore:
    """`ExperimentStore` for one namespace, as coroutines (see the module docstring)."""

    def __init__(self, api: KubeApi, namespace: str) -> None:
        self.api, self.namespace = api, namespace

    async def get(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.api.get(_kind(kind), self.namespace, name)
        except NotFound:
            return None

    async def list(self, kind: str, campaign: str | None = None) -> list[dict[str, Any]]:
        labels = {"aivc.dev/campaign": campaign} if campaign and kind == "Experiment" else None
        docs = await self.api.list(_kind(kind), self.namespace, labels)
        if campaign and kind == "Experiment":
            docs = [d for d in docs if (d.get("spec") or {}).get("campaign") == campaign]
        return sorted(docs, key=lambda d: d["metadata"]["name"])

    async def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        body = {**doc, "metadata": {**doc["metadata"], "namespace": self.namespace}}
        try:
            return await self.api.create(_kind(doc["kind"]), self.namespace, body)
        except Conflict:
            raise StoreError(f"{doc['kind']} {doc['metadata']['name']} already exists") from None

    async def patch(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in patch.items() if k != "status"}
        return await self.api.patch(_kind(kind), self.namespace, name, body)

    async def patch_status(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self.api.patch(_kind(kind), self.namespace, name, {"status": patch}, "status")

    async def put_source(self, name: str, source: str) -> None:
        """Create or replace the experiment's codec ConfigMap (owned by the Experiment)."""
        exp = await self.api.get(EXPERIMENTS, self.namespace, name)
        body = build_codec_configmap(exp, source)
        try:
            await self.api.create(CONFIGMAPS, self.namespace, body)
        except Conflict:
            await self.api.patch(CONFIGMAPS, self.namespace, body["metadata"]["name"],
                                 {"metadata": {"annotations": body["metadata"]["annotations"]},
                                  "data": body["data"]})

    async def get_source(self, name: str) -> str | None:
        try:
            cm = await self.api.get(CONFIGMAPS, self.namespace, codec_configmap_name(name))
        except NotFound:
            return None
        source = (cm.get("data") or {}).get(CODEC_KEY)
        return None if source is None else str(source)

    async def put_results(self, name: str, results: dict[str, Any]) -> None:
        await self.patch_status("Experiment", name, {"results": results})

    async def get_results(self, name: str) -> dict[str, Any] | None:
        exp = await self.get("Experiment", name)
        results = ((exp or {}).get("status") or {}).get("results")
        return dict(results) if isinstance(results, dict) else None


async def _captured(coro: Coroutine[Any, Any, T]) -> tuple[bool, Any]:
    """Errors go back to the waiting thread only: a failed task left in the loop would be
    re-raised by kopf when it shuts down."""
    try:
        return True, await coro
    except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread as is
        return False, exc


class BlockingStore:
    """A `KubeStore` for code running in worker threads (never on the event loop itself)."""

    def __init__(self, store: KubeStore, loop: asyncio.AbstractEventLoop,
                 timeout_s: float = 120.0) -> None:
        self.store, self.loop, self.timeout_s = store, loop, timeout_s

    def _wait(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(_captured(coro), self.loop)
        ok, value = future.result(self.timeout_s)
        if ok:
            return value
        if isinstance(value, ApiError):
            raise StoreError(f"Kubernetes API: {value}") from value
        raise value

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self._wait(self.store.get(kind, name))

    def list(self, kind: str, campaign: str | None = None) -> list[dict[str, Any]]:
        return self._wait(self.store.list(kind, campaign))

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self._wait(self.store.create(doc))

    def patch(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self._wait(self.store.patch(kind, name, patch))

    def patch_status(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self._wait(self.store.patch_status(kind, name, patch))

    def put_source(self, name: str, source: str) -> None:
        self._wait(self.store.put_source(name, source))

    def get_source(self, name: str) -> str | None:
        return self._wait(self.store.get_source(name))

    def put_results(self, name: str, results: dict[str, Any]) -> None:
        self._wait(self.store.put_results(name, results))

    def get_results(self, name: str) -> dict[str, Any] | None:
        return self._wait(self.store.get_results(name))
