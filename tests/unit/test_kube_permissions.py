"""Requests map to RBAC rules, and REQUIRED_PERMISSIONS stays explicit (aivc.kube.permissions)."""

from __future__ import annotations

import pytest

from aivc.kube.permissions import REQUIRED_PERMISSIONS, rule_for, uncovered


@pytest.mark.parametrize(("method", "path", "watch", "rule"), [
    ("GET", "/api/v1/namespaces/ns/pods/p-1/log", False, ("", "pods/log", "get")),
    ("GET", "/api/v1/namespaces/ns/pods", False, ("", "pods", "list")),
    ("GET", "/apis/batch/v1/jobs", True, ("batch", "jobs", "watch")),
    ("PATCH", "/apis/aivc.dev/v1alpha1/namespaces/ns/experiments/e/status", False,
     ("aivc.dev", "experiments/status", "patch")),
    ("POST", "/api/v1/namespaces/ns/events", False, ("", "events", "create")),
    ("GET", "/api/v1/namespaces", True, ("", "namespaces", "watch")),
    ("GET", "/api/v1/namespaces/ns", False, ("", "namespaces", "get")),
    ("GET", "/apis", False, None),
    ("GET", "/apis/aivc.dev/v1alpha1", False, None),
])
def test_requests_map_to_the_rbac_rule_they_need(method: str, path: str, watch: bool,
                                                 rule: tuple[str, str, str] | None) -> None:
    assert rule_for(method, path, watch) == rule


def test_calls_outside_the_permissions_are_reported() -> None:
    calls = [("DELETE", "/apis/batch/v1/namespaces/ns/jobs/j", False),
             ("GET", "/api/v1/namespaces/ns/secrets/s", False)]
    assert uncovered(calls) == ["DELETE /apis/batch/v1/namespaces/ns/jobs/j needs delete on batch/jobs"]


def test_permissions_name_no_wildcards_and_say_why() -> None:
    for perm in REQUIRED_PERMISSIONS:
        assert "*" not in (perm.api_group, perm.resource, *perm.verbs)
        assert perm.why and perm.scope in ("namespace", "cluster")
        assert perm.when in ("always", "namespaced", "clusterwide", "peering-namespaced",
                             "peering-clusterwide")


def test_peering_rules_apply_only_with_peering_in_their_mode() -> None:
    by_resource = {p.resource: p for p in REQUIRED_PERMISSIONS}
    assert by_resource["kopfpeerings"].applies(namespaced=True, peering=True)
    assert not by_resource["kopfpeerings"].applies(namespaced=True, peering=False)
    assert not by_resource["clusterkopfpeerings"].applies(namespaced=True, peering=True)
    assert by_resource["namespaces"].applies(namespaced=True, peering=False)
    assert not by_resource["namespaces"].applies(namespaced=False, peering=True)
