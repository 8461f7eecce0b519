"""The child process: confine itself, load the candidate, encode or decode, report.

Run by the parent as ``python -I -B -m aivc.sandbox.child REQUEST_JSON`` with an empty
environment. In order, before any candidate code runs: read the inputs into memory (the
codec source, and the source frames or the bitstream) from the parent's input directory,
apply the OS layers (`confine`: namespaces, the view with its capped working directory,
no privileges, rlimits), hand the working directory to the parent as a descriptor, import
the allowed libraries the candidate names, add seccomp and Landlock, then the audit hook.
It then says ``ready`` and waits: the parent checks from the outside (/proc) which layers
are really in force and answers ``go``, or kills the process. Only then is the candidate
executed. numpy and the contract module load after the namespaces: a user namespace can
only be entered by a process with one thread.

An encoder encodes every level it is given, one after the other, in this one process, and
writes ``bitstream-LEVEL.bin`` for each; a decoder decodes ``bitstream.bin`` once and writes
raw planes (``y.npy``, ``u.npy``, ``v.npy``). The parent reads and checks them itself.
Status lines (JSON) go to the pipe on `status_fd`: ``confined``, ``ready`` (with the layers
the child applied), ``start`` before each call of encode or decode (the parent's clock
times from these), then ``done`` or ``error``. The candidate can write to that pipe too; the
parent takes nothing from it after ``go`` but timing marks, which can only make the
candidate look slower, and its own verdict of failure.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import json
import os
import resource
import socket
import sys
import traceback
import types
from dataclasses import dataclass, field
from typing import Any, NoReturn

from aivc.sandbox import confine, hook, policy
from aivc.sandbox.limits import SandboxLimits
from aivc.sandbox.protocol import (
    BITSTREAM_FILE,
    CODEC_FILE,
    CONTROL_FD,
    EXIT_HARNESS,
    EXIT_REPORTED,
    GO,
    PLANE_FILES,
    SOURCE_FILE,
    bitstream_name,
)

MODULE_NAME = "aivc_candidate"
_MEMORY_WORDS = ("can't allocate memory", "cannot allocate memory", "out of memory", "bad_alloc")


class Failure(Exception):
    """A failure with its category, reported on the status pipe."""

    def __init__(self, category: str, stage: str, message: str, level: int = -1) -> None:
        super().__init__(message)
        self.category, self.stage, self.message, self.level = category, stage, message, level


class Status:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, event: str, **fields: Any) -> None:
        os.write(self.fd, (json.dumps({"event": event, **fields}) + "\n").encode())


@dataclass
class Job:
    mode: str
    workdir: str
    levels: list[int]
    fps: float
    limits: SandboxLimits
    declared: int = 0
    inputs: Any = None
    raw: bytes = b""
    geometry: dict[str, int] = field(default_factory=dict)


def main(argv: list[str]) -> None:
    req = json.loads(argv[1])
    status = Status(int(req["status_fd"]))
    os.closerange(CONTROL_FD + 1, 1 << 16)
    try:
        job, source = _prepare(req, status)
    except Failure as f:
        _report(status, f)
    except BaseException:
        status.send("harness", message=traceback.format_exc()[-3000:])
        os._exit(EXIT_HARNESS)
    try:
        module = _load(job, source)
        status.send("done", **_RUNNERS[job.mode](module, job, status))
    except Failure as f:
        _report(status, f)
    except BaseException as exc:  # the candidate broke the harness code around it
        _report(status, _failure(exc, job.mode, os.path.join(job.workdir, CODEC_FILE)))
    _flush()
    os._exit(0)


def _report(status: Status, failure: Failure) -> NoReturn:
    """Report and leave at once: no atexit handlers, no waiting for the candidate's threads."""
    status.send("error", category=failure.category, stage=failure.stage,
                message=failure.message, level=failure.level)
    _flush()
    os._exit(EXIT_REPORTED)


