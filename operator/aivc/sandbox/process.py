"""The parent's side of one child process: start it bare, check it, watch it, end it.

The child is spawned with `posix_spawn` in a new session (so its process group can be
killed whole), an environment holding only what Python and the thread pools need, stdin
from /dev/null, stdout and stderr on one pipe (the tail is kept for error excerpts), the
status pipe on fd 3 and the control socket on fd 4. When the child says ``ready`` it is
stopped, waiting: the parent reads its real layers from /proc (`aivc.sandbox.layers`) and
either answers ``go`` or, when a required layer is missing and the caller did not accept a
weaker sandbox, kills it and raises `SandboxUnavailable`. Whatever happens the parent kills
the process group and reaps the child, so nothing outlives a run and the caller never hangs;
its memory stays bounded whatever the child writes (`aivc.sandbox.watch`).

Outputs are read through the descriptor of the child's working directory (`Outputs`),
which may exist only in the child's mount namespace; it stays open until the caller has
read what it needs. Timing is the parent's own clock (`watch.Watch`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from aivc.errors import AivcError
from aivc.evaluate.results import ERROR_CATEGORIES
from aivc.sandbox import layers
from aivc.sandbox.limits import SandboxLimits
from aivc.sandbox.protocol import CONTROL_FD, EXIT_FORBIDDEN, EXIT_REPORTED, STATUS_FD
from aivc.sandbox.watch import Watch

CHILD_MODULE = "aivc.sandbox.child"


class HarnessError(AivcError):
    """The sandbox itself failed (not the candidate): reported as a nonzero exit."""


class SandboxUnavailable(HarnessError):
    """Required layers are missing here and no weaker sandbox was accepted."""


class Outputs:
    """The child's working directory, held open by descriptor; files only, no links."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def open(self, name: str) -> BinaryIO | None:
        if self.fd is None:
            return None
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, dir_fd=self.fd)
        except OSError:
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return os.fdopen(fd, "rb")

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class ChildRun:
    """How one child process ended; `category` is None when it finished its job."""

    mode: str
    category: str | None = None
    stage: str = ""
    message: str = ""
    level: int = -1
    seconds: float = 0.0
    """From the first `start` to the exit: the candidate's work, all levels."""
    import_seconds: float = 0.0
    level_seconds: dict[int, float] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    seen: layers.Seen = field(default_factory=layers.Seen)
    missing: list[str] = field(default_factory=list)
    output: str = ""
    outputs: Outputs = field(default_factory=lambda: Outputs(None))

    @property
    def ok(self) -> bool:
        return self.category is None

    @property
    def layers(self) -> list[str]:
        return [*self.seen.layers, *self.seen.reported]


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
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        pid = _spawn(argv, child_env(workdir, threads), out_w, st_w, theirs.fileno())
    finally:
        os.close(out_w)
        os.close(st_w)
        theirs.close()
    verdict: dict[str, Any] = {}
    watch = Watch(pid, out_r, st_r, ours, time.monotonic() + limits.wall_seconds,
                  lambda w: _check(w, limits, verdict))
    try:
        watch.run()
    finally:
        _kill_group(pid)
        watch.drain()
        _, wait_status, usage = os.wait4(pid, 0)
        workfd = watch.take_workdir()
        watch.close()
    if watch.refused:
        if workfd is not None:
            os.close(workfd)
        raise SandboxUnavailable(layers.refusal(layers.mode(limits), verdict["missing"]))
    run = classify(request["mode"], watch, wait_status, usage.ru_utime + usage.ru_stime, limits)
    run.seen, run.missing = verdict.get("seen", layers.Seen()), verdict.get("missing", [])
    run.level_seconds = watch.level_seconds([int(x) for x in request.get("levels") or []])
    run.outputs = Outputs(workfd)
    return run


def _check(watch: Watch, limits: SandboxLimits, verdict: dict[str, Any]) -> bool:
    """On `ready`: what the child really runs under; False refuses to let it go on."""
    claimed = list((watch.events.get("ready") or {}).get("layers") or [])
    seen = layers.observe(_candidate_pid(watch.pid), watch.workfd, limits,
                          [str(x) for x in claimed])
    if seen.gone:  # killed from outside before it was read: its exit tells the rest
        return True
    missing = layers.missing(limits, seen)
    verdict.update(seen=seen, missing=missing)
    return not missing or limits.accept_weaker


def _candidate_pid(pid: int) -> int:
    """The process that will run the candidate: the child, or the one it forked as PID 1 of
    its new PID namespace (the child stays as its reaper)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = f.read().split()
    except OSError:
        return pid
    return int(children[0]) if len(children) == 1 else pid


def _spawn(argv: list[str], env: dict[str, str], out_w: int, status_w: int, control: int) -> int:
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
                   (os.POSIX_SPAWN_DUP2, out_w, 2), (os.POSIX_SPAWN_DUP2, status_w, STATUS_FD),
                   (os.POSIX_SPAWN_DUP2, control, CONTROL_FD)]
        return os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)
    finally:
        os.close(devnull)


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def classify(mode: str, watch: Watch, wait_status: int, cpu: float,
             limits: SandboxLimits) -> ChildRun:
    """Turn the exit, the signal and the status lines into a `ChildRun` (DESIGN.md §4)."""
    started = bool(watch.starts)
    run = ChildRun(mode, output=watch.output.decode("utf-8", "replace"),
                   import_seconds=watch.import_seconds())
    if started:
        run.seconds = max(0.0, watch.end() - min(watch.starts.values()))
        run.level = max(watch.starts, key=lambda lv: watch.starts[lv])
    run.stage = mode if started else ("import" if watch.go_at is not None else mode)
    if watch.timed_out:
        return _fail(run, "timeout", f"{mode} ran past the wall-clock limit of "
                                     f"{limits.wall_seconds:g} s and was killed")
    if watch.flooded:
        return _fail(run, "forbidden", f"{mode} wrote over {watch.status_bytes} bytes to the "
                                       "sandbox's own status channel and was killed")
    if os.WIFSIGNALED(wait_status):
        return _signalled(run, os.WTERMSIG(wait_status), cpu, limits)
    code = os.WEXITSTATUS(wait_status)
    error = watch.events.get("error")
    if code == EXIT_FORBIDDEN:
        return _fail(run, "forbidden", str((error or {}).get("message", "forbidden operation")))
    if code == EXIT_REPORTED and error is not None:
        category = error.get("category")
        run.stage = str(error.get("stage") or run.stage)
        if type(error.get("level")) is int and error["level"] >= 0:
            run.level = error["level"]
        return _fail(run, category if category in ERROR_CATEGORIES else "crash",
                     str(error.get("message", "")))
    if watch.ready_at is None and code != 0:
        harness = watch.events.get("harness")
        raise HarnessError(f"the sandbox child failed before loading the codec (exit {code}): "
                           f"{(harness or {}).get('message') or run.output[-2000:]}")
    done = watch.events.get("done")
    if code == 0 and done is not None and watch.go_at is not None:
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
                                       "exec, sockets, namespaces, IPC, cache probes, metadata "
                                       "changes or tracing) and was killed")
    if sig == signal.SIGXFSZ:
        return _fail(run, "size", f"{run.mode} wrote a file past the limit of "
                                  f"{limits.max_file_bytes} bytes")
    return _fail(run, "crash", f"the {run.mode} process was killed by {name}\n{run.output[-800:]}")


def _fail(run: ChildRun, category: str, message: str) -> ChildRun:
    run.category, run.message = category, message
    return run
