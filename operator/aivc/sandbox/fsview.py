"""The child's view of the file system, built in its own mount namespace, then chrooted into.

The root is a small tmpfs holding mount points only: the library roots bind-mounted
read-only, the forbidden codecs' packages and the clip sources masked by empty mounts, a
few device files (read-only mounts: writing to /dev/null works, changing its timestamps
does not), a fresh /proc of the child's own PID namespace, and the working directory. Once
built, that root is remounted read-only. /tmp, /dev/shm, /root, /home, the repository and
the parent's scratch directories are simply not there. Paths keep their names inside, so
the interpreter's own paths stay valid.

The working directory is a tmpfs of its own, `SandboxLimits.max_written_bytes` in size:
the kernel caps every byte the process writes, all files together (ENOSPC beyond). It holds
the codec source and, for a decoder, the bitstream: the source frames or the bitstream
were read into memory before, and the parent's input directory is not in the view. The
parent reaches it through a descriptor the child hands over (`aivc.sandbox.child`), since
the mount lives only in the child's namespace and goes away with it.

Works the same as root and in an unprivileged user namespace; it also makes an interpreter
under a directory the sandbox user may not enter (pyenv under /root, mode 0700) readable.
"""

from __future__ import annotations

import ctypes
import glob
import os

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
GPU_DEVICE_GLOBS = ("/dev/nvidia*", "/dev/nvidia-caps/*")
VIEW_BYTES = 16 << 20


class _Libc:
    def __init__(self) -> None:
        self.lib = ctypes.CDLL(None, use_errno=True)

    def call(self, name: str, *args: object) -> None:
        if getattr(self.lib, name)(*args) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{name}{args!r}: {os.strerror(err)}")

    def mount(self, src: str | None, dst: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
        enc = [None if x is None else x.encode() for x in (src, dst, fstype, data)]
        self.call("mount", enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3])


def gpu_devices() -> tuple[str, ...]:
    """The NVIDIA device nodes present here (the GPU profile reaches these)."""
    return tuple(sorted(p for g in GPU_DEVICE_GLOBS for p in glob.glob(g)
                        if not os.path.isdir(p)))


def enter(rootfs: str, workdir: str, read_roots: tuple[str, ...], hidden: tuple[str, ...],
          work_bytes: int, files: dict[str, bytes], devices: tuple[str, ...] = (),
          owner: int = 65534) -> None:
    """Build the view under `rootfs` (an empty directory), put `files` in a fresh capped
    working directory at `workdir`, and chroot into it. Must run in a new mount namespace
    (and a new PID namespace, for the /proc it mounts)."""
    libc = _Libc()
    libc.mount(None, "/", None, MS_REC | MS_PRIVATE)
    libc.mount("tmpfs", rootfs, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0755,size={VIEW_BYTES}")
    for src in read_roots:
        if src not in DEVICES and not src.startswith("/proc/"):
            _bind(libc, src, rootfs + src, read_only=True)
    for dev in (*DEVICES, *devices):
        if os.path.exists(dev):
            _bind(libc, dev, rootfs + dev, read_only=True, nodev=False)
    for path in hidden:
        if os.path.exists(rootfs + path):
            _mask(libc, rootfs + path)
    os.makedirs(rootfs + "/proc", mode=0o555)
    libc.mount("proc", rootfs + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(rootfs + workdir, mode=0o755)
    libc.mount("tmpfs", rootfs + workdir, "tmpfs", MS_NOSUID | MS_NODEV,
               f"mode=0700,size={work_bytes},nr_inodes=4096,uid={owner},gid={owner}")
    for name, data in files.items():
        with open(os.path.join(rootfs + workdir, name), "wb") as f:
            f.write(data)
    _copy_top_level_links(rootfs)
    libc.mount(None, rootfs, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
               f"mode=0755,size={VIEW_BYTES}")
    os.chdir(rootfs)
    libc.call("chroot", b".")
    os.chdir(workdir)


def _bind(libc: _Libc, src: str, dst: str, read_only: bool, nodev: bool = True) -> None:
    if not os.path.exists(src):
        return
    _make_mount_point(dst, os.path.isdir(src))
    libc.mount(src, dst, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (MS_NODEV if nodev else 0)
    libc.mount(None, dst, None, flags | (MS_RDONLY if read_only else 0))


def _mask(libc: _Libc, dst: str) -> None:
    if os.path.isdir(dst):
        libc.mount("tmpfs", dst, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   "mode=0555,size=4k")
    else:
        libc.mount("/dev/null", dst, None, MS_BIND)


def _make_mount_point(path: str, is_dir: bool) -> None:
    parent = path if is_dir else os.path.dirname(path)
    os.makedirs(parent, mode=0o755, exist_ok=True)
    if not is_dir and not os.path.exists(path):
        with open(path, "wb"):
            pass


def _copy_top_level_links(rootfs: str) -> None:
    """/lib -> usr/lib and friends, so library paths written either way resolve."""
    for name in os.listdir("/"):
        src = "/" + name
        dst = rootfs + src
        if os.path.islink(src) and not os.path.lexists(dst):
            os.symlink(os.readlink(src), dst)