def _prepare(req: dict[str, Any], status: Status) -> tuple[Job, str]:
    """Everything before the candidate runs: inputs, confinement, imports, the hook, `go`."""
    workdir = os.path.realpath(req["workdir"])
    limits = SandboxLimits.from_dict(req["limits"])
    job = Job(req["mode"], workdir, [int(x) for x in req.get("levels", [])],
              float(req.get("fps", 25.0)), limits,
              geometry={k: int(req[k]) for k in ("width", "height", "frames") if k in req})
    with open(os.path.join(workdir, CODEC_FILE), "rb") as f:
        source = f.read()
    files = {CODEC_FILE: source}
    if job.mode in ("encode", "decode"):
        name = SOURCE_FILE if job.mode == "encode" else BITSTREAM_FILE
        with open(os.path.join(workdir, name), "rb") as f:
            job.raw = f.read()
        if job.mode == "decode":
            files[BITSTREAM_FILE] = job.raw
    read, hidden = policy.read_roots(gpu=limits.gpu), policy.hidden_roots()
    os.chdir(workdir)
    layers = confine.confine(workdir, req["rootfs"], limits, read, hidden, files,
                             use_namespaces=bool(req.get("namespaces", True)))
    _hand_over_workdir()
    status.send("confined")
    _preimport(req.get("preimports", []))
    job.inputs = _inputs(job)
    layers += confine.lock(workdir, read, hidden, limits)
    hook.install(workdir, read, hidden, status.fd, policy.denied_modules())
    layers.append("audit")
    status.send("ready", layers=layers)
    if os.read(CONTROL_FD, 16) != GO:
        os._exit(EXIT_HARNESS)
    os.close(CONTROL_FD)
    return job, source.decode("utf-8")


def _hand_over_workdir() -> None:
    """Send the parent a descriptor of the working directory (which may exist only in our
    mount namespace), before any candidate code can touch the control socket."""
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    sock = socket.socket(fileno=os.dup(CONTROL_FD))
    try:
        socket.send_fds(sock, [b"workdir"], [fd])
    finally:
        sock.close()
        os.close(fd)


def _inputs(job: Job) -> Any:
    if job.mode == "decode":
        return job.raw
    if job.mode == "encode":
        g = job.geometry
        return _source_video(job.raw, g["width"], g["height"], g["frames"], job.fps)
    return None


