"""The child's OS layers, applied in order before any candidate code is imported.

1. Namespaces (`namespaces`): mount, network, IPC, UTS and PID, plus a user namespace
   without root; the process forks and goes on as PID 1 of the new PID namespace.
2. The file-system view (`fsview`): a read-only root of library mounts, a fresh /proc and a
   working directory on a tmpfs capped at `max_written_bytes`; chroot into it.
3. No privileges: as root, the drop to uid/gid 65534; in a user namespace, every capability
   the namespace granted is given up.
4. Resource limits (RLIMIT_NPROC only where the child has a user of its own: Linux does not
   enforce it for root, and for a normal user outside a user namespace it would count all
   of their processes).
Then, after the allowed libraries are imported, `lock` adds the seccomp filter and
Landlock; the audit hook comes last (`aivc.sandbox.hook`).

Where namespaces are not allowed (an unprivileged user on a kernel that forbids user
namespaces, or a pod whose runtime blocks `unshare`), steps 1 and 2 are skipped and the
working directory is the parent's on-disk one. Each step that applied is named in the
returned list, but that list is only a claim: the parent reads the real state from /proc
before the candidate runs, and refuses to go on without the layers it requires.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import stat

from aivc.sandbox import fsview, landlock, namespaces, policy, seccomp
from aivc.sandbox.limits import SandboxLimits
from aivc.sandbox.protocol import SANDBOX_UID

WRITABLE_DEVICES = ("/dev/null",)
PR_SET_PDEATHSIG = 1


def confine(workdir: str, rootfs: str, limits: SandboxLimits, read: tuple[str, ...],
            hidden: tuple[str, ...], files: dict[str, bytes],
            use_namespaces: bool = True) -> list[str]:
    """Namespaces, view, privileges and rlimits; returns the names of the layers applied.
    `read` and `hidden` are `policy.read_roots()` and `policy.hidden_roots()`; `files` go
    into the fresh working directory (the on-disk one already has them)."""
    os.umask(0o022)
    parent = os.getppid()
    as_root = os.geteuid() == 0
    die_with_parent(parent)
    layers: list[str] = []
    if use_namespaces and namespaces.enter():
        namespaces.fork_reaper(parent)
        parent = os.getppid()
        layers.append("namespaces")
        devices = fsview.gpu_devices() if limits.gpu else ()
        fsview.enter(rootfs, workdir, read, hidden, limits.max_written_bytes, files, devices)
        layers.append("view")
        if as_root:
            namespaces.drop_to_sandbox_user()
        else:
            namespaces.drop_capabilities()
        layers.append("uid")
    elif as_root and use_namespaces and all(_world_readable(p) for p in policy.python_roots()):
        namespaces.drop_to_sandbox_user()
        layers.append("uid")
    if die_with_parent(parent):  # after the uid drop: changing credentials clears it
        layers.append("pdeathsig")
    set_rlimits(limits, own_user="uid" in layers and os.getuid() == SANDBOX_UID,
                pid_one=os.getpid() == 1)
    layers.append("rlimits")
    return layers


def die_with_parent(parent: int) -> bool:
    """Ask the kernel to SIGKILL us when our parent dies (even by SIGKILL), so no candidate
    outlives a killed `aivc run`; exit at once if the parent is already gone."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:
        os._exit(1)
    return ok


def set_rlimits(limits: SandboxLimits, own_user: bool, pid_one: bool = False) -> None:
    """As PID 1 of its namespace the process ignores SIGXCPU (the soft limit's signal), so the
    hard CPU limit, a SIGKILL, is set to the same value."""
    cpu = int(limits.cpu_seconds)
    _limit(resource.RLIMIT_CPU, cpu, cpu if pid_one else cpu + 2)
    if not limits.gpu:
        _limit(resource.RLIMIT_AS, limits.address_space_bytes)
    _limit(resource.RLIMIT_FSIZE, limits.max_file_bytes)
    _limit(resource.RLIMIT_NOFILE, limits.max_open_files)
    _limit(resource.RLIMIT_CORE, 0)
    if own_user:
        _limit(resource.RLIMIT_NPROC, limits.max_processes)


def lock(workdir: str, read: tuple[str, ...], hidden: tuple[str, ...],
         limits: SandboxLimits) -> list[str]:
    """Kernel layers that must follow the library imports: seccomp, then Landlock."""
    layers = []
    if seccomp.install():
        layers.append("seccomp")
    roots = policy.carve(read, hidden) + (f"/proc/{os.getpid()}",)
    devices = fsview.gpu_devices() if limits.gpu else ()
    abi = landlock.install(roots, (workdir, *WRITABLE_DEVICES, *devices))
    if abi:
        layers.append("landlock")
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
