"""An in-memory Kubernetes API for tests and the operator benchmark (kmock underneath).

kmock's `KubernetesEmulator` stores objects and serves list/watch/get/create/patch/delete.
This subclass adds the API-server behaviour the operator and kopf rely on and that a real
cluster always provides, so the code under test meets no shortcut a cluster would refuse:

- metadata the server owns: `uid`, `resourceVersion` (bumped on every change; kopf's JSON
  patches test it), `creationTimestamp`, `generation` (bumped by a merge patch that changes
  the spec), names from `generateName`;
- a merge patch carrying `metadata.resourceVersion` fails with 409 when it is stale;
- the status subresource: `/status` patches change only `status`, others never do;
- equality label selectors on list and watch;
- paginated lists (`limit` and `continue`), as kopf's chunked listing and the operator's
  client use them;
- `pods/NAME/log`, served from `logs` (the test kubelet fills it);
- the garbage collector: deleting an owner deletes its dependents (background cascade);
- fault injection (`fail`) before a request touches any state, and a log of every call
  (`calls`: time, method, path, watch, user agent) for the permission audit and benchmark;
- `GET /api/v1/namespaces` (list and watch), which kmock 0.8 cannot parse.

It is not a production component: `kmock` is a development dependency.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp.web
import kmock
from kmock._internal import rendering

from aivc.store.base import merge_patch

Predicate = Callable[[kmock.Request], bool]

# (group/version/plural, kind, namespaced, subresources) the operator and kopf use.
RESOURCES: tuple[tuple[str, str, bool, tuple[str, ...]], ...] = (
    ("v1/namespaces", "Namespace", False, ()),
    ("v1/events", "Event", True, ()),
    ("v1/pods", "Pod", True, ("status", "log")),
    ("v1/configmaps", "ConfigMap", True, ()),
    ("v1/secrets", "Secret", True, ()),
    ("batch/v1/jobs", "Job", True, ("status",)),
    ("apiextensions.k8s.io/v1/customresourcedefinitions", "CustomResourceDefinition", False, ()),
    ("aivc.dev/v1alpha1/campaigns", "Campaign", True, ("status",)),
    ("aivc.dev/v1alpha1/experiments", "Experiment", True, ("status",)),
    ("kopf.dev/v1/kopfpeerings", "KopfPeering", True, ()),
    ("kopf.dev/v1/clusterkopfpeerings", "ClusterKopfPeering", False, ()),
)
VERBS = ("get", "list", "watch", "create", "patch", "update", "delete")


@dataclasses.dataclass(frozen=True)
class Call:
    at: float
    method: str
    path: str
    watch: bool
    agent: str


@dataclasses.dataclass
class Fault:
    """Answer matching requests with `status`, `times` times: before any state changes, or
    (`applied`) after the request took effect, as when a response is lost on the way."""

    match: Predicate
    status: int
    times: int
    applied: bool = False
    hits: int = 0
    message: str | None = None
    """What the server says (default `injected STATUS`), e.g. a 403's missing permission."""


def _key(request: kmock.Request) -> Any:
    """The emulator's object key for a request about one named object."""
    return (request.resource, request.namespace, request.name)