def _source_video(raw: bytes, width: int, height: int, frames: int, fps: float) -> Any:
    """The frames `clips.write_yuv` wrote (yuv420p, frame after frame). Read here rather than
    with `clips.read_yuv` to keep that module's imports out of every child's start-up."""
    import numpy as np

    from aivc.codec.contract import Video

    luma, chroma = width * height, (width // 2) * (height // 2)
    data = np.frombuffer(raw, dtype=np.uint8).reshape(frames, luma + 2 * chroma)
    y = data[:, :luma].reshape(frames, height, width)
    u = data[:, luma:luma + chroma].reshape(frames, height // 2, width // 2)
    v = data[:, luma + chroma:].reshape(frames, height // 2, width // 2)
    return Video(np.ascontiguousarray(y), np.ascontiguousarray(u), np.ascontiguousarray(v), fps)


def _preimport(names: list[str]) -> None:
    """Import what the candidate imports while native loading is still allowed."""
    for name in ("numpy", "aivc.codec.contract", *names):
        if name != "aivc.codec.contract" and policy.forbidden_reason(name) is not None:
            continue
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            parent = name.rpartition(".")[0]
            if not (exc.name == name and parent in sys.modules):  # `from pkg import attr`
                raise Failure("import", "import", f"ModuleNotFoundError: {exc}") from None
        except BaseException as exc:
            raise _failure(exc, "import", "") from None
    for name in list(sys.modules):
        if name.split(".")[0] in policy.UNLOADED_AFTER_PREIMPORT:
            del sys.modules[name]


def _load(job: Job, source: str) -> types.ModuleType:
    from aivc.codec.contract import check_codec_namespace
    from aivc.errors import ContractError

    path = os.path.join(job.workdir, CODEC_FILE)
    module = types.ModuleType(MODULE_NAME)
    module.__file__ = path
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules[MODULE_NAME] = module
    try:
        exec(compile(source, path, "exec"), module.__dict__)
    except BaseException as exc:
        raise _failure(exc, "import", path) from None
    try:
        job.declared = check_codec_namespace(module.__dict__)
    except ContractError as exc:
        raise Failure("contract", "validate", str(exc)) from None
    for level in job.levels:
        if job.mode != "probe" and not 0 <= level < job.declared:
            raise Failure("contract", "validate",
                          f"level {level} asked for, LEVELS = {job.declared}", level)
    return module


def _encode(module: types.ModuleType, job: Job, status: Status) -> dict[str, Any]:
    for level in job.levels:
        status.send("start", level=level)
        bitstream = _call(module, "encode", job, (job.inputs, level), level)
        if not isinstance(bitstream, (bytes, bytearray, memoryview)):
            raise Failure("contract", "encode",
                          f"encode returned {type(bitstream).__name__}, expected bytes", level)
        data = bytes(bitstream)
        if len(data) > job.limits.max_bitstream_bytes:
            raise Failure("size", "encode", f"bitstream of {len(data)} bytes is over the cap "
                                            f"of {job.limits.max_bitstream_bytes}", level)
        try:
            with open(os.path.join(job.workdir, bitstream_name(level)), "wb") as f:
                f.write(data)
        except OSError as exc:
            raise _failure(exc, "encode", "", level) from None
    return {"levels": job.declared}


def _decode(module: types.ModuleType, job: Job, status: Status) -> dict[str, Any]:
    import numpy as np

    from aivc.codec.contract import as_video
    from aivc.errors import ContractError

    level = job.levels[0] if job.levels else -1
    status.send("start", level=level)
    decoded = _call(module, "decode", job, (job.inputs,), level)
    try:
        video = as_video(decoded, job.fps)
    except ContractError as exc:
        raise Failure("contract", "decode", str(exc), level) from None
    for name, plane, filename in zip("YUV", video.planes(), PLANE_FILES, strict=True):
        if not isinstance(plane, np.ndarray):
            raise Failure("contract", "decode",
                          f"{name} plane is {type(plane).__name__}, expected numpy.ndarray", level)
        try:
            np.save(os.path.join(job.workdir, filename), plane, allow_pickle=False)
        except ValueError as exc:
            raise Failure("contract", "decode", f"{name} plane cannot be stored: {exc}",
                          level) from None
        except OSError as exc:
            raise _failure(exc, "decode", "", level) from None
    return {"levels": job.declared}


def _probe(module: types.ModuleType, job: Job, status: Status) -> dict[str, Any]:
    """Facts the tests and `validate` use: LEVELS and what the process ended up with."""
    limits = {n: resource.getrlimit(getattr(resource, n))
              for n in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE")}
    with open("/proc/self/net/dev") as f:
        interfaces = sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
    return {"levels": job.declared, "uid": os.getuid(), "gid": os.getgid(),
            "interfaces": interfaces, "groups": os.getgroups(), "env": sorted(os.environ),
            "cwd": os.getcwd(), "rlimits": limits, "pgid": os.getpgid(0), "sid": os.getsid(0),
            "pid": os.getpid()}


_RUNNERS = {"encode": _encode, "decode": _decode, "probe": _probe}


def _call(module: types.ModuleType, name: str, job: Job, args: tuple[Any, ...],
          level: int) -> Any:
    try:
        return getattr(module, name)(*args)
    except BaseException as exc:
        raise _failure(exc, name, os.path.join(job.workdir, CODEC_FILE), level) from None


def _failure(exc: BaseException, stage: str, path: str, level: int = -1) -> Failure:
    """Map an exception from candidate code to its category (DESIGN.md §4)."""
    from aivc.errors import ContractError

    text = describe(exc, path)
    if isinstance(exc, MemoryError) or (
            isinstance(exc, RuntimeError) and any(w in str(exc).lower() for w in _MEMORY_WORDS)):
        return Failure("memory", stage, text, level)
    if isinstance(exc, ContractError):
        return Failure("contract", stage, text, level)
    if isinstance(exc, OSError) and exc.errno in (27, 28, 122):  # EFBIG, ENOSPC, EDQUOT
        return Failure("size", stage, f"writing went past the size limits: {text}", level)
    if isinstance(exc, SystemExit):
        return Failure("crash", stage, f"the codec called sys.exit({exc.code!r})", level)
    if stage == "import":
        return Failure("import", stage, text, level)
    return Failure("crash", stage, text, level)


def describe(exc: BaseException, path: str) -> str:
    """The exception and the candidate's own frames: what a planner needs to repair it."""
    try:
        te = traceback.TracebackException.from_exception(exc, limit=-20)
        frames = [f"  line {f.lineno} in {f.name}: {(f.line or '').strip()}"
                  for f in te.stack if f.filename == path]
        head = "".join(te.format_exception_only()).strip()
        return "\n".join([head, *frames[-6:]])
    except Exception:  # a candidate that broke `traceback` still gets a category
        return f"{type(exc).__name__}: {exc!r}"


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


if __name__ == "__main__":
    main(sys.argv)
