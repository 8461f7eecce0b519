"""Every Kubernetes permission the operator uses — its own calls and kopf's — and why.

The Helm chart renders its RBAC from `REQUIRED_PERMISSIONS`; the operator tests record every
request the API emulator sees during the scenarios and assert each is covered here
(`uncovered`), and that nothing here went unused, so the chart's RBAC is both sufficient and
minimal. `scope` says where a rule belongs: `namespace` rules go into a Role in each watched
namespace (or the ClusterRole when the operator watches all namespaces), `cluster` rules
always into a ClusterRole. `when` limits a rule to one way of running the operator:
`namespaced` (`--namespace` given), `clusterwide`, and with kopf peering (the default; not
with `--standalone`) `peering-namespaced` or `peering-clusterwide`. Discovery
(`NON_RESOURCE_URLS`) is granted to every authenticated client by Kubernetes' default
`system:discovery` role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    api_group: str
    resource: str
    verbs: tuple[str, ...]
    scope: str  # namespace | cluster
    why: str
    when: str = "always"  # always | namespaced | clusterwide | peering-namespaced | peering-clusterwide

    def applies(self, namespaced: bool, peering: bool) -> bool:
        mode = "namespaced" if namespaced else "clusterwide"
        return self.when in ("always", mode) or (peering and self.when == f"peering-{mode}")


REQUIRED_PERMISSIONS: tuple[Permission, ...] = (
    Permission("aivc.dev", "campaigns", ("get", "list", "watch", "patch"), "namespace",
               "kopf watches Campaigns and adds/removes its finalizer while a campaign runs; "
               "the finish-up report reads its Campaign"),
    Permission("aivc.dev", "campaigns/status", ("patch",), "namespace",
               "campaign phase, counts, best version, cost and conditions"),
    Permission("aivc.dev", "experiments", ("get", "list", "watch", "create", "patch"), "namespace",
               "campaigns create Experiments; the design step records its hypothesis in the spec; "
               "decision annotations are removed once applied; kopf's finalizer while in flight"),
    Permission("aivc.dev", "experiments/status", ("patch",), "namespace",
               "the phase machine's state, results, metrics and conditions"),
    Permission("batch", "jobs", ("get", "list", "watch", "create"), "namespace",
               "sandbox Jobs: created (or adopted after a restart) and watched until they finish"),
    Permission("", "pods", ("list",), "namespace",
               "a finished sandbox Job's pod holds the result in its termination message"),
    Permission("", "pods/log", ("get",), "namespace",
               "the full results JSON the sandbox printed on stdout"),
    Permission("", "configmaps", ("get", "create", "patch"), "namespace",
               "each Experiment's candidate source, mounted read-only into its sandbox pods"),
    Permission("", "secrets", ("get",), "namespace",
               "the Anthropic API key and git credentials from the Secrets a Campaign names, "
               "by name only (the chart narrows this rule to named Secrets)"),
    Permission("", "events", ("create",), "namespace",
               "an Event on every phase change, decision and failure"),
    Permission("apiextensions.k8s.io", "customresourcedefinitions", ("list", "watch"), "cluster",
               "kopf discovers the served resources and notices CRD changes"),
    Permission("", "namespaces", ("list", "watch"), "cluster",
               "kopf follows the namespaces it serves (names or patterns)", when="namespaced"),
    Permission("kopf.dev", "clusterkopfpeerings", ("list", "watch", "patch"), "cluster",
               "one active replica: kopf peering across the cluster", when="peering-clusterwide"),
    Permission("kopf.dev", "kopfpeerings", ("list", "watch", "patch"), "namespace",
               "one active replica: kopf peering in each served namespace",
               when="peering-namespaced"),
)

NON_RESOURCE_URLS = ("/api", "/api/*", "/apis", "/apis/*", "/version")

_RESOURCE_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?(?:/(?P<plural>[^/]+))?(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$")


def rule_for(method: str, path: str, watch: bool = False) -> tuple[str, str, str] | None:
    """(apiGroup, resource[/subresource], verb) of one request; None for discovery URLs."""
    m = _RESOURCE_PATH.match(path)
    if m is None or (m["plural"] is None and m["ns"] is None):
        return None
    plural, name, sub = m["plural"], m["name"], m["sub"]
    if plural is None:  # /api/v1/namespaces/NAME: the Namespace object itself
        plural, name = "namespaces", m["ns"]
    group = "" if m["core"] else str(m["group"])
    resource = f"{plural}/{sub}" if sub else plural
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method.upper())
    if verb is None:
        verb = "watch" if watch else ("get" if name else "list")
    return group, resource, verb


def allowed(group: str, resource: str, verb: str) -> bool:
    return any(p.api_group == group and p.resource == resource and verb in p.verbs
               for p in REQUIRED_PERMISSIONS)


def uncovered(calls: list[tuple[str, str, bool]]) -> list[str]:
    """The (method, path, watch) calls no permission covers, as readable lines."""
    out = []
    for method, path, watch in calls:
        rule = rule_for(method, path, watch)
        if rule is not None and not allowed(*rule):
            out.append(f"{method} {path} needs {rule[2]} on {rule[0] or 'core'}/{rule[1]}")
    return sorted(set(out))
