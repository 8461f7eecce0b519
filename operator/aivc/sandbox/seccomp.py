"""A seccomp filter: the kernel kills the process on syscalls no codec needs.

The audit hook sees what goes through Python's audited functions, and a candidate can take
it out of the interpreter (raw memory access through numpy needs no ctypes); this filter is
what stays. It ends the process with SIGSYS, which the parent reports as `forbidden`, on:

- new processes (fork, vfork, clone without CLONE_THREAD), exec, ptrace and reading or
  writing other processes' memory;
- sockets, namespaces, mounts, keyrings, BPF, io_uring, module loading and other escape
  hatches;
- System V and POSIX message-queue IPC (shared memory, semaphores, message queues): objects
  that outlive the process and could carry the source from an encoder to a decoder;
- calls that reveal or steer caches shared with other processes: `mincore` and `cachestat`
  (which pages of a file are cached), `readahead`, `fadvise64`, `kcmp`, inotify;
- metadata changes (chmod, chown, utime, extended attributes) anywhere: nothing a codec
  does needs them, and Landlock has no right that covers them;
- `memfd_create` and `memfd_secret`: memory files that escape the address-space limit.

`madvise` with advice that steers the page cache (WILLNEED, COLD, PAGEOUT, POPULATE_READ)
fails with EPERM instead: allocators may use such hints, and refusing one is harmless.
Threads stay allowed (clone with CLONE_THREAD; clone3 answers ENOSYS so the C library falls
back to clone). Applied to every thread (TSYNC) and inherited by any the candidate starts.

x86-64 only (syscall numbers are per architecture); elsewhere `install` returns False and
the parent, which reads the child's seccomp state from /proc, refuses to run.
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
MADVISE = 28

KILLED_SYSCALLS = {
    # processes, tracing, other processes' memory
    "fork": 57, "vfork": 58, "execve": 59, "ptrace": 101, "execveat": 322,
    "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438,
    "process_madvise": 440, "pidfd_open": 434, "pidfd_send_signal": 424,
    "move_pages": 279, "migrate_pages": 256,
    # sockets, namespaces, mounts and other escape hatches
    "socket": 41, "socketpair": 53, "personality": 135, "mknod": 133, "pivot_root": 155,
    "chroot": 161, "acct": 163, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168,
    "reboot": 169, "iopl": 172, "ioperm": 173, "init_module": 175, "delete_module": 176,
    "syslog": 103, "uselib": 134, "kexec_load": 246, "add_key": 248, "request_key": 249,
    "keyctl": 250, "mknodat": 259, "unshare": 272, "perf_event_open": 298,
    "fanotify_init": 300, "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
    "finit_module": 313, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    # System V and POSIX message-queue IPC
    "shmget": 29, "shmat": 30, "shmctl": 31, "semget": 64, "semop": 65, "semctl": 66,
    "shmdt": 67, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "semtimedop": 220,
    "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243,
    "mq_notify": 244, "mq_getsetattr": 245,
    # shared caches and kernel objects: reveal or steer
    "mincore": 27, "readahead": 187, "fadvise64": 221, "cachestat": 451, "kcmp": 312,
    "inotify_init": 253, "inotify_init1": 294,
    # metadata changes
    "chmod": 90, "fchmod": 91, "chown": 92, "fchown": 93, "lchown": 94, "utime": 132,
    "utimes": 235, "fchownat": 260, "futimesat": 261, "fchmodat": 268, "utimensat": 280,
    "fchmodat2": 452, "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190,
    "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199, "setxattrat": 463,
    "removexattrat": 466,
    # memory outside the address-space limit
    "memfd_create": 319, "memfd_secret": 447,
}
REFUSED_MADVICE = {"MADV_WILLNEED": 3, "MADV_COLD": 20, "MADV_PAGEOUT": 21,
                   "MADV_POPULATE_READ": 22}

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_OFF_NR, _OFF_ARCH, _OFF_ARG0, _OFF_ARG2 = 0, 4, 16, 32

PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SYS_SECCOMP = 317


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _madvise_check() -> list[bytes]:
    """madvise with a refused advice answers EPERM; any other advice is allowed."""
    refused = sorted(REFUSED_MADVICE.values())
    prog = [_insn(_JEQ_K, MADVISE, jf=len(refused) + 3), _insn(_LD_W_ABS, _OFF_ARG2)]
    for i, advice in enumerate(refused):
        prog.append(_insn(_JEQ_K, advice, jt=len(refused) - i))
    prog += [_insn(_RET_K, _RET_ALLOW), _insn(_RET_K, _RET_ERRNO | errno.EPERM)]
    return prog


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
    for nr in sorted(set(KILLED_SYSCALLS.values())):
        prog += [_insn(_JEQ_K, nr, jf=1), _insn(_RET_K, _RET_KILL_PROCESS)]
    prog += _madvise_check()
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
