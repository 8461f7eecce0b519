"""A checker for the Pod Security Standards "restricted" profile (baseline included).

The API server's PodSecurity admission is not available without a cluster, so the chart's
tests hold the operator Deployment and the sandbox Job template to the same rules here:
https://kubernetes.io/docs/concepts/security/pod-security-standards/ (policy version 1.27+).
`restricted_violations(pod_spec)` returns one line per broken rule; empty means compliant.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

ALLOWED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                        "persistentVolumeClaim", "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
ALLOWED_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t",
                         "container_engine_t"}
SECCOMP_OK = {"RuntimeDefault", "Localhost"}


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            yield f"{field}[{c.get('name', '?')}]", c


def _pod_level(spec: dict[str, Any]) -> list[str]:
    problems = [f"spec.{f} must be unset or false" for f in ("hostNetwork", "hostPID", "hostIPC")
                if spec.get(f)]
    psc = spec.get("securityContext") or {}
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        problems.append("spec.securityContext.windowsOptions.hostProcess must not be true")
    for sysctl in psc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl.get('name')} is not in the safe set")
    for vol in spec.get("volumes") or []:
        kinds = set(vol) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            problems.append(f"volume {vol.get('name')}: type {sorted(kinds)} is not allowed")
    if psc.get("runAsUser") == 0:
        problems.append("spec.securityContext.runAsUser must not be 0")
    return problems + _selinux("spec.securityContext", psc)


def _selinux(where: str, sc: dict[str, Any]) -> list[str]:
    opts = sc.get("seLinuxOptions") or {}
    problems = []
    if opts.get("type", "") not in ALLOWED_SELINUX_TYPES:
        problems.append(f"{where}.seLinuxOptions.type {opts['type']!r} is not allowed")
    problems += [f"{where}.seLinuxOptions.{k} must be unset" for k in ("user", "role") if opts.get(k)]
    return problems


def _container_level(where: str, c: dict[str, Any], psc: dict[str, Any]) -> list[str]:
    sc = c.get("securityContext") or {}
    problems = _selinux(f"{where}.securityContext", sc)
    if sc.get("privileged"):
        problems.append(f"{where}: privileged must be false")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation must be false")
    non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    if non_root is not True:
        problems.append(f"{where}: runAsNonRoot must be true (container or pod)")
    if sc.get("runAsUser", psc.get("runAsUser")) == 0:
        problems.append(f"{where}: runAsUser must not be 0")
    seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    if seccomp not in SECCOMP_OK:
        problems.append(f"{where}: seccompProfile.type must be RuntimeDefault or Localhost")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        problems.append(f"{where}: capabilities.drop must include ALL")
    extra = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
    if extra:
        problems.append(f"{where}: capabilities.add {sorted(extra)} is not allowed")
    if sc.get("procMount", "Default") != "Default":
        problems.append(f"{where}: procMount must be Default")
    if any(p.get("hostPort") for p in c.get("ports") or []):
        problems.append(f"{where}: hostPort must be unset or 0")
    return problems


def restricted_violations(pod_spec: dict[str, Any]) -> list[str]:
    """Every rule of the restricted profile that `pod_spec` breaks (empty: it complies)."""
    psc = pod_spec.get("securityContext") or {}
    problems = _pod_level(pod_spec)
    for where, container in _containers(pod_spec):
        problems += _container_level(where, container, psc)
    return problems


def pod_spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod spec inside a Pod, Deployment, Job, CronJob, StatefulSet or DaemonSet."""
    kind = obj["kind"]
    if kind == "Pod":
        return dict(obj["spec"])
    if kind == "CronJob":
        return dict(obj["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return dict(obj["spec"]["template"]["spec"])
