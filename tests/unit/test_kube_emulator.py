"""The API emulator behaves like an API server where the operator and kopf depend on it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import kmock
import kopf
import pytest

from aivc.kube.client import CONFIGMAPS, EXPERIMENTS, JOBS, PODS, Conflict, KubeApi, NotFound
from aivc.testing.emulator import ApiServer

NS = "ns"


def run(scenario: Callable[[ApiServer, KubeApi], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        api = ApiServer()
        async with api, kmock.Server(api) as server:
            info = kopf.ConnectionInfo(server=str(server.url).rstrip("/"), token="t")
            client = KubeApi(info, user_agent="test")
            try:
                return await scenario(api, client)
            finally:
                await client.close()
    return asyncio.run(main())


def experiment(name: str) -> dict[str, Any]:
    return {"apiVersion": "aivc.dev/v1alpha1", "kind": "Experiment",
            "metadata": {"name": name, "labels": {"aivc.dev/campaign": name[:4]}},
            "spec": {"campaign": name[:4], "sequence": 0}}


def test_the_server_owns_uid_versions_and_generated_names() -> None:
    async def scenario(_: ApiServer, api: KubeApi) -> None:
        made = await api.create(EXPERIMENTS, NS, experiment("demo-0000"))
        assert made["metadata"]["uid"] and made["metadata"]["creationTimestamp"]
        patched = await api.patch(EXPERIMENTS, NS, "demo-0000", {"metadata": {"labels": {"x": "y"}}})
        assert int(patched["metadata"]["resourceVersion"]) > int(made["metadata"]["resourceVersion"])
        event = await api.create(CONFIGMAPS, NS, {"metadata": {"generateName": "cm-"}, "data": {}})
        assert event["metadata"]["name"].startswith("cm-")
    run(scenario)


def test_a_stale_resource_version_conflicts() -> None:
    async def scenario(_: ApiServer, api: KubeApi) -> None:
        made = await api.create(EXPERIMENTS, NS, experiment("demo-0000"))
        await api.patch(EXPERIMENTS, NS, "demo-0000", {"metadata": {"labels": {"a": "1"}}})
        with pytest.raises(Conflict):
            await api.patch(EXPERIMENTS, NS, "demo-0000", {"metadata": {
                "resourceVersion": made["metadata"]["resourceVersion"], "labels": {"a": "2"}}})
    run(scenario)


def test_status_patches_touch_only_the_status_and_others_never_do() -> None:
    async def scenario(_: ApiServer, api: KubeApi) -> dict[str, Any]:
        await api.create(EXPERIMENTS, NS, experiment("demo-0000"))
        await api.patch(EXPERIMENTS, NS, "demo-0000", {"status": {"phase": "Designing"},
                                                       "spec": {"hypothesis": "h"}}, "status")
        await api.patch(EXPERIMENTS, NS, "demo-0000", {"status": {"phase": "Failed"}})
        return await api.get(EXPERIMENTS, NS, "demo-0000")
    doc = run(scenario)
    assert doc["status"] == {"phase": "Designing"} and "hypothesis" not in doc["spec"]


def test_lists_honour_equality_label_selectors() -> None:
    async def scenario(_: ApiServer, api: KubeApi) -> list[str]:
        for name in ("demo-0000", "demo-0001", "other-0000"):
            await api.create(EXPERIMENTS, NS, experiment(name))
        return [e["metadata"]["name"] for e in await api.list(EXPERIMENTS, NS, {"aivc.dev/campaign": "demo"})]
    assert run(scenario) == ["demo-0000", "demo-0001"]


def test_deleting_an_owner_collects_its_dependents_down_the_chain() -> None:
    async def scenario(_: ApiServer, api: KubeApi) -> list[str]:
        exp = await api.create(EXPERIMENTS, NS, experiment("demo-0000"))
        owner = {"apiVersion": "aivc.dev/v1alpha1", "kind": "Experiment", "name": "demo-0000",
                 "uid": exp["metadata"]["uid"]}
        job = await api.create(JOBS, NS, {"metadata": {"name": "j", "ownerReferences": [owner]}})
        by_job = {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": job["metadata"]["uid"]}
        await api.create(PODS, NS, {"metadata": {"name": "p", "ownerReferences": [by_job]}})
        await api.create(CONFIGMAPS, NS, {"metadata": {"name": "unrelated"}})
        await api.delete(EXPERIMENTS, NS, "demo-0000")
        left = []
        for kind in (JOBS, PODS, CONFIGMAPS):
            left += [o["metadata"]["name"] for o in await api.list(kind, NS)]
        return left
    assert run(scenario) == ["unrelated"]


def test_pod_logs_are_served_as_text() -> None:
    async def scenario(server: ApiServer, api: KubeApi) -> str:
        server.logs[(NS, "p")] = "line one\n{\"ok\": true}\n"
        return await api.logs(NS, "p", "sandbox")
    assert run(scenario) == "line one\n{\"ok\": true}\n"


def test_faults_fire_before_or_after_the_request_takes_effect() -> None:
    async def scenario(server: ApiServer, api: KubeApi) -> tuple[int, int]:
        lost = server.fail(lambda r: r.resource is not None and r.resource.plural == "configmaps",
                           500, applied=True)
        with pytest.raises(Exception, match="500"):
            await api.create(CONFIGMAPS, NS, {"metadata": {"name": "a"}})
        kept = await api.get(CONFIGMAPS, NS, "a")  # created although the reply was an error
        refused = server.fail(lambda r: r.resource is not None and r.resource.plural == "pods", 503)
        with pytest.raises(Exception, match="503"):
            await api.create(PODS, NS, {"metadata": {"name": "b"}})
        with pytest.raises(NotFound):
            await api.get(PODS, NS, "b")
        assert kept["metadata"]["name"] == "a"
        return lost.hits, refused.hits
    assert run(scenario) == (1, 1)
