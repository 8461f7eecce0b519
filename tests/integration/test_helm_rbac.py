"""The chart's RBAC, evaluated the way the API server's authorizer does: it lets the operator
make every call in `aivc.kube.permissions.REQUIRED_PERMISSIONS` and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from aivc.kube.permissions import REQUIRED_PERMISSIONS, Permission
from tests.integration.chart_render import NAMESPACED, ROOT, VARIANTS, of_kind, render

SA = ("aivc-system", "aivc-operator")
ELSEWHERE = "kube-system"
"""A namespace the operator must not touch when watchNamespaces leaves it out."""
DEFAULT_KEY_SECRET = "anthropic"
"""The Secret the README's install creates and the chart's llm.apiKeySecret names by default."""


@dataclass(frozen=True)
class Grant:
    namespace: str | None  # None: every namespace and cluster-scoped resources
    rule: dict[str, Any]


def grants(objs: list[dict[str, Any]], sa: tuple[str, str] = SA) -> list[Grant]:
    """The rules bound to the ServiceAccount, with where each binding applies."""
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
             for o in objs if o["kind"] in ("Role", "ClusterRole")}
    out = []
    for binding in objs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s["kind"] == "ServiceAccount" and (s["namespace"], s["name"]) == sa
                   for s in binding["subjects"]):
            continue
        where = binding["metadata"].get("namespace")
        ref = binding["roleRef"]
        role_ns = where if ref["kind"] == "Role" else None
        role = roles[(ref["kind"], role_ns, ref["name"])]
        out += [Grant(where if binding["kind"] == "RoleBinding" else None, r) for r in role["rules"]]
    return out


def allows(granted: list[Grant], perm: Permission, verb: str, namespace: str | None,
           name: str | None = None) -> bool:
    for g in granted:
        r = g.rule
        if g.namespace is not None and g.namespace != namespace:
            continue
        if (perm.api_group in r["apiGroups"] and perm.resource in r["resources"]
                and verb in r["verbs"]
                and ("resourceNames" not in r or name in r["resourceNames"])):
            return True
    return False


def _mode(values: dict[str, Any]) -> tuple[bool, list[str]]:
    namespaces = list(values.get("watchNamespaces") or [])
    return bool(namespaces), namespaces or ["research", ELSEWHERE]


@pytest.mark.parametrize("variant", VARIANTS)
def test_rbac_has_no_wildcards(variant: str) -> None:
    for role in of_kind(render(VARIANTS[variant]), "Role") + of_kind(render(VARIANTS[variant]),
                                                                     "ClusterRole"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(field, []), f"{role['metadata']['name']}: {rule}"
            assert "nonResourceURLs" not in rule


@pytest.mark.parametrize("variant", VARIANTS)
def test_rbac_lets_the_operator_make_every_call_it_needs(variant: str) -> None:
    values = VARIANTS[variant]
    granted = grants(render(values))
    namespaced, namespaces = _mode(values)
    secret = ((values.get("llm") or {}).get("apiKeySecret") or {}).get("name", DEFAULT_KEY_SECRET)
    for perm in REQUIRED_PERMISSIONS:
        if not perm.applies(namespaced=namespaced, peering=True):
            continue
        if perm.resource == "secrets" and not secret:
            continue  # no key named: no Secret access (test below)
        where = namespaces if perm.scope == "namespace" else [None]
        for ns in where:
            for verb in perm.verbs:
                assert allows(granted, perm, verb, ns, secret), \
                    f"{variant}: cannot {verb} {perm.api_group or 'core'}/{perm.resource} in {ns}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_rbac_grants_nothing_the_operator_does_not_use(variant: str) -> None:
    namespaced, _ = _mode(VARIANTS[variant])
    needed = {(p.api_group, p.resource, v) for p in REQUIRED_PERMISSIONS
              if p.applies(namespaced=namespaced, peering=True) for v in p.verbs}
    for g in grants(render(VARIANTS[variant])):
        for group in g.rule["apiGroups"]:
            for resource in g.rule["resources"]:
                for verb in g.rule["verbs"]:
                    assert (group, resource, verb) in needed, f"{variant}: extra {g.rule}"


def test_namespace_scoped_operator_cannot_touch_other_namespaces() -> None:
    granted = grants(render(NAMESPACED))
    for perm in REQUIRED_PERMISSIONS:
        if perm.scope == "namespace" and perm.applies(namespaced=True, peering=True):
            for verb in perm.verbs:
                assert not allows(granted, perm, verb, ELSEWHERE, "anthropic"), (perm, verb)
    for role in of_kind(render(NAMESPACED), "ClusterRole"):
        for rule in role["rules"]:
            scopes = {p.scope for p in REQUIRED_PERMISSIONS if p.resource in rule["resources"]}
            assert scopes == {"cluster"}, f"namespaced power granted cluster-wide: {rule}"


SECRETS = next(p for p in REQUIRED_PERMISSIONS if p.resource == "secrets")


def test_by_default_the_operator_reads_the_documented_key_secret_and_no_other() -> None:
    for values, namespaces in (({}, ["research", ELSEWHERE]), (NAMESPACED, ["research", "team-b"])):
        granted = grants(render(values))
        for ns in namespaces:
            assert allows(granted, SECRETS, "get", ns, DEFAULT_KEY_SECRET), (values, ns)
            assert not allows(granted, SECRETS, "get", ns, "someone-elses-secret"), (values, ns)
            assert not allows(granted, SECRETS, "list", ns, DEFAULT_KEY_SECRET), "list reveals every Secret"
        if values:
            assert not allows(granted, SECRETS, "get", ELSEWHERE, DEFAULT_KEY_SECRET)


def test_the_example_campaign_names_a_secret_the_default_chart_lets_the_operator_read() -> None:
    example = yaml.safe_load((ROOT / "examples" / "campaign.yaml").read_text())
    name = example["spec"]["llm"]["apiKeySecret"]["name"]
    assert allows(grants(render(NAMESPACED)), SECRETS, "get", "research", name)


def test_secret_names_let_the_operator_read_the_git_credentials_campaigns_name() -> None:
    values = {**NAMESPACED, "rbac": {"secretNames": ["aivc-git", "team-b-key"]}}
    granted = grants(render(values))
    for name in ("aivc-git", "team-b-key", DEFAULT_KEY_SECRET):
        assert allows(granted, SECRETS, "get", "team-b", name), name
    assert not allows(granted, SECRETS, "get", "team-b", "other")
    secret_rules = [g.rule for g in granted if "secrets" in g.rule["resources"]]
    assert all(r["verbs"] == ["get"] for r in secret_rules), secret_rules


def test_without_a_key_secret_or_secret_names_the_operator_reads_no_secret() -> None:
    for values in ({"llm": {"apiKeySecret": {"name": ""}}},
                   {**NAMESPACED, "llm": {"apiKeySecret": {"name": ""}}}):
        granted = grants(render(values))
        assert not any("secrets" in g.rule["resources"] for g in granted), values


def test_operator_can_keep_the_peering_objects_the_chart_creates() -> None:
    for values, kind in (({}, "ClusterKopfPeering"), (NAMESPACED, "KopfPeering")):
        objs = render(values)
        granted = grants(objs)
        plural = kind.lower() + "s"
        perm = next(p for p in REQUIRED_PERMISSIONS if p.resource == plural)
        for peering in of_kind(objs, kind):
            ns = peering["metadata"].get("namespace")
            assert allows(granted, perm, "patch", ns, peering["metadata"]["name"]), peering


def test_rbac_off_creates_no_roles_or_bindings() -> None:
    objs = render({"rbac": {"create": False}})
    for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
        assert of_kind(objs, kind) == []
