"""As root: a private mount and network namespace and a chroot holding only what runs code.

The child starts as root, so it can give itself a world of its own before dropping to the
unprivileged sandbox user: a fresh network namespace (only a loopback that is down), and a
root directory on a small tmpfs into which the library roots are bind-mounted read-only,
the forbidden codecs' packages and the clip sources masked by empty mounts, /proc and a few
device files bound in, and the working directory bound read-write. /tmp, /dev/shm, /root,
/home and the repository are simply not there. Paths keep their names inside, so the
interpreter's own paths stay valid.

This also makes the interpreter readable after the drop when it lives under a directory the
sandbox user may not enter (here, pyenv under /root, mode 0700).
"""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")


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


def unshare_network() -> None:
    """A network namespace of our own: no interfaces but a loopback that is down."""
    _Libc().call("unshare", CLONE_NEWNET)


def enter(rootfs: str, workdir: str, read_roots: tuple[str, ...], hidden: tuple[str, ...]) -> None:
    """Build the view under `rootfs` (an empty directory) and chroot into it."""
    libc = _Libc()
    libc.call("unshare", CLONE_NEWNS)
    libc.mount(None, "/", None, MS_REC | MS_PRIVATE)
    libc.mount("tmpfs", rootfs, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m")
    for src in read_roots:
        if src not in DEVICES:
            _bind(libc, src, rootfs + src, read_only=True)
    for dev in DEVICES:
        if os.path.exists(dev):
            _bind(libc, dev, rootfs + dev, read_only=False, nodev=False)
    for path in hidden:
        if os.path.exists(rootfs + path):
            _mask(libc, rootfs + path)
    _bind(libc, "/proc", rootfs + "/proc", read_only=False)
    _bind(libc, workdir, rootfs + workdir, read_only=False)
    _copy_top_level_links(rootfs)
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
