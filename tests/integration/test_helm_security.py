"""Pod Security "restricted" for the operator Deployment and for the sandbox Jobs the operator
builds, and the checker itself shown to catch each rule it enforces."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from tests.integration.built_jobs import sandbox_jobs
from tests.integration.chart_render import KUBE_VERSIONS, VARIANTS, one, render
from tests.integration.pod_security import pod_spec_of, restricted_violations


@pytest.mark.parametrize("variant", VARIANTS)
def test_operator_deployment_meets_the_restricted_profile(variant: str) -> None:
    dep = one(render(VARIANTS[variant]), "Deployment")
    assert restricted_violations(pod_spec_of(dep)) == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_uninstall_check_job_meets_the_restricted_profile(variant: str) -> None:
    job = one(render(VARIANTS[variant]), "Job")
    assert restricted_violations(pod_spec_of(job)) == []


def test_operator_root_filesystem_is_read_only_with_only_tmp_and_data_writable() -> None:
    pod = pod_spec_of(one(render(), "Deployment"))
    c = pod["containers"][0]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    writable = {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/tmp", "/var/lib/aivc"}
    assert c["resources"]["limits"] and c["resources"]["requests"]


@pytest.mark.parametrize("stage", ["validation", "execution"])
def test_sandbox_job_meets_the_restricted_profile(stage: str) -> None:
    job = sandbox_jobs()[stage]
    assert restricted_violations(pod_spec_of(job)) == []


@pytest.mark.parametrize("stage", ["validation", "execution"])
def test_sandbox_job_matches_the_kubernetes_schema(stage: str) -> None:
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(sandbox_jobs()[stage], version, strict=True)


def test_sandbox_pods_get_no_token_no_secret_and_a_read_only_root() -> None:
    for job in sandbox_jobs().values():
        pod = pod_spec_of(job)
        assert pod["automountServiceAccountToken"] is False
        assert not any("secret" in v or "projected" in v for v in pod["volumes"])
        for c in pod["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert not any("valueFrom" in e for e in c.get("env", []))
            assert "envFrom" not in c
        assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] > 0


COMPLIANT: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{"name": "c", "image": "x", "securityContext": {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
    "volumes": [{"name": "w", "emptyDir": {}}],
}

Mutation = Callable[[dict[str, Any]], None]


def _set_container(key: str, value: Any) -> Mutation:
    return lambda pod: pod["containers"][0]["securityContext"].__setitem__(key, value)


BREAKAGES: dict[str, Mutation] = {
    "hostNetwork": lambda pod: pod.__setitem__("hostNetwork", True),
    "hostPID": lambda pod: pod.__setitem__("hostPID", True),
    "hostIPC": lambda pod: pod.__setitem__("hostIPC", True),
    "privileged": _set_container("privileged", True),
    "privilege escalation left on": lambda pod: pod["containers"][0]["securityContext"].pop(
        "allowPrivilegeEscalation"),
    "runAsNonRoot missing": lambda pod: pod["securityContext"].pop("runAsNonRoot"),
    "runAsNonRoot false in the container": _set_container("runAsNonRoot", False),
    "root user": _set_container("runAsUser", 0),
    "seccomp unconfined in the container": _set_container("seccompProfile", {"type": "Unconfined"}),
    "seccomp missing": lambda pod: pod["securityContext"].pop("seccompProfile"),
    "capabilities kept": _set_container("capabilities", {}),
    "capability added": _set_container("capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
    "hostPath volume": lambda pod: pod["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    "hostPort": lambda pod: pod["containers"][0].__setitem__("ports", [{"containerPort": 80,
                                                                       "hostPort": 80}]),
    "unsafe sysctl": lambda pod: pod["securityContext"].__setitem__(
        "sysctls", [{"name": "kernel.msgmax", "value": "1"}]),
    "unmasked proc": _set_container("procMount", "Unmasked"),
    "SELinux user": _set_container("seLinuxOptions", {"user": "system_u"}),
    "init container as root": lambda pod: pod.__setitem__("initContainers", [
        {"name": "i", "image": "x", "securityContext": {"runAsUser": 0}}]),
}


def test_checker_passes_a_compliant_pod() -> None:
    assert restricted_violations(copy.deepcopy(COMPLIANT)) == []


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_checker_catches_each_broken_rule(breakage: str) -> None:
    pod = copy.deepcopy(COMPLIANT)
    BREAKAGES[breakage](pod)
    assert restricted_violations(pod), f"{breakage} went unnoticed"
