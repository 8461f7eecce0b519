"""What the parent sees of a child from the outside, and which layers it requires.

A child says which layers it applied, but a claim made by a process that will run
untrusted code is not evidence. Before the candidate is loaded (the child waits for `go`),
the parent reads the child's real state from /proc and records only what it saw:

- `userns`, `mntns`, `netns`, `ipcns`, `pidns`, `utsns`: the child's namespace identities
  (/proc/PID/ns/*) differ from the parent's;
- `view`: its root directory is not the parent's (the chroot of `fsview`);
- `uid`: as root, every uid and gid is 65534 and there are no supplementary groups; in a
  user namespace, its uid and gid maps hold exactly one id each, the parent's own;
- `nocaps`: no effective or permitted capabilities; `nnp`: no_new_privs is set;
- `seccomp`: in filter mode with more filters than the parent has;
- `rlimits`: /proc/PID/limits holds the limits `SandboxLimits` asks for;
- `workcap`: the descriptor the child handed over is a file system of at most
  `max_written_bytes`, and it is the one the child's working directory is on.

Landlock keeps no trace in /proc; the child's report of it (made by the harness before any
candidate code ran) is recorded as reported, not seen. So is the audit hook, which gives
early, clear errors and is never counted as a boundary.

Required layers depend on the mode: `root` and `user` (a normal user, through a user
namespace) need all of the above and Landlock; `pod` (inside a sandbox pod, where the pod
keeps the steps apart) needs `nnp`, `seccomp`, `rlimits` and Landlock, and records the rest
when the runtime allows it. Missing layers make the run refuse with their names, unless
`SandboxLimits.accept_weaker` is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from aivc.sandbox.limits import SandboxLimits
from aivc.sandbox.protocol import SANDBOX_GID, SANDBOX_UID

NAMESPACES = ("user", "mnt", "net", "ipc", "pid", "uts")
REPORTED = ("landlock", "audit")
_LIMIT_ROWS = {"Max cpu time": "cpu", "Max file size": "fsize", "Max address space": "as",
               "Max open files": "nofile", "Max core file size": "core", "Max processes": "nproc"}


class Unavailable(Exception):
    """Required layers could not be put in place here."""

    def __init__(self, mode: str, missing: list[str]) -> None:
        self.mode, self.missing = mode, missing
        super().__init__(refusal(mode, missing))


@dataclass
class Seen:
    """The layers one child was found to have, and the ones it only reported."""

    layers: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)
    gone: bool = False
    """The process was gone before it could be read (killed from outside): its exit says
    what happened, and nothing it could do is left to refuse."""

    def all(self) -> set[str]:
        return {*self.layers, *self.reported}


def mode(limits: SandboxLimits) -> str:
    if limits.pod:
        return "pod"
    return "root" if os.geteuid() == 0 else "user"


def required(limits: SandboxLimits) -> tuple[str, ...]:
    kind = mode(limits)
    if kind == "pod":
        return ("nnp", "seccomp", "rlimits", "landlock")
    base: tuple[str, ...] = ("mntns", "netns", "ipcns", "pidns", "utsns", "view", "uid", "nocaps", "nnp",
            "seccomp", "rlimits", "workcap", "landlock")
    if limits.gpu:  # no address-space limit: memory is left to a pod's limit
        base = (*base, "memory-limit")
    return ("userns", *base) if kind == "user" else base


def missing(limits: SandboxLimits, seen: Seen) -> list[str]:
    have = seen.all()
    return [name for name in required(limits) if name not in have]


def refusal(kind: str, absent: list[str]) -> str:
    hints = []
    if "userns" in absent or ("mntns" in absent and kind == "user"):
        hints.append("this kernel does not let a normal user create user namespaces "
                      "(sysctl kernel.unprivileged_userns_clone or "
                      "kernel.apparmor_restrict_unprivileged_userns); run as root or allow them")
    if "landlock" in absent:
        hints.append("Landlock needs Linux 5.13 or newer with lsm=landlock")
    if "memory-limit" in absent:
        hints.append("the GPU profile sets no address-space limit: run it in a sandbox pod")
    text = (f"the sandbox cannot put these required layers in place ({kind} mode): "
            f"{', '.join(absent)}")
    if hints:
        text += "; " + "; ".join(hints)
    return text + (". To run anyway under a weaker sandbox, say so explicitly: "
                   "--accept-weaker-sandbox, AIVC_SANDBOX_ACCEPT_WEAKER=1 or "
                   "SandboxLimits(accept_weaker=True).")


def observe(pid: int, workfd: int | None, limits: SandboxLimits, claimed: list[str]) -> Seen:
    """Read what `pid` really runs under (see the module docstring)."""
    seen = Seen(reported=[n for n in REPORTED if n in claimed])
    try:
        status = _status(pid)
        seen.layers += _namespaces(pid)
        if _stat_key(f"/proc/{pid}/root") != _stat_key("/"):
            seen.layers.append("view")
        if _own_uid(pid, status, "userns" in seen.layers):
            seen.layers.append("uid")
        if status.get("CapEff", "1").strip("0") == "" and status.get("CapPrm", "1").strip("0") == "":
            seen.layers.append("nocaps")
        if status.get("NoNewPrivs") == "1":
            seen.layers.append("nnp")
        if status.get("Seccomp") == "2" and _filters(status) > _filters(_status("self")):
            seen.layers.append("seccomp")
        if _limits_hold(_limits(pid), limits, own_user="uid" in seen.layers):
            seen.layers.append("rlimits")
        if workfd is not None and _work_capped(pid, workfd, limits):
            seen.layers.append("workcap")
    except OSError:
        seen.gone = not os.path.exists(f"/proc/{pid}/status")
    return seen


def _status(pid: int | str) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def _namespaces(pid: int) -> list[str]:
    return [f"{kind}ns" for kind in NAMESPACES
            if os.readlink(f"/proc/{pid}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}")]


def _stat_key(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _own_uid(pid: int, status: dict[str, str], in_userns: bool) -> bool:
    uids, gids = status.get("Uid", "").split(), status.get("Gid", "").split()
    if not in_userns:
        return (uids == [str(SANDBOX_UID)] * 4 and gids == [str(SANDBOX_GID)] * 4
                and not status.get("Groups", "").split())
    # A user namespace cannot shed the user's supplementary groups (setgroups is denied
    # there); the view and Landlock keep what they could open out of reach.
    want_uid = f"{SANDBOX_UID} {os.getuid()} 1".split()
    want_gid = f"{SANDBOX_GID} {os.getgid()} 1".split()
    return (_maps(f"/proc/{pid}/uid_map") == [want_uid]
            and _maps(f"/proc/{pid}/gid_map") == [want_gid]
            and uids == [str(os.getuid())] * 4)


def _maps(path: str) -> list[list[str]]:
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def _filters(status: dict[str, str]) -> int:
    try:
        return int(status.get("Seccomp_filters", "0"))
    except ValueError:
        return 0


def _limits(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            for label, key in _LIMIT_ROWS.items():
                if line.startswith(label):
                    out[key] = line[len(label):].split()[0]
    return out


def _limits_hold(found: dict[str, str], limits: SandboxLimits, own_user: bool) -> bool:
    want: dict[str, Any] = {"cpu": limits.cpu_seconds, "fsize": limits.max_file_bytes,
                            "nofile": limits.max_open_files, "core": 0}
    if not limits.gpu:
        want["as"] = limits.address_space_bytes
    if own_user:
        want["nproc"] = limits.max_processes
    return all(found.get(key) == str(value) for key, value in want.items())


def _work_capped(pid: int, workfd: int, limits: SandboxLimits) -> bool:
    fs = os.fstatvfs(workfd)
    size = fs.f_blocks * fs.f_frsize
    return 0 < size <= limits.max_written_bytes and \
        os.stat(f"/proc/{pid}/cwd").st_dev == os.fstat(workfd).st_dev
