"""Evaluate a candidate codec inside this process — a stop-gap until `aivc.sandbox` lands.

The candidate runs with this process's privileges and memory, and its decoder could in
principle see the encoder's state: use this only for code you trust (your own codecs,
tests). The sandbox runs encode and decode in separate locked-down processes and produces
the same `EvaluationResult`, so callers switch by swapping the runner function.

Each clip is encoded at every level, decoded from the bitstream alone and measured with
`metrics.measure`; bytes are `len(bitstream)`. Failures become `ErrorRecord`s: `import`
(the file does not load), `contract` (missing names, wrong types or shapes), `mismatch`
(decoded frames differ in size or count from the source), `crash` (any other exception).
After a failure the remaining levels of that clip are skipped; other clips still run.
"""

from __future__ import annotations

import hashlib
import runpy
import time
import traceback
from pathlib import Path
from typing import Any

from aivc.codec.contract import Video, as_video, check_codec_namespace, check_video
from aivc.errors import AivcError, ContractError
from aivc.evaluate.clips import ClipSpec, load_clip
from aivc.evaluate.quality import kbps, measure
from aivc.evaluate.results import ClipInfo, ErrorRecord, EvaluationResult, LevelResult


def evaluate_in_process(codec_path: Path, clips: list[ClipSpec],
                        cache_dir: Path | None = None) -> EvaluationResult:
    """Run the full rate sweep of the codec file on each clip and measure every level."""
    start = time.perf_counter()
    codec_path = Path(codec_path)
    try:
        source = codec_path.read_bytes()
    except OSError as exc:
        raise AivcError(f"cannot read codec file {codec_path}: {exc.strerror or exc}") from None
    result = EvaluationResult(mode="evaluate", codec_sha256=hashlib.sha256(source).hexdigest())
    videos = [(str(spec), load_clip(spec, cache_dir)) for spec in clips]
    result.clips = [ClipInfo(name, v.width, v.height, v.frames, v.fps) for name, v in videos]
    ns = _load(codec_path, result)
    if ns is not None:
        for name, video in videos:
            _run_clip(ns, codec_path, name, video, result)
    result.wall_seconds = time.perf_counter() - start
    return result


def _load(path: Path, result: EvaluationResult) -> dict[str, Any] | None:
    try:
        ns = runpy.run_path(str(path), run_name="aivc_candidate")
    except (Exception, SystemExit) as exc:
        result.errors.append(ErrorRecord("import", describe(exc, path), stage="import"))
        return None
    try:
        result.levels_declared = check_codec_namespace(ns)
    except ContractError as exc:
        result.errors.append(ErrorRecord("contract", str(exc), stage="validate"))
        return None
    return ns


def _run_clip(ns: dict[str, Any], path: Path, clip: str, video: Video,
              result: EvaluationResult) -> None:
    for level in range(result.levels_declared):
        stage = "encode"
        try:
            t0 = time.perf_counter()
            bitstream = ns["encode"](_copy(video), level)
            encode_seconds = time.perf_counter() - t0
            if not isinstance(bitstream, (bytes, bytearray, memoryview)):
                raise ContractError(f"encode returned {type(bitstream).__name__}, expected bytes")
            bitstream = bytes(bitstream)
            stage = "decode"
            t0 = time.perf_counter()
            decoded = ns["decode"](bitstream)
            decode_seconds = time.perf_counter() - t0
            stage = "check"
            out = check_video(as_video(decoded, video.fps))
        except ContractError as exc:
            result.errors.append(ErrorRecord("contract", str(exc), stage, clip, level))
            return
        except (Exception, SystemExit) as exc:
            result.errors.append(ErrorRecord("crash", describe(exc, path), stage, clip, level))
            return
        if out.y.shape != video.y.shape:
            result.errors.append(ErrorRecord(
                "mismatch", f"decoded video is {_shape(out)}, source is {_shape(video)}",
                "check", clip, level))
            return
        q = measure(video, out)
        result.levels.append(LevelResult(
            clip=clip, level=level, frames=video.frames, bytes=len(bitstream),
            kbps=kbps(len(bitstream), video.frames, video.fps), psnr_y=q.psnr_y,
            psnr_u=q.psnr_u, psnr_v=q.psnr_v, psnr_yuv=q.psnr_yuv, ssim_y=q.ssim_y,
            encode_seconds=encode_seconds, decode_seconds=decode_seconds,
            bitstream_sha256=hashlib.sha256(bitstream).hexdigest()))


def _copy(video: Video) -> Video:
    """A private copy, so a candidate that writes into its input cannot alter the reference."""
    return Video(video.y.copy(), video.u.copy(), video.v.copy(), video.fps)


def _shape(video: Video) -> str:
    return f"{video.frames} frames of {video.width}x{video.height}"


def describe(exc: BaseException, path: Path) -> str:
    """The exception plus where in the candidate file it happened (not our own frames)."""
    te = traceback.TracebackException.from_exception(exc)
    text = "".join(te.format_exception_only()).strip()
    frames = [f for f in te.stack if Path(f.filename) == path]
    where = "; ".join(f"line {f.lineno} in {f.name}" for f in frames[-3:])
    return f"{text} (at {where})" if where else text
