"""The child process: confine itself, load the candidate, encode or decode once, report.

Run by the parent as ``python -I -B -m aivc.sandbox.child REQUEST_JSON`` in a fresh working
directory with an empty environment. In order, before any candidate code runs: read the
inputs (the codec source, and the source frames or the bitstream), apply the OS layers
(`confine`), import the allowed libraries the candidate names, add seccomp and Landlock,
then the audit hook. Only then is the candidate executed.

Outputs go to the working directory (``bitstream.bin``, or ``y.npy``/``u.npy``/``v.npy``),
where the parent reads and checks them itself. Status lines (JSON) go to the pipe on
`status_fd`: ``ready`` (with the layers applied), ``start`` (just before encode/decode is
called: the parent times from here to the exit), then ``done`` or ``error``. The candidate
can write to that pipe too; the parent trusts none of it for numbers and only ever lets
it make a failure look worse.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import json
import os
import resource
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from aivc.codec.contract import Video, as_video, check_codec_namespace
from aivc.errors import ContractError
from aivc.sandbox import confine, hook, policy
from aivc.sandbox.limits import SandboxLimits
from aivc.sandbox.protocol import (
    BITSTREAM_FILE,
    CODEC_FILE,
    EXIT_HARNESS,
    EXIT_REPORTED,
    PLANE_FILES,
    SOURCE_FILE,
)

MODULE_NAME = "aivc_candidate"
_MEMORY_WORDS = ("can't allocate memory", "cannot allocate memory", "out of memory", "bad_alloc")


class Failure(Exception):
    """A failure with its category, reported on the status pipe."""

    def __init__(self, category: str, stage: str, message: str) -> None:
        super().__init__(message)
        self.category, self.stage, self.message = category, stage, message


class Status:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, event: str, **fields: Any) -> None:
        os.write(self.fd, (json.dumps({"event": event, **fields}) + "\n").encode())


@dataclass
class Job:
    mode: str
    workdir: str
    level: int
    levels: int
    fps: float
    limits: SandboxLimits
    inputs: Any = None


def main(argv: list[str]) -> None:
    req = json.loads(argv[1])
    status = Status(int(req["status_fd"]))
    os.closerange(status.fd + 1, 1 << 16)
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
    status.send("error", category=failure.category, stage=failure.stage, message=failure.message)
    _flush()
    os._exit(EXIT_REPORTED)


def _prepare(req: dict[str, Any], status: Status) -> tuple[Job, str]:
    """Everything before the candidate runs: inputs, confinement, imports, the hook."""
    workdir = os.path.realpath(req["workdir"])
    limits = SandboxLimits.from_dict(req["limits"])
    job = Job(req["mode"], workdir, int(req.get("level", 0)), int(req.get("levels", 0)),
              float(req.get("fps", 25.0)), limits)
    with open(os.path.join(workdir, CODEC_FILE), encoding="utf-8") as f:
        source = f.read()
    job.inputs = _read_inputs(job, req)
    read, hidden = policy.read_roots(), policy.hidden_roots()
    os.chdir(workdir)
    layers = confine.confine(workdir, req["rootfs"], limits, read, hidden,
                             root_layers=bool(req.get("root_layers", True)))
    _preimport(req.get("preimports", []))
    layers += confine.lock(workdir, read, hidden)
    hook.install(workdir, read, hidden, status.fd, policy.denied_modules())
    layers.append("audit")
    status.send("ready", layers=layers)
    return job, source


def _read_inputs(job: Job, req: dict[str, Any]) -> Any:
    if job.mode == "encode":
        return _read_source(Path(job.workdir, SOURCE_FILE), int(req["width"]),
                            int(req["height"]), int(req["frames"]), job.fps)
    if job.mode == "decode":
        with open(os.path.join(job.workdir, BITSTREAM_FILE), "rb") as f:
            return f.read()
    return None


def _read_source(path: Path, width: int, height: int, frames: int, fps: float) -> Video:
    """The frames `clips.write_yuv` wrote (yuv420p, frame after frame). Read here rather than
    with `clips.read_yuv` to keep that module's imports out of every child's start-up."""
    luma, chroma = width * height, (width // 2) * (height // 2)
    data = np.fromfile(path, dtype=np.uint8).reshape(frames, luma + 2 * chroma)
    y = data[:, :luma].reshape(frames, height, width)
    u = data[:, luma:luma + chroma].reshape(frames, height // 2, width // 2)
    v = data[:, luma + chroma:].reshape(frames, height // 2, width // 2)
    return Video(np.ascontiguousarray(y), np.ascontiguousarray(u), np.ascontiguousarray(v), fps)


def _preimport(names: list[str]) -> None:
    """Import what the candidate imports while native loading is still allowed."""
    for name in names:
        if policy.forbidden_reason(name) is not None:
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
        levels = check_codec_namespace(module.__dict__)
    except ContractError as exc:
        raise Failure("contract", "validate", str(exc)) from None
    if job.mode != "probe" and not 0 <= job.level < levels:
        raise Failure("contract", "validate", f"level {job.level} asked for, LEVELS = {levels}")
    job.levels = levels
    return module


def _encode(module: types.ModuleType, job: Job, status: Status) -> dict[str, Any]:
    status.send("start")
    bitstream = _call(module, "encode", job, (job.inputs, job.level))
    if not isinstance(bitstream, (bytes, bytearray, memoryview)):
        raise Failure("contract", "encode",
                      f"encode returned {type(bitstream).__name__}, expected bytes")
    data = bytes(bitstream)
    if len(data) > job.limits.max_bitstream_bytes:
        raise Failure("size", "encode", f"bitstream of {len(data)} bytes is over the cap of "
                                        f"{job.limits.max_bitstream_bytes}")
    with open(os.path.join(job.workdir, BITSTREAM_FILE), "wb") as f:
        f.write(data)
    return {"levels": job.levels}


def _decode(module: types.ModuleType, job: Job, status: Status) -> dict[str, Any]:
    status.send("start")
    decoded = _call(module, "decode", job, (job.inputs,))
    try:
        video = as_video(decoded, job.fps)
    except ContractError as exc:
        raise Failure("contract", "decode", str(exc)) from None
    for name, plane, filename in zip("YUV", video.planes(), PLANE_FILES, strict=True):
        if not isinstance(plane, np.ndarray):
            raise Failure("contract", "decode",
                          f"{name} plane is {type(plane).__name__}, expected numpy.ndarray")
        try:
            np.save(os.path.join(job.workdir, filename), plane, allow_pickle=False)
        except ValueError as exc:
            raise Failure("contract", "decode", f"{name} plane cannot be stored: {exc}") from None
    return {"levels": job.levels}


def _probe(module: types.ModuleType, job: Job, status: Status) -> dict[str, Any]:
    """Facts the tests and `validate` use: LEVELS and what the process ended up with."""
    limits = {n: resource.getrlimit(getattr(resource, n))
              for n in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE")}
    with open("/proc/self/net/dev") as f:
        interfaces = sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
    return {"levels": job.levels, "uid": os.getuid(), "gid": os.getgid(), "interfaces": interfaces,
            "groups": os.getgroups(), "env": sorted(os.environ), "cwd": os.getcwd(),
            "rlimits": limits, "pgid": os.getpgid(0), "sid": os.getsid(0)}


_RUNNERS = {"encode": _encode, "decode": _decode, "probe": _probe}


def _call(module: types.ModuleType, name: str, job: Job, args: tuple[Any, ...]) -> Any:
    try:
        return getattr(module, name)(*args)
    except BaseException as exc:
        raise _failure(exc, name, os.path.join(job.workdir, CODEC_FILE)) from None


def _failure(exc: BaseException, stage: str, path: str) -> Failure:
    """Map an exception from candidate code to its category (DESIGN.md §4)."""
    text = describe(exc, path)
    if isinstance(exc, MemoryError) or (
            isinstance(exc, RuntimeError) and any(w in str(exc).lower() for w in _MEMORY_WORDS)):
        return Failure("memory", stage, text)
    if isinstance(exc, ContractError):
        return Failure("contract", stage, text)
    if isinstance(exc, OSError) and exc.errno == 27:  # EFBIG: over RLIMIT_FSIZE
        return Failure("size", stage, f"a file grew past the size limit: {text}")
    if isinstance(exc, SystemExit):
        return Failure("crash", stage, f"the codec called sys.exit({exc.code!r})")
    if stage == "import":
        return Failure("import", stage, text)
    return Failure("crash", stage, text)


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
