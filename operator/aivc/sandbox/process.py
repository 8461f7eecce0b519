"""The parent's side of one child process: start it bare, watch it, end it, say what happened.

The child is spawned with `posix_spawn` in a new session (so its process group can be
killed whole), an environment holding only what Python and the thread pools need, stdin
from /dev/null, stdout and stderr on one pipe (the tail is kept for error excerpts) and
the status pipe on fd 3. The parent waits on the process's pidfd, the two pipes and its
own deadline; whatever happens it kills the process group and reaps the child, so nothing
outlives a run and the caller never hangs.

Timing is the parent's own clock: from the child's first ``start`` line (sent just before
encode/decode is called; the candidate cannot make it arrive later) to the process's exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aivc.errors import AivcError
from aivc.evaluate.results import ERROR_CATEGORIES
from aivc.sandbox.limits import SandboxLimits
from aivc.sandbox.protocol import EXIT_FORBIDDEN, EXIT_REPORTED, STATUS_FD

OUTPUT_TAIL_BYTES = 16 * 1024
STATUS_CAP_BYTES = 256 * 1024
CHILD_MODULE = "aivc.sandbox.child"


class HarnessError(AivcError):
    """The sandbox itself failed (not the candidate): reported as a nonzero exit."""


@dataclass
class ChildRun:
    """How one child process ended; `category` is None when it finished its job."""

    mode: str
    category: str | None = None
    stage: str = ""
    message: str = ""
    seconds: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.category is None


def child_env(workdir: Path, threads: int) -> dict[str, str]:
    """Everything the child's environment holds: no keys, no tokens, nothing inherited."""
    n = str(max(1, threads))
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(workdir),
            "TMPDIR": str(workdir), "OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
            "MKL_NUM_THREADS": n}


def run_child(request: dict[str, Any], workdir: Path, limits: SandboxLimits,
              threads: int = 1) -> ChildRun:
    """Run ``python -m aivc.sandbox.child`` on `request` and classify how it ended."""
    request = {**request, "status_fd": STATUS_FD, "workdir": str(workdir),
               "limits": limits.to_dict()}
    argv = [sys.executable, "-I", "-B", "-m", CHILD_MODULE, json.dumps(request)]
    out_r, out_w = os.pipe()
    st_r, st_w = os.pipe()
    try:
        pid = _spawn(argv, child_env(workdir, threads), out_w, st_w)
    finally:
        os.close(out_w)
        os.close(st_w)
    watch = _Watch(pid, out_r, st_r, time.monotonic() + limits.wall_seconds)
    try:
        watch.run()
    finally:
        _kill_group(pid)
        watch.drain()
        _, wait_status, usage = os.wait4(pid, 0)
        watch.close()
    cpu = usage.ru_utime + usage.ru_stime
    return classify(request["mode"], watch, wait_status, cpu, limits)


def _spawn(argv: list[str], env: dict[str, str], out_w: int, status_w: int) -> int:
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
                   (os.POSIX_SPAWN_DUP2, out_w, 2), (os.POSIX_SPAWN_DUP2, status_w, STATUS_FD)]
        return os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)
    finally:
        os.close(devnull)


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