def _pointer(doc: Any, path: str) -> Any:
    """The value at a JSON pointer (RFC 6901), or None when absent."""
    for part in path.lstrip("/").split("/") if path.strip("/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, dict):
            doc = doc.get(part)
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return None
    return doc


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class ApiServer(kmock.KubernetesEmulator):
    """See the module docstring. Construct, then `async with kmock.Server(api) as server:`."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.logs: dict[tuple[str, str], str] = {}
        self.faults: list[Fault] = []
        self.calls: list[Call] = []
        self.created: dict[str, float] = {}  # "plural/namespace/name" -> when it was created
        self._versions = itertools.count(1)
        for key, kind, namespaced, subresources in RESOURCES:
            self.resources[key] = kmock.ResourceInfo(
                namespaced=namespaced, kind=kind, singular=kind.lower(), verbs=list(VERBS),
                subresources=list(subresources))

    def declare_crd(self, crd: dict[str, Any]) -> None:
        """Serve a CustomResourceDefinition (as `kubectl apply -f crds/` would)."""
        spec = crd["spec"]
        for version in spec["versions"]:
            key = f"{spec['group']}/{version['name']}/{spec['names']['plural']}"
            self.resources[key] = kmock.ResourceInfo(
                namespaced=spec["scope"] == "Namespaced", kind=spec["names"]["kind"],
                singular=spec["names"]["singular"], verbs=list(VERBS),
                shortnames=spec["names"].get("shortNames", []),
                subresources=list((version.get("subresources") or {}).keys()))
        name = crd["metadata"]["name"]
        self.objects["apiextensions.k8s.io/v1/customresourcedefinitions", None, name] = crd

    def fail(self, match: Predicate, status: int, times: int = 1, applied: bool = False,
             message: str | None = None) -> Fault:
        fault = Fault(match, status, times, applied, message=message)
        self.faults.append(fault)
        return fault

    # ---- request handling ----------------------------------------------------------------

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        watch = raw.query.get("watch") == "true"
        self.calls.append(Call(time.monotonic(), raw.method, raw.path, watch,
                               raw.headers.get("User-Agent", "")))
        if raw.method == "GET" and raw.path.rstrip("/") == "/api/v1/namespaces":
            return await self._namespaces(raw, watch)
        try:
            return await super().__call__(raw)
        finally:
            # kmock matches each request against reactions by scanning every request it ever
            # kept (quadratic over a benchmark); `calls` is our log, so keep only those in flight.
            self._requests[:] = [r for r in self._requests if r._raw_request is not raw]

    async def _namespaces(self, raw: aiohttp.web.BaseRequest, watch: bool) -> aiohttp.web.StreamResponse:
        items = [obj.raw for key, obj in self.objects.items()
                 if key[0].plural == "namespaces" and not obj.deleted]
        if not watch:
            return aiohttp.web.json_response({"apiVersion": "v1", "kind": "NamespaceList",
                                              "metadata": {"resourceVersion": "1"}, "items": items})
        resp = aiohttp.web.StreamResponse()
        await resp.prepare(raw)
        for item in items:
            await resp.write(json.dumps({"type": "ADDED", "object": item}).encode() + b"\n")
        await asyncio.sleep(float(raw.query.get("timeoutSeconds") or 3600))  # namespaces stay put
        return resp

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        fault = next((f for f in self.faults if f.hits < f.times and f.match(request)), None)
        if fault is not None:
            fault.hits += 1
            if fault.applied:
                await self._serve(request)
            raise kmock.KubernetesError(status=fault.status, reason="Injected",
                                        message=fault.message or f"injected {fault.status}")
        return await self._serve(request)

    async def _serve(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.resource is not None and request.subresource == "log":
            text = self.logs.get((request.namespace or "", request.name or ""), "")
            return aiohttp.web.Response(text=text, content_type="text/plain")
        vanishing = None
        if request.resource is not None:
            async with self._lock:
                self._prepare(request)
                vanishing = self._may_vanish(request)
        try:
            return await super()._handle(request)
        finally:
            if vanishing is not None:
                key, uid = vanishing
                if self.objects[key].deleted:
                    await self._collect_garbage({uid})

    def _prepare(self, request: kmock.Request) -> None:
        """Server-owned metadata, optimistic concurrency and the status subresource."""
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:10]}"
            if not meta.get("name"):
                raise kmock.KubernetesError(status=422, reason="Invalid", message="name is required")
            if request.namespace and not meta.get("namespace"):
                meta["namespace"] = request.namespace
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1,
                        resourceVersion=str(next(self._versions)))
            plural = request.resource.plural if request.resource else ""
            self.created[f"{plural}/{meta.get('namespace')}/{meta['name']}"] = time.monotonic()
        elif request.action == kmock.action.UPDATE and request.name is not None:
            self._prepare_patch(request)

    def _prepare_patch(self, request: kmock.Request) -> None:
        key = _key(request)
        if key not in self.objects or self.objects[key].deleted:
            return  # the base class answers 404
        current = self.objects[key].raw
        version = str(next(self._versions))
        if isinstance(request.data, list):  # JSON patch (kopf): `test` ops fail with 422
            for op in request.data:
                if isinstance(op, dict) and op.get("op") == "test" \
                        and _pointer(current, str(op.get("path"))) != op.get("value"):
                    raise kmock.KubernetesError(status=422, reason="Invalid",
                                                message=f"test failed at {op.get('path')}")
            request.data.append({"op": "add", "path": "/metadata/resourceVersion", "value": version})
            return
        if not isinstance(request.data, dict):
            return
        meta = request.data.get("metadata") or {}
        wanted = meta.get("resourceVersion")
        if wanted is not None and wanted != current["metadata"].get("resourceVersion"):
            raise kmock.KubernetesError(status=409, reason="Conflict",
                                        message="the object has been modified")
        info = self.resources[_key(request)[0]]
        if request.subresource == "status":
            for field in [k for k in request.data if k != "status"]:
                del request.data[field]
        elif "status" in getattr(info, "subresources", ()):
            request.data.pop("status", None)
        request.data.setdefault("metadata", {})["resourceVersion"] = version
        spec = request.data.get("spec")
        if spec is not None and merge_patch(current.get("spec"), spec) != current.get("spec"):
            request.data["metadata"]["generation"] = int(current["metadata"].get("generation") or 1) + 1
        notes = request.data["metadata"].get("annotations")
        if isinstance(notes, dict) and notes:
            manager = request.params.get("fieldManager") or request.headers.get("User-Agent", "")
            fields: dict[str, Any] = {f"f:{key}": {} for key in notes}
            entry = {"manager": manager.split("/")[0], "operation": "Update", "time": _now(),
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:annotations": fields}}}
            request.data["metadata"]["managedFields"] = [
                *(current["metadata"].get("managedFields") or []), entry]

    def _KubernetesEmulator__get_objs(self, request: kmock.Request, strict: bool) -> list[Any]:  # noqa: N802
        """kmock's private object lookup, by key for named requests instead of a full scan
        (the benchmark keeps about 10⁴ objects); the same answers as the original."""
        if strict and request.name is not None:
            key = _key(request)
            return [self.objects[key]] if key in self.objects else []
        return [obj for (res, ns, name), obj in self.objects.items()
                if res == request.resource and (request.name is None or name == request.name)
                and (ns == request.namespace if strict else request.namespace in (None, ns))]

    # ---- listing and watching with label selectors ---------------------------------------

    async def _serve_list(self, request: kmock.Request) -> rendering.Payload:
        doc: Any = await super()._serve_list(request)
        selector = request.params.get("labelSelector")
        if selector:
            doc["items"] = [o for o in doc["items"]
                            if _selector_matches(selector, (o.get("metadata") or {}).get("labels") or {})]
        return self._page(doc, request.params.get("limit"), request.params.get("continue"))

    @staticmethod
    def _page(doc: Any, limit: str | None, token: str | None) -> Any:
        """One page of a list: `limit` items from where `continue` left off, and the token of
        the next page in `metadata.continue` ("" on the last page, as the API server does)."""
        if not limit or int(limit) <= 0:
            return doc
        items = doc["items"]  # kmock's order (creation), which tests of Events rely on
        start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        end = start + int(limit)
        doc["items"] = items[start:end]
        meta = doc.setdefault("metadata", {})
        meta["continue"] = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else ""
        if end < len(items):
            meta["remainingItemCount"] = len(items) - end
        return doc

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[rendering.Payload]:
        selector = request.params.get("labelSelector")
        async for event in super()._serve_watch(request):
            if selector and isinstance(event, dict):
                labels = ((event.get("object") or {}).get("metadata") or {}).get("labels") or {}
                if not _selector_matches(selector, labels):
                    continue
            yield event

    # ---- the garbage collector ----------------------------------------------------------

    def _may_vanish(self, request: kmock.Request) -> tuple[Any, str] | None:
        """The object a delete (or a patch of a deleting object) may remove, with its uid."""
        key = _key(request)
        if request.name is None or key not in self.objects or self.objects[key].deleted:
            return None
        meta = self.objects[key].raw["metadata"]
        if request.action == kmock.action.DELETE or (
                request.action == kmock.action.UPDATE and meta.get("deletionTimestamp")):
            return key, str(meta.get("uid"))
        return None

    async def _collect_garbage(self, gone: set[str]) -> None:
        """Delete dependents of owners that disappeared, repeatedly (Job → Pod chains)."""
        while gone:
            async with self._lock:
                doomed = [(key, obj) for key, obj in self.objects.items() if not obj.deleted
                          and any(ref.get("uid") in gone
                                  for ref in obj.raw["metadata"].get("ownerReferences") or [])]
                uids = set()
                for key, obj in doomed:
                    raw = obj.raw
                    if raw["metadata"].get("finalizers"):
                        obj.patch({"metadata": {"deletionTimestamp": _now()}})
                        await self._buses[key[0]].put({"type": "MODIFIED", "object": obj.raw})
                        continue
                    obj.delete()
                    uids.add(raw["metadata"].get("uid"))
                    await self._buses[key[0]].put({"type": "DELETED", "object": raw})
            gone = uids

