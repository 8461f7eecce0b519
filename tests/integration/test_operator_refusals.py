"""The API server refusing the operator (a 4xx other than 409/429) is said where people look:
a Warning Event and an `ApiAccess=False` condition naming the request and the server's
message (the missing permission, the invalid field), a slow retry, and the condition back
to True once the request goes through. The candidate is never charged for it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import kmock
import pytest

from aivc.kube.client import CAMPAIGNS
from tests.fakes.cluster import Cluster, campaign_manifest
from tests.fakes.scripted_planner import ScriptedPlanner

pytestmark = pytest.mark.slow
NAME = "refused-0000"
FORBIDDEN = ('jobs.batch is forbidden: User "system:serviceaccount:aivc:aivc-operator" cannot '
             'create resource "jobs" in API group "batch" in the namespace "aivc-test"')
INVALID = 'Experiment.aivc.dev "refused-0000" is invalid: spec.sequence: Invalid value: "x"'


def _on(method: str, plural: str) -> Any:
    def match(request: kmock.Request) -> bool:
        agent = str(request.headers.get("User-Agent", ""))
        return (request.method.value == method and request.resource is not None
                and request.resource.plural == plural and request.subresource is None
                and agent.startswith("aivc-operator"))
    return match


async def _scenario(data_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with Cluster() as cluster:
        cluster.api.fail(_on("POST", "experiments"), 422, times=2, message=INVALID)
        cluster.api.fail(_on("POST", "jobs"), 403, times=2, message=FORBIDDEN)
        memo = cluster.memo(data_dir, planner_factory=ScriptedPlanner({}).factory())
        async with cluster.operator(memo):
            await cluster.apply_campaign(campaign_manifest("refused", finishUp={"report": False}))
            out["experiment"] = await cluster.wait_phase(NAME, ("Succeeded", "Failed", "NeedsHuman"), 180)
            out["campaign"] = await cluster.get(CAMPAIGNS, "refused")
            out["experiment_events"] = await cluster.events(NAME)
            out["campaign_events"] = await cluster.events("refused")
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return asyncio.run(_scenario(tmp_path_factory.mktemp("operator")))


def _warnings(events: list[dict[str, Any]]) -> list[str]:
    return [e["message"] for e in events if e.get("reason") == "ApiRefused" and e.get("type") == "Warning"]


def _access(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["status"]["conditions"] if c["type"] == "ApiAccess")


def test_a_missing_permission_is_a_warning_naming_it_and_the_request(run: dict[str, Any]) -> None:
    said = _warnings(run["experiment_events"])
    assert said and "POST /apis/batch/v1/namespaces/aivc-test/jobs" in said[0]
    assert "403" in said[0]
    assert 'cannot create resource "jobs"' in said[0]


def test_an_invalid_object_is_a_warning_on_the_campaign_naming_the_field(run: dict[str, Any]) -> None:
    said = _warnings(run["campaign_events"])
    assert said and "POST /apis/aivc.dev/v1alpha1/namespaces/aivc-test/experiments" in said[0]
    assert "spec.sequence: Invalid value" in said[0]


def test_the_condition_turns_true_again_and_the_candidate_is_not_charged(run: dict[str, Any]) -> None:
    exp, campaign = run["experiment"], run["campaign"]
    assert exp["status"]["phase"] == "Succeeded"
    assert exp["status"]["attempts"] == {"design": 0, "validation": 0, "execution": 0}
    for doc in (exp, campaign):
        access = _access(doc)  # written True only after it had been False
        assert access["status"] == "True" and access["reason"] == "ApiAccepted"