class _Watch:
    """Reads both pipes until the child exits or the deadline passes."""

    def __init__(self, pid: int, out_fd: int, status_fd: int, deadline: float) -> None:
        self.pid, self.out_fd, self.status_fd, self.deadline = pid, out_fd, status_fd, deadline
        self.spawned_at = time.monotonic()
        self.exited_at: float | None = None
        self.started_at: float | None = None
        self.timed_out = False
        self.output = bytearray()
        self.status = bytearray()
        self.events: list[dict[str, Any]] = []
        self.pidfd = os.pidfd_open(pid)
        self.sel = selectors.DefaultSelector()
        for fd in (out_fd, status_fd):
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ)
        self.sel.register(self.pidfd, selectors.EVENT_READ)

    def run(self) -> None:
        while self.exited_at is None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.timed_out = True
                return
            ready = [key.fd for key, _ in self.sel.select(left)]
            for fd in ready:
                if fd != self.pidfd:
                    self._read(fd)
            if self.pidfd in ready:
                self.exited_at = time.monotonic()

    def drain(self) -> None:
        """After the kill: whatever is still buffered in the pipes (writers are gone)."""
        for fd in (self.out_fd, self.status_fd):
            for _ in range(64):
                if not self._read(fd):
                    break

    def close(self) -> None:
        self.sel.close()
        for fd in (self.out_fd, self.status_fd, self.pidfd):
            os.close(fd)

    def _read(self, fd: int) -> bool:
        try:
            data = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            return False
        if not data:
            if fd in self.sel.get_map():
                self.sel.unregister(fd)
            return False
        if fd == self.out_fd:
            self.output += data
            del self.output[:-OUTPUT_TAIL_BYTES]
        elif len(self.status) < STATUS_CAP_BYTES:
            self.status += data
            self._parse_lines()
        return True

    def _parse_lines(self) -> None:
        while b"\n" in self.status:
            line, _, rest = bytes(self.status).partition(b"\n")
            self.status = bytearray(rest)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            self.events.append(event)
            if event.get("event") == "start" and self.started_at is None:
                self.started_at = time.monotonic()

    def seconds(self) -> float:
        end = self.exited_at if self.exited_at is not None else time.monotonic()
        start = self.started_at if self.started_at is not None else self.spawned_at
        return max(0.0, end - start)


def classify(mode: str, watch: _Watch, wait_status: int, cpu: float,
             limits: SandboxLimits) -> ChildRun:
    """Turn the exit, the signal and the status lines into a `ChildRun` (DESIGN.md §4)."""
    ready = _ready_index(watch.events)
    after = watch.events[ready + 1:] if ready is not None else []
    run = ChildRun(mode, seconds=watch.seconds(),
                   output=watch.output.decode("utf-8", "replace"),
                   layers=list(watch.events[ready].get("layers", [])) if ready is not None else [])
    stage = mode if watch.started_at is not None else ("import" if ready is not None else mode)
    run.stage = stage
    if watch.timed_out:
        return _fail(run, "timeout", f"{mode} ran past the wall-clock limit of "
                                     f"{limits.wall_seconds:g} s and was killed")
    if os.WIFSIGNALED(wait_status):
        return _signalled(run, os.WTERMSIG(wait_status), cpu, limits)
    code = os.WEXITSTATUS(wait_status)
    error = _last(after if ready is not None else watch.events, "error")
    if code == EXIT_FORBIDDEN:
        return _fail(run, "forbidden", str((error or {}).get("message", "forbidden operation")))
    if code == EXIT_REPORTED and error is not None:
        category = error.get("category")
        run.stage = str(error.get("stage") or stage)
        return _fail(run, category if category in ERROR_CATEGORIES else "crash",
                     str(error.get("message", "")))
    if ready is None and code != 0:
        harness = _last(watch.events, "harness")
        raise HarnessError(f"the sandbox child failed before loading the codec (exit {code}): "
                           f"{(harness or {}).get('message') or run.output[-2000:]}")
    done = _last(after, "done")
    if code == 0 and done is not None:
        run.report = done
        return run
    why = "exited before finishing its job" if code == 0 else f"exited with status {code}"
    return _fail(run, "crash", f"the {mode} process {why}\n{run.output[-800:]}")


def _signalled(run: ChildRun, sig: int, cpu: float, limits: SandboxLimits) -> ChildRun:
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_seconds):
        return _fail(run, "timeout", f"{run.mode} used more than {limits.cpu_seconds} s of CPU")
    if sig == signal.SIGSYS:
        return _fail(run, "forbidden", f"{run.mode} made a forbidden system call (processes, "
                                       "exec, sockets, namespaces or tracing) and was killed")
    if sig == signal.SIGXFSZ:
        return _fail(run, "size", f"{run.mode} wrote a file past the limit of "
                                  f"{limits.max_file_bytes} bytes")
    return _fail(run, "crash", f"the {run.mode} process was killed by {name}\n{run.output[-800:]}")


def _fail(run: ChildRun, category: str, message: str) -> ChildRun:
    run.category, run.message = category, message
    return run


def _ready_index(events: list[dict[str, Any]]) -> int | None:
    for i, e in enumerate(events):
        if e.get("event") == "ready":
            return i
    return None


def _last(events: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    found = [e for e in events if e.get("event") == kind]
    return found[-1] if found else None
