"""Run a command as an unprivileged user that can still reach this checkout and its Python.

CI runs as root, from a fresh clone at any path; the adversarial suite must also run as a
normal user (the sandbox then uses unprivileged user namespaces). A directory on the way
to the checkout or the interpreter may be closed to other users (/root is mode 0700, and
pyenv lives there), so, as root, this tool gives the command a private mount namespace in
which each such directory is covered by an empty, world-searchable tmpfs holding bind
mounts of only the paths asked for (same names, same contents; nothing else of /root is
there). Then the command runs as the given uid/gid (no groups, for good) with a fresh HOME, which
this tool removes afterwards. Nothing changes outside that namespace, nothing is copied.

Usage (as root): unprivileged.py [--uid N] [--expose PATH ...] -- COMMAND ...
Run as a normal user it just runs COMMAND.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import stat
import sys
import tempfile

CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE, MNT_DETACH = 4096, 16384, 1 << 18, 2
_libc = ctypes.CDLL(None, use_errno=True)


def _call(name: str, *args: object) -> None:
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}{args!r}: {os.strerror(err)}")


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if x is None else x.encode() for x in (src, dst, fstype, data)]
    _call("mount", enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3])


def _closed(path: str) -> bool:
    mode = os.stat(path).st_mode
    return stat.S_ISDIR(mode) and not mode & stat.S_IXOTH


def expose(paths: list[str], stash: str) -> None:
    """Make every directory above each of `paths` searchable by others (see the docstring)."""
    covered: dict[str, str] = {}  # closed directory -> where its original is bound
    for path in sorted({os.path.realpath(p) for p in paths}):
        parts = path.strip("/").split("/")
        for i in range(len(parts) - 1):
            here = "/" + "/".join(parts[: i + 1])
            child = parts[i + 1]
            if here not in covered and _closed(here):
                original = os.path.join(stash, str(len(covered)))
                os.mkdir(original, 0o700)
                _mount(here, original, None, MS_BIND | MS_REC)
                _mount("tmpfs", here, "tmpfs", 0, "mode=0755,size=64k")
                covered[here] = original
            if here in covered and not os.path.lexists(os.path.join(here, child)):
                src = os.path.join(covered[here], child)
                dst = os.path.join(here, child)
                if os.path.isdir(src):
                    os.mkdir(dst, 0o755)
                else:
                    open(dst, "wb").close()
                _mount(src, dst, None, MS_BIND | MS_REC)
    for original in covered.values():
        _call("umount2", original.encode(), MNT_DETACH)
        os.rmdir(original)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uid", type=int, default=64000, help="user (and group) id to run as")
    parser.add_argument("--expose", action="append", default=[], help="a path the user needs")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    if os.geteuid() != 0:
        os.execvp(command[0], command)
    _call("unshare", CLONE_NEWNS)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    stash = tempfile.mkdtemp(prefix="aivc-unprivileged-")
    expose([*args.expose, os.getcwd()], stash)
    os.rmdir(stash)
    home = tempfile.mkdtemp(prefix="aivc-unprivileged-home-")
    os.chown(home, args.uid, args.uid)
    pid = os.fork()
    if pid == 0:
        os.setgroups([])
        os.setgid(args.uid)
        os.setuid(args.uid)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "AIVC_E2E"))}
        env.update(HOME=home, TMPDIR=home, XDG_CACHE_HOME=os.path.join(home, ".cache"),
                   PYTHONDONTWRITEBYTECODE="1")
        os.execvpe(command[0], command, env)
    _, status = os.waitpid(pid, 0)
    shutil.rmtree(home, ignore_errors=True)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
