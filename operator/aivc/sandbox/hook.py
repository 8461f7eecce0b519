"""The CPython audit hook that stops a candidate at the first forbidden operation.

Installed by the child after its own imports and before the candidate's module runs; once
added it cannot be removed from Python. On a violation it writes one `forbidden` line on
the status pipe and ends the process with `EXIT_FORBIDDEN` at once, so a candidate cannot
catch the error and carry on.

The hook must not be steerable by the code it watches. Everything it calls is captured
when it is installed, as closure cells (unreachable without `gc`, which it forbids): C
functions such as `os.readlink` and `os.getcwd`, methods of the immutable `str` type, and
the builtins it needs. It never calls `os.path` (pure Python the candidate could patch), it
resolves paths itself, and it accepts only exact `str`/`bytes`/`int` paths (a `str`
subclass or a path object could answer differently the second time it is asked).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable
from typing import Any

from aivc.sandbox.protocol import EXIT_FORBIDDEN

DENIED_IMPORT_EVENT = "aivc.sandbox.denied_import"

PROCESS_EVENTS = frozenset({"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                            "os.forkpty", "subprocess.Popen", "os.startfile", "pty.spawn"})
DENIED_PREFIXES = ("socket.", "ctypes.", "urllib.", "http.", "ftplib.", "smtplib.", "poplib.",
                   "imaplib.", "nntplib.", "telnetlib.", "webbrowser.", "sqlite3.")
DENIED_EVENTS = {
    "sys.addaudithook": "adding audit hooks", "sys.settrace": "tracing the interpreter",
    "sys.setprofile": "profiling hooks", "gc.get_objects": "walking the heap",
    "gc.get_referrers": "walking the heap", "gc.get_referents": "walking the heap",
    "resource.setrlimit": "changing resource limits", "resource.prlimit": "changing limits",
    "os.kill": "sending signals", "os.killpg": "sending signals",
    "signal.pthread_kill": "sending signals", "os.chdir": "changing directory",
    "os.symlink": "creating links", "os.link": "creating links", "os.chmod": "changing modes",
    "os.chown": "changing owners", "os.chflags": "changing flags", "os.mkfifo": "making FIFOs",
    "os.mknod": "making device nodes", "os.setxattr": "extended attributes",
    "os.removexattr": "extended attributes",
}
WRITE_EVENTS = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
                "os.truncate": (0,), "os.utime": (0,), "shutil.rmtree": (0,)}
READ_EVENTS = {"os.listdir": (0,), "os.scandir": (0,)}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def install(workdir: str, read_roots: tuple[str, ...], hidden: tuple[str, ...],
            status_fd: int, denied_modules: tuple[str, ...],
            writable: tuple[str, ...] = ("/dev/null",)) -> None:
    """Add the hook. `denied_modules` are dotted names never to load (their submodules too)."""
    stop = _make_stop(status_fd)
    resolve = _make_resolver()
    path_ok = _make_path_policy(resolve, (workdir, *writable), read_roots, hidden,
                                f"/proc/{os.getpid()}")
    hook = _make_hook(stop, path_ok, tuple(denied_modules))
    sys.addaudithook(hook)
    sys.meta_path.insert(0, _DeniedFinder(frozenset(denied_modules)))


class _DeniedFinder:
    """Reports imports that bypass the audited C import path (`importlib.import_module`
    runs the pure-Python machinery, which raises no `import` event) as `DENIED_IMPORT_EVENT`
    for the hook to judge. A candidate can remove it; the files of denied modules are then
    still unreadable (the hook's hidden paths, Landlock, the chroot), so it gains nothing."""

    def __init__(self, denied: frozenset[str]) -> None:
        self.denied = denied

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        top = name.partition(".")[0]
        if name in self.denied or top in self.denied:
            sys.audit(DENIED_IMPORT_EVENT, name)


def _make_stop(status_fd: int) -> Callable[[str], None]:
    write, exit_, dumps, encode = os.write, os._exit, json.dumps, str.encode

    def stop(message: str) -> None:
        try:
            line = dumps({"event": "error", "category": "forbidden", "stage": "",
                          "message": message})
            write(status_fd, encode(line + "\n"))
        finally:
            exit_(EXIT_FORBIDDEN)

    return stop


def _make_resolver() -> Callable[[str], str]:
    """realpath() from C primitives only (see the module docstring)."""
    getcwd, readlink, os_error = os.getcwd, os.readlink, OSError
    split, join, startswith = str.split, str.join, str.startswith

    def resolve(path: str) -> str:
        if not startswith(path, "/"):
            path = getcwd() + "/" + path
        pending = split(path, "/")
        pending.reverse()
        out: list[str] = []
        hops = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if out:
                    out.pop()
                continue
            here = "/" + join("/", out + [part])
            try:
                target = readlink(here)
            except os_error:
                out.append(part)
                continue
            hops += 1
            if hops > 40:
                return "/\0too-many-links"
            if startswith(target, "/"):
                out = []
            more = split(target, "/")
            more.reverse()
            pending.extend(more)
        return "/" + join("/", out)

    return resolve


def _make_path_policy(resolve: Callable[[str], str], writable: tuple[str, ...],
                      read_roots: tuple[str, ...], hidden: tuple[str, ...],
                      own_proc: str) -> Callable[..., str | None]:
    """`path_ok(path, write, opening=False)` returns None when allowed, else the reason to
    stop. Opening a directory outside the working directory is refused: its descriptor could
    serve as `dir_fd` for relative paths this hook would resolve against the wrong base."""
    str_t, bytes_t, int_t, bool_t, type_, any_ = str, bytes, int, bool, type, any
    startswith, decode, item = str.startswith, bytes.decode, tuple.__getitem__
    stat_, is_dir, os_error = os.stat, stat.S_ISDIR, OSError
    readable = (*writable, own_proc, *read_roots)

    def below(path: str, roots: tuple[str, ...]) -> bool:
        return any_(path == root or startswith(path, root + "/") for root in roots)

    def directory(path: str) -> bool:
        try:
            return is_dir(int_t(item(stat_(path), 0)))
        except os_error:
            return False

    def path_ok(path: Any, write: bool, opening: bool = False) -> str | None:
        kind = type_(path)
        if kind is int_t or kind is bool_t or path is None:
            return None  # an already-open descriptor or the working directory
        if kind is bytes_t:
            path = decode(path, "utf-8", "surrogateescape")
        elif kind is not str_t:
            return "a path that is not a plain str or bytes (pass str paths)"
        real = resolve(path)
        if write:
            return None if below(real, writable) else f"writing {real}: outside the working directory"
        if below(real, hidden) or not below(real, readable):
            return f"reading {real}: outside the working directory and the library paths"
        if opening and not below(real, writable) and directory(real):
            return f"opening the directory {real}: outside the working directory"
        return None

    return path_ok


def _make_hook(stop: Callable[[str], None], path_ok: Callable[..., str | None],
               denied_modules: tuple[str, ...]) -> Callable[[str, tuple[Any, ...]], None]:
    check_import = _make_import_check(stop, denied_modules)
    check_other = _make_event_check(stop)
    writes, reads, write_flags = dict(WRITE_EVENTS), dict(READ_EVENTS), _WRITE_FLAGS
    type_, str_t, int_t, bool_ = type, str, int, bool

    def open_is_write(mode: Any, flags: Any) -> bool:
        if type_(mode) is str_t:
            return "w" in mode or "a" in mode or "x" in mode or "+" in mode
        return type_(flags) is int_t and bool_(flags & write_flags)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            why = path_ok(args[0], open_is_write(args[1], args[2]), True)
            if why is not None:
                stop(f"open(): {why}")
        elif event in writes or event in reads:
            is_write = event in writes
            for i in (writes if is_write else reads)[event]:
                why = path_ok(args[i], is_write)
                if why is not None:
                    stop(f"{event}: {why}")
        elif not check_import(event, args):
            check_other(event)

    return hook


def _make_import_check(stop: Callable[[str], None],
                       denied_modules: tuple[str, ...]) -> Callable[[str, tuple[Any, ...]], bool]:
    """Returns whether `event` was an import (and stops denied ones)."""
    dotted = tuple(name + "." for name in denied_modules)
    names, denied_event = frozenset(denied_modules), DENIED_IMPORT_EVENT
    startswith, type_, str_t = str.startswith, type, str

    def check_import(event: str, args: tuple[Any, ...]) -> bool:
        if event != "import" and event != denied_event:
            return False
        module = args[0]
        if type_(module) is not str_t or module in names or startswith(module, dotted):
            stop(f"import {module}: this module is not allowed in a codec")
        return True

    return check_import


def _make_event_check(stop: Callable[[str], None]) -> Callable[[str], None]:
    process, prefixes, denied = PROCESS_EVENTS, DENIED_PREFIXES, dict(DENIED_EVENTS)
    startswith = str.startswith

    def check_other(event: str) -> None:
        if event in process:
            stop(f"{event}: starting processes is not allowed")
        elif event in denied:
            stop(f"{event}: {denied[event]} is not allowed")
        elif startswith(event, prefixes):
            stop(f"{event}: network and native-code access are not allowed")

    return check_other
