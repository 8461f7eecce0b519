"""The steps of a measurement: encode a clip, decode a level, measure it.

- `encode_clip`: one process encodes every asked level of one clip; the parent copies each
  ``bitstream-LEVEL.bin`` out of the child's working directory (its *file size* is the
  rate; copied in 1 MiB pieces, never held whole) and lets that directory go.
- `decode_level`: a fresh process with a fresh working directory holding only the codec and
  that one bitstream decodes it; with `runs=2` a second fresh process decodes it again and
  the planes must be identical (the determinism check). The planes are read back here,
  header first, so a wrong dtype or shape is refused without loading it, and must match
  the source's exact frame count and sizes.
- `measure`: the numbers, all computed here with `aivc.evaluate.quality` from the source
  and the decoded planes; nothing the candidate reports is used for any of them.

Local runs chain the three (`aivc.sandbox.evaluation`); a sandbox pod runs them in three
containers (`aivc.sandbox.podsteps`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from aivc.codec.contract import Video
from aivc.evaluate.clips import write_yuv
from aivc.evaluate.quality import kbps
from aivc.evaluate.quality import measure as quality
from aivc.evaluate.results import ErrorRecord, LevelResult
from aivc.sandbox.process import ChildRun, Outputs
from aivc.sandbox.protocol import BITSTREAM_FILE, PLANE_FILES, SOURCE_FILE, bitstream_name
from aivc.sandbox.session import Session

COPY_BYTES = 1 << 20
PLANE_SLACK_BYTES = 4096
Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


class Mismatch(Exception):
    """Decoded output that does not match the source's format."""


@dataclass
class Encoded:
    """What one encode process left: a bitstream file per level, and the error that ended it
    if one did (then only the levels finished before it have bitstreams)."""

    clip: str
    bitstreams: dict[int, Path] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)
    """Each level's encode plus its share of the import."""
    import_share: float = 0.0
    error: ErrorRecord | None = None


@dataclass
class Decoded:
    planes: Planes | None
    """None when the planes were copied out for another step to read (`keep`)."""
    seconds: float
    import_seconds: float
    redecoded: bool


def geometry(video: Video) -> dict[str, Any]:
    return {"width": video.width, "height": video.height, "frames": video.frames,
            "fps": video.fps}


def encode_clip(session: Session, clip: str, video: Video, levels: list[int],
                out_dir: Path) -> Encoded:
    """Encode `levels` of `clip` in one process; bitstreams go to `out_dir` (one per clip),
    as ``LEVEL.bin``."""
    enc = session.run("encode", {SOURCE_FILE: lambda p: write_yuv(video, p)},
                      {**geometry(video), "levels": levels}, work=len(levels))
    done = Encoded(clip)
    with enc.outputs:
        done.import_share = enc.import_seconds / max(1, len(levels))
        for level, seconds in enc.level_seconds.items():
            done.seconds[level] = seconds + done.import_share
        finished = levels
        if not enc.ok:
            done.error = _error(enc, clip, enc.level)
            # levels the encoder finished before it failed are still measured
            finished = levels[:levels.index(enc.level)] if enc.level in levels else []
        for level in finished:
            path = out_dir / f"{level}.bin"
            found = take_bitstream(enc.outputs, bitstream_name(level), path,
                                   session.limits.max_bitstream_bytes)
            if found is not None:
                done.error = done.error or ErrorRecord(found[0], found[1], "encode", clip, level)
                return done
            done.bitstreams[level] = path
    return done


def take_bitstream(outputs: Outputs, name: str, dest: Path, cap: int) -> tuple[str, str] | None:
    """Copy a bitstream out; (category, message) when it is missing or over the cap."""
    f = outputs.open(name)
    if f is None:
        return "crash", "the encoder finished but left no bitstream file"
    with f:
        size = os.fstat(f.fileno()).st_size
        if size > cap:
            return "size", f"bitstream of {size} bytes is over the cap of {cap}"
        with open(dest, "wb") as out:
            shutil.copyfileobj(f, out, COPY_BYTES)
    return None


def decode_level(session: Session, clip: str, video: Video, level: int, bitstream: Path,
                 runs: int = 1, keep: Path | None = None) -> Decoded | ErrorRecord:
    """Decode one bitstream in `runs` fresh processes; the first one's planes and time.
    With `keep`, the planes are copied there instead (unchecked: the reader checks them)."""
    first: Planes | None = None
    seconds = import_seconds = 0.0
    for run in range(runs):
        dec = session.run("decode", {BITSTREAM_FILE: bitstream}, {**geometry(video),
                                                                   "levels": [level]})
        with dec.outputs:
            if not dec.ok:
                return _error(dec, clip, level)
            if run == 0:
                seconds, import_seconds = dec.seconds + dec.import_seconds, dec.import_seconds
            if keep is not None:
                copy_planes(dec.outputs, keep, video)
                continue
            try:
                planes = read_planes(dec.outputs, video)
            except Mismatch as exc:
                return ErrorRecord("mismatch", str(exc), "check", clip, level)
        if first is None:
            first = planes
        elif not all(np.array_equal(a, b) for a, b in zip(first, planes, strict=True)):
            return ErrorRecord("mismatch", "decoding the same bitstream twice gave different "
                               "frames (the decoder must be deterministic)", "check", clip, level)
    return Decoded(first, seconds, import_seconds, redecoded=runs > 1)


