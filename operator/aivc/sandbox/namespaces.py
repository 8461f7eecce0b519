"""The child's namespaces: a world of its own, as root and as a normal user alike.

One `unshare` gives the child fresh mount, network, IPC, UTS and PID namespaces; without
root it first gets a user namespace of its own, in which the caller's uid appears as the
sandbox user (65534) and nothing else is mapped, so a normal user gets the same isolation
as root where the kernel allows unprivileged user namespaces. After `unshare` the process
forks: the new process is PID 1 of the new PID namespace and goes on to run the candidate;
this one stays outside as its reaper and exits the way it did (same exit code or signal),
so the parent sees one process whose end means the candidate's end. Capabilities the user
namespace granted are dropped before the candidate runs (`drop_capabilities`).

Nothing here decides whether the isolation is enough: the parent reads the child's
namespaces from /proc and refuses to go on without the required ones (`aivc.sandbox.layers`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import struct

from aivc.sandbox.protocol import SANDBOX_GID, SANDBOX_UID

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
SYS_CAPSET = 126
_CAP_VERSION_3 = 0x20080522


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def enter() -> bool:
    """Unshare every namespace the sandbox uses; False (and unchanged) where not allowed."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID
    uid, gid = os.getuid(), os.getgid()
    as_user = os.geteuid() != 0
    if as_user:
        flags |= CLONE_NEWUSER
    if _libc().unshare(flags) != 0:
        return False
    if as_user:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{SANDBOX_UID} {uid} 1")
        _write("/proc/self/gid_map", f"{SANDBOX_GID} {gid} 1")
    return True


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def fork_reaper(parent: int) -> None:
    """Fork once and return in the child (PID 1 of the new PID namespace). This process
    keeps no descriptor but stdout and stderr, dies with `parent`, waits for the child and
    ends exactly as it ended."""
    pid = os.fork()
    if pid == 0:
        return
    os.closerange(3, 1 << 16)
    _libc().prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
    try:
        _, status = os.waitpid(pid, 0)
        _end_like(status)
    finally:
        os._exit(1)


def _end_like(status: int) -> None:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        _libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no core file from the copy of the signal
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def drop_to_sandbox_user() -> None:
    """As root: become the sandbox user for good (groups, then gid, then uid)."""
    _drop_bounding_set()
    os.setgroups([])
    os.setgid(SANDBOX_GID)
    os.setuid(SANDBOX_UID)
    if os.getuid() != SANDBOX_UID or os.geteuid() != SANDBOX_UID:
        raise OSError("could not drop to the sandbox user")


def drop_capabilities() -> None:
    """In a user namespace: give up every capability it granted, bounding set included."""
    _drop_bounding_set()
    header = struct.pack("=Ii", _CAP_VERSION_3, 0)
    data = bytes(24)  # two struct __user_cap_data_struct, all zero
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    if libc.syscall(ctypes.c_long(SYS_CAPSET), ctypes.c_char_p(header), ctypes.c_char_p(data)) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _drop_bounding_set() -> None:
    libc = _libc()
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:
            break  # EINVAL: past the last capability this kernel knows
