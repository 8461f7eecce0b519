"""A small asyncio client for the handful of Kubernetes API calls the operator makes itself.

kopf watches, indexes, posts Events and manages its finalizers with its own client; the
operator's reconcilers create Experiments, Jobs and ConfigMaps, patch statuses and read pod
logs through this one. It uses the credentials kopf's login produced (`use`), so both talk
to the same server as the same identity. Errors come back typed: `Conflict` (409),
`NotFound` (404) and `ApiError.retryable` (409, 429, 5xx, connection trouble), which the
reconcilers turn into `kopf.TemporaryError` so kopf retries them after a delay.
"""

from __future__ import annotations

import asyncio
import builtins
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import kopf

MERGE_PATCH = "application/merge-patch+json"
PAGE_SIZE = 500
"""Objects per list request (the API server's `limit`); kopf's own lists use the same."""


@dataclass(frozen=True)
class Kind:
    """One API resource: where its URLs live and whether it is namespaced."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def url(self, namespace: str | None, name: str | None = None,
            subresource: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [base]
        if namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)


CAMPAIGNS = Kind("aivc.dev", "v1alpha1", "campaigns", "Campaign")
EXPERIMENTS = Kind("aivc.dev", "v1alpha1", "experiments", "Experiment")
JOBS = Kind("batch", "v1", "jobs", "Job")
PODS = Kind("", "v1", "pods", "Pod")
CONFIGMAPS = Kind("", "v1", "configmaps", "ConfigMap")
SECRETS = Kind("", "v1", "secrets", "Secret")


class ApiError(Exception):
    """The API server refused or failed a request."""

    def __init__(self, status: int, reason: str, message: str, request: str = "") -> None:
        super().__init__(f"{status} {reason}" + (f" on {request}" if request else "") + f": {message}")
        self.status, self.reason, self.message, self.request = status, reason, message, request

    @property
    def retryable(self) -> bool:
        """Worth trying again later: conflicts, throttling, server and connection errors."""
        return self.status in (0, 409, 429) or self.status >= 500


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


def _error(status: int, text: str, request: str = "") -> ApiError:
    reason, message = "Error", text[:300]
    try:
        doc = json.loads(text)
        reason, message = str(doc.get("reason") or reason), str(doc.get("message") or message)
    except (ValueError, AttributeError):
        pass
    cls = NotFound if status == 404 else Conflict if status == 409 else ApiError
    return cls(status, reason, message[:300], request)


class KubeApi:
    """Authenticated JSON requests against one API server (see the module docstring)."""

    def __init__(self, connection: kopf.ConnectionInfo | None = None, *,
                 user_agent: str = "aivc-operator", timeout_s: float = 30.0,
                 page_size: int = PAGE_SIZE) -> None:
        self.user_agent, self.timeout_s, self.page_size = user_agent, timeout_s, page_size
        self._connection = connection
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._ready = asyncio.Event()
        if connection is not None:
            self._ready.set()

    def use(self, connection: kopf.ConnectionInfo) -> None:
        """Adopt (new) credentials, e.g. from kopf's login handler after a token rotation."""
        self._connection = connection
        self._ready.set()
        if self._session is not None:
            old, self._session = self._session, None
            asyncio.get_running_loop().create_task(old.close())

    async def close(self) -> None:
        """Close for good: work still finishing in threads gets errors, not a new session."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _open(self) -> tuple[aiohttp.ClientSession, str]:
        await self._ready.wait()
        if self._closed:
            raise ApiError(0, "Closed", "the operator is shutting down")
        conn = self._connection
        assert conn is not None
        if self._session is None:
            ssl = conn.as_ssl_context() if conn.server.startswith("https") else False
            headers = {"User-Agent": self.user_agent, **conn.as_http_headers()}
            self._session = aiohttp.ClientSession(
                headers=headers, connector=aiohttp.TCPConnector(ssl=ssl, limit=32),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self._session, conn.server.rstrip("/")

    async def request(self, method: str, path: str, *, body: Any = None,
                      params: dict[str, str] | None = None, content_type: str = "application/json",
                      raw: bool = False) -> Any:
        session, server = await self._open()
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        try:
            async with session.request(method, server + path, data=data, params=params,
                                       headers=headers) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise _error(resp.status, text, f"{method} {path}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ApiError(0, type(exc).__name__, str(exc) or "connection failed") from None
        if raw:
            return text
        return json.loads(text) if text else {}

    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        return dict(await self.request("GET", kind.url(namespace, name)))

    async def list(self, kind: Kind, namespace: str | None,
                   labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every matching object, read in pages of `page_size` (`limit` and `continue`): a
        campaign with thousands of experiments costs several bounded responses, not one
        response the size of them all. An expired continue token (410) starts over."""
        params = {"limit": str(self.page_size)}
        if labels:
            params["labelSelector"] = ",".join(f"{k}={v}" for k, v in labels.items())
        for _ in range(3):
            try:
                return await self._pages(kind.url(namespace), params)
            except ApiError as exc:
                if exc.status != 410:
                    raise
        return await self._pages(kind.url(namespace), params)

    async def _pages(self, path: str, params: dict[str, str]) -> builtins.list[dict[str, Any]]:
        items: builtins.list[dict[str, Any]] = []
        token = ""
        while True:
            page = {**params, "continue": token} if token else params
            doc = await self.request("GET", path, params=page)
            items += doc.get("items") or []
            token = str((doc.get("metadata") or {}).get("continue") or "")
            if not token:
                return items

    async def create(self, kind: Kind, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.request("POST", kind.url(namespace), body=body))

    async def patch(self, kind: Kind, namespace: str | None, name: str, patch: dict[str, Any],
                    subresource: str | None = None) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386): nested dicts merge, None deletes a key."""
        url = kind.url(namespace, name, subresource)
        return dict(await self.request("PATCH", url, body=patch, content_type=MERGE_PATCH))

    async def delete(self, kind: Kind, namespace: str | None, name: str) -> None:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        await self.request("DELETE", kind.url(namespace, name), body=body)

    async def logs(self, namespace: str, pod: str, container: str) -> str:
        """The container's stdout and stderr as the kubelet kept them."""
        url = PODS.url(namespace, pod, "log")
        return str(await self.request("GET", url, params={"container": container}, raw=True))