def copy_planes(outputs: Outputs, dest: Path, video: Video) -> None:
    """A decoder's planes out of its working directory, none bigger than it may be (the
    header of a .npy file is small: `PLANE_SLACK_BYTES`)."""
    dest.mkdir(parents=True, exist_ok=True)
    for plane, name in zip(video.planes(), PLANE_FILES, strict=True):
        f = outputs.open(name)
        if f is None:
            continue
        with f:
            if os.fstat(f.fileno()).st_size > plane.size + PLANE_SLACK_BYTES:
                continue
            with open(dest / name, "wb") as out:
                shutil.copyfileobj(f, out, COPY_BYTES)


def measure(video: Video, clip: str, level: int, bitstream: Path, encoded: Encoded,
            decoded: Decoded) -> LevelResult:
    """The level's row: size and SHA-256 read from the bitstream file (the trusted side's
    copy), qualities from the decoded planes."""
    assert decoded.planes is not None
    nbytes, digest = _size_and_digest(bitstream)
    q = quality(video, Video(*decoded.planes, video.fps))
    return LevelResult(clip=clip, level=level, frames=video.frames, bytes=nbytes,
                       kbps=kbps(nbytes, video.frames, video.fps), psnr_y=q.psnr_y,
                       psnr_u=q.psnr_u, psnr_v=q.psnr_v, psnr_yuv=q.psnr_yuv, ssim_y=q.ssim_y,
                       encode_seconds=encoded.seconds.get(level, 0.0),
                       decode_seconds=decoded.seconds,
                       encode_import_seconds=encoded.import_share,
                       decode_import_seconds=decoded.import_seconds,
                       redecoded=decoded.redecoded, bitstream_sha256=digest)


def _size_and_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        while chunk := f.read(COPY_BYTES):
            digest.update(chunk)
    return size, digest.hexdigest()


def read_planes(outputs: Outputs | Path, ref: Video) -> Planes:
    """Load the decoder's three planes, refusing anything but the source's exact format."""
    want = {"Y": ref.y.shape, "U": ref.u.shape, "V": ref.v.shape}
    planes = []
    for (name, shape), filename in zip(want.items(), PLANE_FILES, strict=True):
        f = _open(outputs, filename)
        if f is None:
            raise Mismatch(f"the decoder wrote no {name} plane")
        with f:
            got, fortran, dtype = _npy_header(f, name)
            _check_plane(name, got, dtype, shape, ref.frames)
            data = np.fromfile(f, dtype=np.uint8, count=int(np.prod(shape)))
        if data.size != int(np.prod(shape)):
            raise Mismatch(f"decoded {name} plane is truncated")
        plane = data.reshape(shape[::-1]).T if fortran else data.reshape(shape)
        planes.append(np.ascontiguousarray(plane))
    return planes[0], planes[1], planes[2]


def _open(outputs: Outputs | Path, name: str) -> BinaryIO | None:
    if isinstance(outputs, Outputs):
        return outputs.open(name)
    path = outputs / name
    if path.is_symlink() or not path.is_file():
        return None
    return open(path, "rb")


def _npy_header(f: Any, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, order and dtype from a .npy header, without reading the data."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read(f)
    except Exception as exc:  # a malformed header is the decoder's output, not our bug
        raise Mismatch(f"decoded {name} plane is unreadable: {exc}") from None
    return tuple(shape), bool(fortran), dtype


def _check_plane(name: str, got: tuple[int, ...], dtype: np.dtype, want: tuple[int, ...],
                 frames: int) -> None:
    if dtype != np.uint8:
        raise Mismatch(f"decoded {name} plane has dtype {dtype}, expected uint8")
    if len(got) != 3:
        raise Mismatch(f"decoded {name} plane has shape {got}, expected [T,H,W] = {want}")
    if got[0] != frames:
        raise Mismatch(f"decoded {got[0]} frames, the source has {frames}")
    if got != want:
        raise Mismatch(f"decoded {name} plane has shape {got}, expected {want}")


def _error(run: ChildRun, clip: str, level: int) -> ErrorRecord:
    assert run.category is not None
    return ErrorRecord(run.category, run.message, run.stage, clip, level)
