"""The three steps of a sandbox pod, each in its own container (`aivc.kube.jobs`).

1. ``encode`` (an init container, candidate code): each clip is encoded at every asked level
   in one sandboxed process; the bitstreams go to the exchange volume as
   ``CLIP/LEVEL.bin`` with a manifest of the clips' geometry (no pixels), and the timings and
   errors to a report volume that only the measuring container mounts.
2. ``decode`` (an init container, candidate code, an image view without the clips): each
   bitstream is decoded in a fresh sandboxed process holding only that bitstream, twice
   for every level (``--redecode all``) or for one level per clip drawn from the operating
   system's randomness (``sample``); the raw planes of each run go to the decoded volume
   as ``CLIP/LEVEL/RUN/{y,u,v}.npy``, the timings to ``decode.json`` there.
3. ``measure`` (the pod's only container, another uid, no candidate code): reads the source
   clips, the bitstream sizes, the planes and both reports, compares the runs, computes
   every number with the same functions as a local run (`aivc.sandbox.steps.measure`),
   prints the results JSON (the pod log) and writes the summary (the termination message).

Everything the measuring step reads was written by a container that ran candidate code, so
it is read as hostile: reports are size-capped JSON whose fields are type-checked, planes
are checked header first against the source's exact format, and a bitstream's size is its
file's size.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aivc.codec.contract import Video
from aivc.errors import AivcError
from aivc.evaluate.results import (
    ClipInfo,
    ErrorRecord,
    EvaluationResult,
    LevelResult,
    merge_sandbox,
)
from aivc.sandbox import evaluation
from aivc.sandbox.limits import SandboxLimits
from aivc.sandbox.steps import (
    Decoded,
    Encoded,
    Mismatch,
    decode_level,
    encode_clip,
    geometry,
    measure,
    read_planes,
)
from aivc.sandbox.workspace import Workspace

MANIFEST = "manifest.json"
ENCODE_REPORT = "encode.json"
DECODE_REPORT = "decode.json"
REPORT_CAP_BYTES = 1 << 20


def encode_step(codec: Path, videos: list[tuple[str, Video]], asked: list[int] | None,
                bitstreams: Path, report_dir: Path, limits: SandboxLimits) -> EvaluationResult:
    """Step 1: bitstreams and a manifest to `bitstreams`, the report to `report_dir`."""
    start = time.perf_counter()
    source = codec.read_bytes()
    result = EvaluationResult(mode="encode", codec_sha256=hashlib.sha256(source).hexdigest(),
                              clips=[ClipInfo(n, v.width, v.height, v.frames, v.fps)
                                     for n, v in videos])
    manifest: dict[str, Any] = {"codec_sha256": result.codec_sha256, "clips": [], "failed": True}
    encoded: list[dict[str, Any]] = []
    scan = evaluation.check_source(source, limits)
    if isinstance(scan, ErrorRecord):
        result.errors.append(scan)
    else:
        with Workspace(source) as workspace:
            session = evaluation.open_session(workspace, scan, limits, result)
            if session is not None:
                levels = evaluation.pick_levels(asked, session.levels)
                manifest["failed"] = not _encode_all(session, videos, levels, bitstreams,
                                                     manifest, encoded, result)
                result.sandbox = session.isolation()
    manifest["levels_declared"] = result.levels_declared
    result.wall_seconds = time.perf_counter() - start
    _write_json(bitstreams / MANIFEST, manifest)
    _write_json(report_dir / ENCODE_REPORT, {**result.to_dict(), "encoded": encoded})
    return result


def _encode_all(session: Any, videos: list[tuple[str, Video]], levels: list[int], out: Path,
                manifest: dict[str, Any], encoded: list[dict[str, Any]],
                result: EvaluationResult) -> bool:
    for i, (name, video) in enumerate(videos):
        clip_dir = out / str(i)
        clip_dir.mkdir(parents=True, exist_ok=True)
        enc = encode_clip(session, name, video, levels, clip_dir)
        if enc.bitstreams:
            manifest["clips"].append({"index": i, "name": name, **geometry(video),
                                      "levels": sorted(enc.bitstreams)})
        encoded += [{"clip": i, "level": lv, "seconds": enc.seconds.get(lv, 0.0),
                     "import": enc.import_share} for lv in sorted(enc.bitstreams)]
        if enc.error is not None:  # what was finished is still decoded and measured
            result.errors.append(enc.error)
            return False
    return True


def decode_step(codec: Path, bitstreams: Path, decoded: Path, limits: SandboxLimits,
                redecode: str = "all") -> EvaluationResult:
    """Step 2: every bitstream of the manifest decoded into `decoded`, with its report."""
    start = time.perf_counter()
    source = codec.read_bytes()
    manifest = _read_json(bitstreams / MANIFEST)
    result = EvaluationResult(mode="decode", codec_sha256=hashlib.sha256(source).hexdigest())
    runs: list[dict[str, Any]] = []
    scan = evaluation.check_source(source, limits)
    if manifest.get("clips") and not isinstance(scan, ErrorRecord):
        with Workspace(source) as workspace:
            session = evaluation.open_session(workspace, scan, limits, result,
                                              levels=int(manifest.get("levels_declared") or 0))
            if session is not None:
                for clip in manifest.get("clips") or []:
                    if not _decode_clip(session, clip, bitstreams, decoded, redecode, runs, result):
                        break
                result.sandbox = session.isolation()
    result.wall_seconds = time.perf_counter() - start
    _write_json(decoded / DECODE_REPORT, {**result.to_dict(), "decoded": runs})
    return result


def _decode_clip(session: Any, clip: dict[str, Any], bitstreams: Path, decoded: Path,
                 redecode: str, runs: list[dict[str, Any]], result: EvaluationResult) -> bool:
    index, levels = int(clip["index"]), [int(x) for x in clip["levels"]]
    shape = Video(*_empty(clip), float(clip["fps"]))
    sampled = levels if redecode == "all" else [levels[secrets.randbelow(len(levels))]]
    for level in levels:
        count = 2 if level in sampled else 1
        for run in range(count):
            out = decode_level(session, str(clip["name"]), shape, level,
                               bitstreams / str(index) / f"{level}.bin", 1,
                               keep=decoded / str(index) / str(level) / str(run))
            if isinstance(out, ErrorRecord):
                result.errors.append(out)
                return False
            if run == 0:
                runs.append({"clip": index, "level": level, "seconds": out.seconds,
                             "import": out.import_seconds, "runs": count})
    return True


def _empty(clip: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Zero-strided arrays with the clip's shape: what reading planes back checks against."""
    import numpy as np

    t, h, w = int(clip["frames"]), int(clip["height"]), int(clip["width"])
    return (np.broadcast_to(np.uint8(0), (t, h, w)),
            np.broadcast_to(np.uint8(0), (t, h // 2, w // 2)),
            np.broadcast_to(np.uint8(0), (t, h // 2, w // 2)))


def measure_step(mode: str, codec: Path, videos: list[tuple[str, Video]], bitstreams: Path,
                 decoded: Path, report_dir: Path) -> EvaluationResult:
    """Step 3: the results, from the source clips and what the two steps left."""
    enc_report = _read_json(report_dir / ENCODE_REPORT)
    dec_report = _read_json(decoded / DECODE_REPORT)
    source = codec.read_bytes()
    result = EvaluationResult(mode=mode,
                              codec_sha256=hashlib.sha256(source).hexdigest(),
                              levels_declared=_int(enc_report.get("levels_declared")),
                              clips=[ClipInfo(n, v.width, v.height, v.frames, v.fps)
                                     for n, v in videos])
    result.errors = [*_errors(enc_report), *_errors(dec_report)]
    result.sandbox = merge_sandbox(_dict(enc_report.get("sandbox")), _dict(dec_report.get("sandbox")))
    result.wall_seconds = float(enc_report.get("wall_seconds") or 0) + \
        float(dec_report.get("wall_seconds") or 0)
    encoded = {(_int(e.get("clip")), _int(e.get("level"))): e
               for e in enc_report.get("encoded") or [] if isinstance(e, dict)}
    for entry in dec_report.get("decoded") or []:
        if isinstance(entry, dict):
            out = _measure_one(videos, entry, encoded, bitstreams, decoded)
            if isinstance(out, LevelResult):
                result.levels.append(out)
            else:
                result.errors.append(out)
    result.errors.sort(key=lambda e: (next((i for i, c in enumerate(result.clips)
                                            if c.name == e.clip), -1), e.level))
    return result


def _measure_one(videos: list[tuple[str, Video]], entry: dict[str, Any],
                 encoded: dict[tuple[int, int], dict[str, Any]], bitstreams: Path,
                 decoded: Path) -> LevelResult | ErrorRecord:
    i, level, count = _int(entry.get("clip")), _int(entry.get("level")), _int(entry.get("runs"))
    if not 0 <= i < len(videos) or (i, level) not in encoded:
        raise AivcError(f"the decode report names clip {i} level {level}, which was not encoded")
    name, video = videos[i]
    where = decoded / str(i) / str(level)
    try:
        planes = read_planes(where / "0", video)
        if count > 1 and any(not (a == b).all() for a, b in
                             zip(planes, read_planes(where / "1", video), strict=True)):
            return ErrorRecord("mismatch", "decoding the same bitstream twice gave different "
                               "frames (the decoder must be deterministic)", "check", name, level)
    except Mismatch as exc:
        return ErrorRecord("mismatch", str(exc), "check", name, level)
    enc = encoded[(i, level)]
    share = float(enc.get("import") or 0.0)
    return measure(video, name, level, bitstreams / str(i) / f"{level}.bin",
                   Encoded(name, seconds={level: float(enc.get("seconds") or 0.0)},
                           import_share=share),
                   Decoded(planes, float(entry.get("seconds") or 0.0),
                           float(entry.get("import") or 0.0), redecoded=count > 1))


def _errors(report: dict[str, Any]) -> list[ErrorRecord]:
    out = []
    for e in report.get("errors") or []:
        if isinstance(e, dict):
            try:
                out.append(ErrorRecord(str(e.get("category")), str(e.get("message") or ""),
                                       str(e.get("stage") or ""), str(e.get("clip") or ""),
                                       _int(e.get("level"), -1)))
            except ValueError:
                out.append(ErrorRecord("crash", "a step reported an unknown error category"))
    return out


def _int(value: Any, default: int = 0) -> int:
    return value if type(value) is int else default


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = f.read(REPORT_CAP_BYTES + 1)
    except OSError as exc:
        raise AivcError(f"{path}: {exc.strerror or exc}") from None
    if len(data) > REPORT_CAP_BYTES:
        raise AivcError(f"{path} is over {REPORT_CAP_BYTES} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise AivcError(f"{path} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise AivcError(f"{path} is not a JSON object")
    return doc


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, default=asdict))
