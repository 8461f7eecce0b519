"""`validate_codec` and `evaluate_codec`: the trusted entry points of the sandbox.

Both start with checks on the source itself, done here without running it: its size, that
it parses, and that it imports nothing forbidden. Then every clip × level is a `roundtrip`
(separate encode and decode processes), several side by side (`SandboxLimits.parallel`,
default one per core, each with cores // parallel threads). After the first failure no new
round trip starts (the run has failed; the planner repairs from the first error), while
those already running finish. Candidate misbehaviour always ends as an `ErrorRecord`;
only a failure of the sandbox itself raises (`HarnessError`, an `AivcError`).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aivc.codec.contract import MAX_LEVELS, Video
from aivc.errors import AivcError
from aivc.evaluate.clips import ClipSpec, load_clip, synthetic_clip
from aivc.evaluate.results import ClipInfo, ErrorRecord, EvaluationResult, LevelResult
from aivc.sandbox.limits import SandboxLimits
from aivc.sandbox.policy import SourceScan, scan_source
from aivc.sandbox.roundtrip import Session, roundtrip
from aivc.sandbox.workspace import Workspace

Progress = Callable[[str], None]
VALIDATION_CLIP = "synthetic:64x48x4"


def validate_codec(codec_path: Path, limits: SandboxLimits | None = None) -> EvaluationResult:
    """Import, contract, and a round trip of the first and last level on a tiny clip."""
    video = synthetic_clip(64, 48, 4, 25.0, seed=0)
    return _run("validate", Path(codec_path), [(VALIDATION_CLIP, video)], limits or SandboxLimits(),
                None, first_and_last=True)


def evaluate_codec(codec_path: Path, clips: list[ClipSpec], limits: SandboxLimits | None = None,
                   cache_dir: Path | None = None, progress: Progress | None = None) -> EvaluationResult:
    """Every clip at every level; the clips are decoded (and cached) by the trusted side."""
    videos = [(str(spec), load_clip(spec, cache_dir)) for spec in clips]
    return _run("evaluate", Path(codec_path), videos, limits or SandboxLimits(), progress)


def _run(mode: str, path: Path, videos: list[tuple[str, Video]], limits: SandboxLimits,
         progress: Progress | None, first_and_last: bool = False) -> EvaluationResult:
    start = time.perf_counter()
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise AivcError(f"cannot read codec file {path}: {exc.strerror or exc}") from None
    result = EvaluationResult(mode=mode, codec_sha256=hashlib.sha256(source).hexdigest())
    result.clips = [ClipInfo(name, v.width, v.height, v.frames, v.fps) for name, v in videos]
    scan = _check_source(source, limits)
    if isinstance(scan, ErrorRecord):
        result.errors.append(scan)
    else:
        with Workspace(source) as workspace:
            session = _session(workspace, scan, limits, result)
            if session is not None:
                levels = range(session.levels)
                if first_and_last:
                    levels = range(0, session.levels, max(1, session.levels - 1))
                jobs = [(name, video, level) for name, video in videos for level in levels]
                _sweep(session, jobs, result, progress)
    result.wall_seconds = time.perf_counter() - start
    return result


def _session(workspace: Workspace, scan: SourceScan, limits: SandboxLimits,
             result: EvaluationResult) -> Session | None:
    """A Session knowing the codec's LEVELS: read from the source when it is a literal,
    else from a probe process that imports the codec; None when that fails."""
    parallel = limits.parallel or os.cpu_count() or 1
    session = Session(workspace, limits, scan.preimports, scan.levels or 0,
                      threads=max(1, (os.cpu_count() or 1) // parallel))
    if scan.levels is None or not 1 <= scan.levels <= MAX_LEVELS:
        probe, _ = session.run("probe", {}, {})
        if not probe.ok:
            assert probe.category is not None
            result.errors.append(ErrorRecord(probe.category, probe.message, probe.stage))
            return None
        levels = probe.report.get("levels")
        if type(levels) is not int or not 1 <= levels <= MAX_LEVELS:
            result.errors.append(ErrorRecord("contract", f"LEVELS must be an int in "
                                             f"1..{MAX_LEVELS}, got {levels!r}", "validate"))
            return None
        session.levels = levels
    result.levels_declared = session.levels
    return session


def _check_source(source: bytes, limits: SandboxLimits) -> SourceScan | ErrorRecord:
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


def _sweep(session: Session, jobs: list[tuple[str, Video, int]], result: EvaluationResult,
           progress: Progress | None) -> None:
    failed = threading.Event()
    parallel = session.limits.parallel or os.cpu_count() or 1

    def one(job: tuple[str, Video, int]) -> LevelResult | ErrorRecord | None:
        if failed.is_set():
            return None
        out = roundtrip(session, *job)
        if isinstance(out, ErrorRecord):
            failed.set()
        if progress is not None:
            progress(_describe(out))
        return out

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(jobs)))) as pool:
        outcomes = list(pool.map(one, jobs))
    for out in outcomes:
        if isinstance(out, LevelResult):
            result.levels.append(out)
        elif isinstance(out, ErrorRecord):
            result.errors.append(out)


def _describe(out: LevelResult | ErrorRecord) -> str:
    if isinstance(out, LevelResult):
        return (f"{out.clip} level {out.level}: {out.kbps:.1f} kbps, PSNR-Y {out.psnr_y:.2f} dB, "
                f"encode {out.encode_seconds:.2f} s, decode {out.decode_seconds:.2f} s")
    return f"{out.clip} level {out.level}: {out.category} in {out.stage}"
