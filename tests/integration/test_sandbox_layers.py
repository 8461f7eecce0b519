"""The kernel layers on their own, each in a throwaway interpreter: they hold even for code
that never passes through Python's audit hook (native libraries)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aivc.sandbox import landlock, seccomp


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, check=False)


needs_seccomp = pytest.mark.skipif(not seccomp.supported(), reason="NOT RUN: seccomp filter "
                                   "is x86-64 Linux only")
needs_landlock = pytest.mark.skipif(landlock.abi_version() < 1,
                                    reason="NOT RUN: this kernel has no Landlock")


@needs_seccomp
@pytest.mark.parametrize("action", ["os.fork()", "socket.socket()",
                                    "os.posix_spawn('/bin/true', ['true'], {})"])
def test_seccomp_kills_process_creation_and_sockets(action: str) -> None:
    out = run_python(f"""
        import os, socket
        from aivc.sandbox import seccomp
        assert seccomp.install()
        {action}
        print("survived")
    """)
    assert out.returncode == -signal.SIGSYS, (out.returncode, out.stdout, out.stderr)
    assert "survived" not in out.stdout


@needs_seccomp
@pytest.mark.parametrize("action", [
    "libc.shmget(0x1234, 4096, 0o1666)", "libc.msgget(0x1234, 0o1666)",
    "libc.semget(0x1234, 1, 0o1666)", "libc.mq_open(b'/aivc', 0o100, 0o600, None)",
    "libc.mincore(None, 4096, None)", "os.posix_fadvise(0, 0, 0, os.POSIX_FADV_DONTNEED)",
    "os.chmod('/dev/null', 0o666)", "os.utime('/dev/null')", "os.memfd_create('x')",
    "libc.syscall(451, 0, 0, 0, 0)",  # cachestat
])
def test_seccomp_kills_ipc_cache_probes_metadata_changes_and_memfd(action: str) -> None:
    out = run_python(f"""
        import ctypes, os
        from aivc.sandbox import seccomp
        libc = ctypes.CDLL(None, use_errno=True)
        assert seccomp.install()
        {action}
        print("survived")
    """)
    assert out.returncode == -signal.SIGSYS, (out.returncode, out.stdout, out.stderr)


@needs_seccomp
def test_seccomp_refuses_page_cache_steering_advice_but_not_the_allocators() -> None:
    out = run_python("""
        import mmap
        from aivc.sandbox import seccomp
        assert seccomp.install()
        m = mmap.mmap(-1, 1 << 20)
        m.madvise(mmap.MADV_DONTNEED)
        for advice in (mmap.MADV_WILLNEED, 21, 20):  # WILLNEED, PAGEOUT, COLD
            try:
                m.madvise(advice)
                print("allowed")
            except PermissionError:
                print("refused")
    """)
    assert out.returncode == 0 and out.stdout.split() == ["refused"] * 3, out.stderr


@needs_seccomp
def test_seccomp_still_lets_threads_run() -> None:
    out = run_python("""
        import threading
        from aivc.sandbox import seccomp
        assert seccomp.install()
        box = []
        t = threading.Thread(target=box.append, args=(42,))
        t.start(); t.join()
        print(box)
    """)
    assert out.returncode == 0 and out.stdout.strip() == "[42]", out.stderr


@needs_landlock
def test_landlock_confines_even_native_file_access(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("source frames")
    work = tmp_path / "work"
    work.mkdir()
    out = run_python(f"""
        import numpy as np
        from aivc.sandbox import landlock, policy
        assert landlock.install(policy.read_roots(), ({str(work)!r},))
        np.save({str(work / "ok.npy")!r}, np.zeros(3))  # the working directory is writable
        import json                                     # libraries stay readable
        for attempt in ({str(secret)!r}, "/etc/passwd"):
            try:
                np.fromfile(attempt, dtype=np.uint8)
                print("read", attempt)
            except PermissionError:
                print("denied")
        try:
            open({str(tmp_path / "out.txt")!r}, "w")
            print("wrote outside")
        except PermissionError:
            print("denied")
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["denied", "denied", "denied"]
    assert (work / "ok.npy").exists()
