"""A seccomp filter: the kernel kills the process on syscalls no codec needs.

The audit hook sees what goes through Python's audited functions, but allowed libraries
bring modules such as `_posixsubprocess` (torch imports `subprocess`), whose `fork_exec` is
not audited. This filter closes that at the kernel: creating processes (fork, vfork, clone
without CLONE_THREAD), exec, sockets, namespaces, mounts, ptrace and a few other escape
hatches end the process with SIGSYS, which the parent reports as `forbidden`. Threads stay
allowed (clone with CLONE_THREAD; clone3 answers ENOSYS so the C library falls back to
clone). Applied to every thread (TSYNC) and inherited by any the candidate starts.

x86-64 only (syscall numbers are per architecture); elsewhere `install` returns False and
the other layers remain.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
CLONE_THREAD = 0x00010000
CLONE = 56
CLONE3 = 435

KILLED_SYSCALLS = {
    "socket": 41, "socketpair": 53, "fork": 57, "vfork": 58, "execve": 59, "ptrace": 101,
    "personality": 135, "mknod": 133, "pivot_root": 155, "chroot": 161, "acct": 163,
    "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169,
    "init_module": 175, "delete_module": 176, "kexec_load": 246, "add_key": 248,
    "request_key": 249, "keyctl": 250, "mknodat": 259, "unshare": 272, "perf_event_open": 298,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313, "bpf": 321,
    "execveat": 322, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "pidfd_getfd": 438,
}

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16

PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SYS_SECCOMP = 317


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def build_filter() -> bytes:
    """The BPF program, as the kernel's array of `struct sock_filter`."""
    prog = [
        _insn(_LD_W_ABS, _OFF_ARCH),
        _insn(_JEQ_K, AUDIT_ARCH_X86_64, jt=1),
        _insn(_RET_K, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, _OFF_NR),
        _insn(_JGE_K, X32_SYSCALL_BIT, jf=1),
        _insn(_RET_K, _RET_KILL_PROCESS),
        _insn(_JEQ_K, CLONE3, jf=1),
        _insn(_RET_K, _RET_ERRNO | errno.ENOSYS),
    ]
    for nr in sorted(KILLED_SYSCALLS.values()):
        prog += [_insn(_JEQ_K, nr, jf=1), _insn(_RET_K, _RET_KILL_PROCESS)]
    prog += [
        _insn(_JEQ_K, CLONE, jf=4),
        _insn(_LD_W_ABS, _OFF_ARG0),
        _insn(_JSET_K, CLONE_THREAD, jf=1),
        _insn(_RET_K, _RET_ALLOW),
        _insn(_RET_K, _RET_KILL_PROCESS),
        _insn(_RET_K, _RET_ALLOW),
    ]
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def supported() -> bool:
    return platform.system() == "Linux" and platform.machine() == "x86_64"


def install() -> bool:
    """Load the filter for every thread of this process; False where unsupported."""
    if not supported():
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    code = build_filter()
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p).value)
    libc.syscall.restype = ctypes.c_long
    rc = libc.syscall(ctypes.c_long(SYS_SECCOMP), ctypes.c_ulong(SECCOMP_SET_MODE_FILTER),
                      ctypes.c_ulong(SECCOMP_FILTER_FLAG_TSYNC), ctypes.byref(prog))
    if rc != 0:
        raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER) failed")
    return True
