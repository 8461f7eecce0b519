"""`validate_codec` and `evaluate_codec`: the trusted entry points of the sandbox.

Both start with checks on the source itself, done here without running it: its size, that
it parses, and that it imports nothing forbidden. Then each clip is encoded at every asked
level in one process, and each level decoded in a fresh process of its own with only its
bitstream (`aivc.sandbox.steps`); several processes run side by side
(`SandboxLimits.parallel`, default one per core, each with cores // parallel threads), a
clip's decodes only once its encoder has exited, so no decoder ever runs next to the
encoder of its own clip.

The determinism check is a policy: ``redecode="all"`` decodes every level twice (for a
candidate that would be adopted), ``"sample"`` one level per clip, drawn from the
operating system's randomness after the encoder has exited, so a candidate cannot know
which of its bitstreams will be decoded again. A caller can evaluate some clips and some
levels first and the rest later (a cascade); `EvaluationResult.merge` joins the results.

After the first failure no new process starts (the run has failed; the planner repairs
from the first error), while those already running finish, and the levels an encoder
finished before it failed are still decoded and measured. Candidate misbehaviour always
ends as an `ErrorRecord`; only a failure of the sandbox itself raises (`HarnessError`, an
`AivcError`), and so does a sandbox that cannot put its required layers in place
(`SandboxUnavailable`, unless a weaker one was accepted).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from aivc import settings
from aivc.codec.contract import MAX_LEVELS, Video
from aivc.errors import AivcError
from aivc.evaluate.clips import ClipSpec, load_clip, synthetic_clip
from aivc.evaluate.results import ClipInfo, ErrorRecord, EvaluationResult, LevelResult
from aivc.sandbox.limits import SandboxLimits
from aivc.sandbox.policy import SourceScan, scan_source
from aivc.sandbox.session import Session
from aivc.sandbox.steps import Decoded, Encoded, decode_level, encode_clip, measure
from aivc.sandbox.workspace import Workspace

Progress = Callable[[str], None]
VALIDATION_CLIP = "synthetic:64x48x4"
REDECODE = ("all", "sample")


def default_limits() -> SandboxLimits:
    """The defaults, with `AIVC_SANDBOX_ACCEPT_WEAKER` from the settings."""
    return SandboxLimits(accept_weaker=settings.load().sandbox.accept_weaker)


def validate_codec(codec_path: Path, limits: SandboxLimits | None = None) -> EvaluationResult:
    """Import, contract, and the first and last level on a tiny clip, each decoded twice."""
    video = synthetic_clip(64, 48, 4, 25.0, seed=0)
    return _run("validate", Path(codec_path), [(VALIDATION_CLIP, video)],
                limits or default_limits(), None, [0, -1], "all")


def evaluate_codec(codec_path: Path, clips: list[ClipSpec], limits: SandboxLimits | None = None,
                   cache_dir: Path | None = None, progress: Progress | None = None, *,
                   levels: Sequence[int] | None = None,
                   redecode: str = "all") -> EvaluationResult:
    """`clips` at `levels` (None: every level; negative indices count from the last, so
    ``[0, -1]`` is the first and the last); the clips are decoded (and cached) by the
    trusted side. `redecode` is "all" or "sample" (see the module docstring)."""
    if redecode not in REDECODE:
        raise AivcError(f"redecode must be one of {', '.join(REDECODE)}, got {redecode!r}")
    videos = [(str(spec), load_clip(spec, cache_dir)) for spec in clips]
    return _run("evaluate", Path(codec_path), videos, limits or default_limits(), progress,
                None if levels is None else list(levels), redecode)


def parse_levels(text: str | None) -> list[int] | None:
    """``0,-1`` from a command line (None: every level)."""
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise AivcError(f"--levels {text!r}: expected integers like 0,-1") from None


def pick_levels(asked: list[int] | None, declared: int) -> list[int]:
    """The levels to run, sorted, from indices that may count from the end."""
    if asked is None:
        return list(range(declared))
    out = set()
    for level in asked:
        real = level + declared if level < 0 else level
        if not 0 <= real < declared:
            raise AivcError(f"level {level} asked for, but the codec declares LEVELS = {declared}")
        out.add(real)
    return sorted(out)


def _run(mode: str, path: Path, videos: list[tuple[str, Video]], limits: SandboxLimits,
         progress: Progress | None, asked: list[int] | None, redecode: str) -> EvaluationResult:
    start = time.perf_counter()
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise AivcError(f"cannot read codec file {path}: {exc.strerror or exc}") from None
    result = EvaluationResult(mode=mode, codec_sha256=hashlib.sha256(source).hexdigest())
    result.clips = [ClipInfo(name, v.width, v.height, v.frames, v.fps) for name, v in videos]
    scan = check_source(source, limits)
    if isinstance(scan, ErrorRecord):
        result.errors.append(scan)
    else:
        with Workspace(source) as workspace:
            session = open_session(workspace, scan, limits, result)
            if session is not None:
                levels = pick_levels(asked, session.levels)
                _Sweep(session, videos, levels, redecode, result, progress).run()
            result.sandbox = session.isolation() if session is not None else {}
    result.wall_seconds = time.perf_counter() - start
    return result


def open_session(workspace: Workspace, scan: SourceScan, limits: SandboxLimits,
                 result: EvaluationResult, levels: int = 0) -> Session | None:
    """A Session knowing the codec's LEVELS: `levels` when known, else read from the source
    when it is a literal, else from a probe process that imports the codec; None when
    that fails (the error is in `result`)."""
    parallel = limits.parallel or os.cpu_count() or 1
    session = Session(workspace, limits, scan.preimports, levels or scan.levels or 0,
                      threads=max(1, (os.cpu_count() or 1) // parallel))
    if not 1 <= session.levels <= MAX_LEVELS:
        probe = session.run("probe", {}, {})
        probe.outputs.close()
        if not probe.ok:
            assert probe.category is not None
            result.errors.append(ErrorRecord(probe.category, probe.message, probe.stage))
            return None
        found = probe.report.get("levels")
        if type(found) is not int or not 1 <= found <= MAX_LEVELS:
            result.errors.append(ErrorRecord("contract", f"LEVELS must be an int in "
                                             f"1..{MAX_LEVELS}, got {found!r}", "validate"))
            return None
        session.levels = found
    result.levels_declared = session.levels
    return session


def check_source(source: bytes, limits: SandboxLimits) -> SourceScan | ErrorRecord:
    """What the source imports and declares, or why it is refused without running it."""
    if len(source) > limits.max_source_bytes:
        return ErrorRecord("size", f"the codec source is {len(source)} bytes, over the cap of "
                                   f"{limits.max_source_bytes}: keep large tables out of it",
                           "import")
    try:
        scan = scan_source(source.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return ErrorRecord("import", f"the codec source is not UTF-8: {exc}", "import")
    except SyntaxError as exc:
        return ErrorRecord("import", f"SyntaxError: {exc.msg} (line {exc.lineno})", "import")
    except ValueError as exc:  # e.g. a NUL byte in the source
        return ErrorRecord("import", f"the codec source cannot be parsed: {exc}", "import")
    if scan.forbidden:
        return ErrorRecord("forbidden", "; ".join(scan.forbidden), "import")
    return scan


class _Sweep:
    """Encodes per clip, then decodes per level, `parallel` processes at a time."""

    def __init__(self, session: Session, videos: list[tuple[str, Video]], levels: list[int],
                 redecode: str, result: EvaluationResult, progress: Progress | None) -> None:
        self.session, self.videos, self.levels = session, videos, levels
        self.redecode, self.result, self.progress = redecode, result, progress
        self.failed = threading.Event()
        self.found: list[tuple[int, int, LevelResult | ErrorRecord]] = []

    def run(self) -> None:
        parallel = self.session.limits.parallel or os.cpu_count() or 1
        jobs = len(self.videos) * max(1, len(self.levels))
        with ThreadPoolExecutor(max_workers=max(1, min(parallel, jobs))) as pool:
            pending: dict[Future[Any], tuple[int, int]] = {
                pool.submit(self._encode, i): (i, -1) for i in range(len(self.videos))}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    clip, level = pending.pop(fut)
                    if level < 0:
                        pending.update(self._encoded(pool, clip, fut.result()))
                    elif fut.result() is not None:
                        self._keep(clip, level, fut.result())
        self.found.sort(key=lambda x: (x[0], x[1]))
        for _, _, out in self.found:
            if isinstance(out, LevelResult):
                self.result.levels.append(out)
            else:
                self.result.errors.append(out)

    def _encode(self, i: int) -> Encoded | None:
        if self.failed.is_set():
            return None
        name, video = self.videos[i]
        out_dir = self.session.workspace.bitstreams / f"{i:03d}"
        out_dir.mkdir()
        return encode_clip(self.session, name, video, self.levels, out_dir)

    def _encoded(self, pool: ThreadPoolExecutor, i: int,
                 enc: Encoded | None) -> dict[Future[Any], tuple[int, int]]:
        if enc is None:
            return {}
        if enc.error is not None:  # no new work, but what the encoder finished is measured
            self._keep(i, enc.error.level, enc.error)
        done = sorted(enc.bitstreams)
        if not done:
            return {}
        sampled = done if self.redecode == "all" else [done[secrets.randbelow(len(done))]]
        return {pool.submit(self._decode, i, level, enc, 2 if level in sampled else 1,
                            enc.error is not None): (i, level) for level in done}

    def _decode(self, i: int, level: int, enc: Encoded, runs: int,
                anyway: bool = False) -> LevelResult | ErrorRecord | None:
        if self.failed.is_set() and not anyway:
            return None
        name, video = self.videos[i]
        path = enc.bitstreams[level]
        out = decode_level(self.session, name, video, level, path, runs)
        if isinstance(out, Decoded):
            return measure(video, name, level, path, enc, out)
        return out

    def _keep(self, i: int, level: int, out: LevelResult | ErrorRecord) -> None:
        if isinstance(out, ErrorRecord):
            self.failed.set()
        self.found.append((i, level, out))
        if self.progress is not None:
            self.progress(_describe(out))


def _describe(out: LevelResult | ErrorRecord) -> str:
    if isinstance(out, LevelResult):
        return (f"{out.clip} level {out.level}: {out.kbps:.1f} kbps, PSNR-Y {out.psnr_y:.2f} dB, "
                f"encode {out.encode_seconds:.2f} s, decode {out.decode_seconds:.2f} s")
    where = f"{out.clip} level {out.level}" if out.level >= 0 else out.clip
    return f"{where}: {out.category} in {out.stage}"
