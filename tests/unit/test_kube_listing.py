"""Listing without surprises: the operator's client reads lists in pages, and the pre-delete
check names every object whose finalizer would outlive the operator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import kmock
import kopf
import pytest

from aivc.kube import uninstalling
from aivc.kube.client import CAMPAIGNS, EXPERIMENTS, KubeApi
from aivc.kube.settings import FINALIZER
from aivc.testing.emulator import ApiServer


def run(scenario: Callable[[ApiServer, KubeApi], Awaitable[Any]], page_size: int = 3) -> Any:
    async def main() -> Any:
        api = ApiServer()
        async with api, kmock.Server(api) as server:
            info = kopf.ConnectionInfo(server=str(server.url).rstrip("/"), token="t")
            client = KubeApi(info, user_agent="test", page_size=page_size)
            try:
                return await scenario(api, client)
            finally:
                await client.close()
    return asyncio.run(main())


def experiment(name: str, campaign: str = "demo", finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"aivc.dev/campaign": campaign}}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "aivc.dev/v1alpha1", "kind": "Experiment", "metadata": meta,
            "spec": {"campaign": campaign, "sequence": 0}}


def test_a_list_longer_than_a_page_is_read_whole_in_pages() -> None:
    async def scenario(server: ApiServer, api: KubeApi) -> None:
        for i in range(8):
            await api.create(EXPERIMENTS, "ns", experiment(f"demo-{i:04d}"))
        await api.create(EXPERIMENTS, "ns", experiment("other-0000", campaign="other"))
        server.calls.clear()
        found = await api.list(EXPERIMENTS, "ns", {"aivc.dev/campaign": "demo"})
        assert sorted(e["metadata"]["name"] for e in found) == [f"demo-{i:04d}" for i in range(8)]
        lists = [c for c in server.calls if c.method == "GET" and c.path.endswith("/experiments")]
        assert len(lists) == 3  # 3 + 3 + 2
    run(scenario)


def test_every_list_request_carries_a_limit() -> None:
    async def scenario(server: ApiServer, api: KubeApi) -> None:
        seen: list[str | None] = []
        server.fail(lambda r: seen.append(r.params.get("limit")) or False, 500)
        await api.list(EXPERIMENTS, "ns")
        assert seen == ["500"]
    run(scenario, page_size=500)


def test_an_expired_continue_token_starts_the_list_over() -> None:
    async def scenario(server: ApiServer, api: KubeApi) -> None:
        for i in range(5):
            await api.create(EXPERIMENTS, "ns", experiment(f"demo-{i:04d}"))
        server.fail(lambda r: bool(r.params.get("continue")), 410, times=1)
        found = await api.list(EXPERIMENTS, "ns")
        assert len(found) == 5
    run(scenario)


def test_the_uninstall_check_names_what_holds_the_operators_finalizer() -> None:
    async def scenario(_: ApiServer, api: KubeApi) -> list[str]:
        await api.create(EXPERIMENTS, "research", experiment("demo-0000", finalizers=[FINALIZER]))
        await api.create(EXPERIMENTS, "research", experiment("demo-0001"))
        await api.create(EXPERIMENTS, "elsewhere", experiment("demo-0002", finalizers=[FINALIZER]))
        await api.create(CAMPAIGNS, "research", {
            "apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign",
            "metadata": {"name": "demo", "finalizers": [FINALIZER, "someone.else/keep"]},
            "spec": {"dataset": {"clips": ["carphone"]}}})
        return await uninstalling.in_flight(api, ["research"])
    found = run(scenario)
    assert found == ["Campaign research/demo", "Experiment research/demo-0000"]


def test_the_uninstall_check_looks_everywhere_when_the_operator_serves_every_namespace() -> None:
    async def scenario(_: ApiServer, api: KubeApi) -> list[str]:
        await api.create(EXPERIMENTS, "a", experiment("demo-0000", finalizers=[FINALIZER]))
        await api.create(EXPERIMENTS, "b", experiment("demo-0001", finalizers=[FINALIZER]))
        return await uninstalling.in_flight(api, [])
    assert run(scenario) == ["Experiment a/demo-0000", "Experiment b/demo-0001"]


def test_the_uninstall_report_says_how_to_go_on_either_way() -> None:
    text = uninstalling.report(["Campaign research/demo"])
    assert "Campaign research/demo" in text and "helm uninstall --no-hooks" in text
    assert """patch KIND NAME --type merge -p '{"metadata":{"finalizers":null}}'""" in text
    assert "may go" in uninstalling.report([])


@pytest.mark.parametrize("argv", [["--namespace", "a", "--namespace", "b"], []])
def test_the_check_parses_the_arguments_the_chart_gives_it(argv: list[str], monkeypatch: Any) -> None:
    seen: list[list[str]] = []

    async def fake(namespaces: list[str]) -> int:
        seen.append(namespaces)
        return 0
    monkeypatch.setattr(uninstalling, "_run", fake)
    assert uninstalling.main(argv) == 0
    assert seen == [argv[1::2]]
