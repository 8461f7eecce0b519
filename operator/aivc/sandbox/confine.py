"""The child's OS layers, applied in order before any candidate code is imported.

As root: a network namespace, the chroot view (`fsview`), then the drop to the sandbox user
(uid/gid 65534). Then, for everyone, resource limits (RLIMIT_NPROC only after the drop:
Linux does not enforce it for root, and for an ordinary user it would count all of their
processes). After the allowed libraries are imported, `lock` adds the seccomp filter and
Landlock; the audit hook comes last (`aivc.sandbox.hook`). Each step that cannot apply
here is skipped and left out of the returned layer names, which the child reports.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import stat

from aivc.sandbox import fsview, landlock, policy, seccomp
from aivc.sandbox.limits import SandboxLimits
from aivc.sandbox.protocol import SANDBOX_GID, SANDBOX_UID

WRITABLE_DEVICES = ("/dev/null",)
PR_SET_PDEATHSIG = 1


def confine(workdir: str, rootfs: str, limits: SandboxLimits, read: tuple[str, ...],
            hidden: tuple[str, ...], root_layers: bool = True) -> list[str]:
    """Namespaces, chroot, uid drop and rlimits; returns the names of the layers applied.
    `read` and `hidden` are `policy.read_roots()` and `policy.hidden_roots()`;
    `root_layers=False` skips what needs root, as an unprivileged run would (tests)."""
    os.umask(0o022)
    parent = os.getppid()
    layers: list[str] = []
    if os.geteuid() == 0 and root_layers:
        layers += _as_root(workdir, rootfs, read, hidden)
    if die_with_parent(parent):  # after the uid drop: changing credentials clears it
        layers.append("pdeathsig")
    set_rlimits(limits, dropped="uid" in layers)
    layers.append("rlimits")
    return layers


def _as_root(workdir: str, rootfs: str, read: tuple[str, ...],
             hidden: tuple[str, ...]) -> list[str]:
    layers = []
    try:
        fsview.unshare_network()
        layers.append("netns")
    except OSError:
        pass
    try:
        fsview.enter(rootfs, workdir, read, hidden)
        layers.append("chroot")
    except OSError:
        pass
    if "chroot" in layers or all(_world_readable(p) for p in policy.python_roots()):
        drop_privileges()
        layers.append("uid")
    return layers


def die_with_parent(parent: int) -> bool:
    """Ask the kernel to SIGKILL us when the harness dies (even by SIGKILL), so no candidate
    outlives a killed `aivc run`; exit at once if the parent is already gone."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:
        os._exit(1)
    return ok


def drop_privileges() -> None:
    """Become the sandbox user for good (supplementary groups first, then gid, then uid)."""
    os.setgroups([])
    os.setgid(SANDBOX_GID)
    os.setuid(SANDBOX_UID)
    if os.getuid() != SANDBOX_UID or os.geteuid() != SANDBOX_UID:
        raise OSError("could not drop to the sandbox user")


def set_rlimits(limits: SandboxLimits, dropped: bool) -> None:
    cpu = int(limits.cpu_seconds)
    _limit(resource.RLIMIT_CPU, cpu, cpu + 2)
    _limit(resource.RLIMIT_AS, limits.address_space_bytes)
    _limit(resource.RLIMIT_FSIZE, limits.max_file_bytes)
    _limit(resource.RLIMIT_NOFILE, limits.max_open_files)
    _limit(resource.RLIMIT_CORE, 0)
    if dropped:
        _limit(resource.RLIMIT_NPROC, limits.max_processes)


def lock(workdir: str, read: tuple[str, ...], hidden: tuple[str, ...]) -> list[str]:
    """Kernel layers that must follow the library imports: seccomp, then Landlock."""
    layers = []
    if seccomp.install():
        layers.append("seccomp")
    roots = policy.carve(read, hidden) + (f"/proc/{os.getpid()}",)
    abi = landlock.install(roots, (workdir, *WRITABLE_DEVICES))
    if abi:
        layers.append(f"landlock{abi}")
    return layers


def _limit(which: int, soft: int, hard: int | None = None) -> None:
    hard = soft if hard is None else hard
    _, cur_hard = resource.getrlimit(which)
    if cur_hard != resource.RLIM_INFINITY:
        hard = min(hard, cur_hard)
    resource.setrlimit(which, (min(soft, hard), hard))


def _world_readable(path: str) -> bool:
    """Whether the sandbox user can reach `path`: every directory above it world-searchable."""
    parts = os.path.realpath(path).split("/")
    for i in range(1, len(parts)):
        here = "/".join(parts[: i + 1]) or "/"
        try:
            mode = os.stat(here).st_mode
        except OSError:
            return False
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return False
    return True
