"""One clip at one level: encode in one process, decode twice in two others, measure here.

The encoder's working directory holds the source frames; the parent copies the bitstream
out, deletes that directory, and gives each decoder a new one holding only the bitstream.
The decoded planes are read back here (header first, so a wrong dtype or shape is caught
without loading it), checked against the source's exact frame count and sizes, compared
between the two decodes, and measured with `aivc.evaluate.quality`. Bytes are the size of
the bitstream file; nothing the candidate reports is used for any number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aivc.codec.contract import Video
from aivc.evaluate.clips import write_yuv
from aivc.evaluate.quality import kbps, measure
from aivc.evaluate.results import ErrorRecord, LevelResult
from aivc.sandbox.limits import SandboxLimits
from aivc.sandbox.process import ChildRun, run_child
from aivc.sandbox.protocol import BITSTREAM_FILE, PLANE_FILES, SOURCE_FILE
from aivc.sandbox.workspace import Workspace, remove


@dataclass
class Session:
    """What every process of one run shares."""

    workspace: Workspace
    limits: SandboxLimits
    preimports: tuple[str, ...]
    levels: int
    threads: int = 1
    root_layers: bool = True
    """False: skip the layers that need root even when running as root (to test the others)."""

    def run(self, mode: str, inputs: dict[str, Any], request: dict[str, Any]) -> tuple[ChildRun, Path]:
        workdir, rootfs = self.workspace.new_workdir(mode, inputs)
        req = {"mode": mode, "rootfs": str(rootfs), "preimports": list(self.preimports),
               "levels": self.levels, "root_layers": self.root_layers, **request}
        return run_child(req, workdir, self.limits, self.threads), workdir


class Mismatch(Exception):
    """Decoded output that does not match the source's format."""


def roundtrip(session: Session, clip: str, video: Video, level: int) -> LevelResult | ErrorRecord:
    geometry = {"width": video.width, "height": video.height, "frames": video.frames,
                "fps": video.fps, "level": level}
    enc, enc_dir = session.run("encode", {SOURCE_FILE: lambda p: write_yuv(video, p)}, geometry)
    try:
        if not enc.ok:
            return _error(enc, clip, level)
        bitstream = _take_bitstream(enc_dir, session.limits, clip, level)
    finally:
        remove(enc_dir)
    if isinstance(bitstream, ErrorRecord):
        return bitstream
    outputs = []
    decode_seconds = 0.0
    for _ in range(2):
        dec, dec_dir = session.run("decode", {BITSTREAM_FILE: bitstream}, geometry)
        try:
            if not dec.ok:
                return _error(dec, clip, level)
            decode_seconds = decode_seconds or dec.seconds
            outputs.append(read_planes(dec_dir, video))
        except Mismatch as exc:
            return ErrorRecord("mismatch", str(exc), "check", clip, level)
        finally:
            remove(dec_dir)
    if not all(np.array_equal(a, b) for a, b in zip(outputs[0], outputs[1], strict=True)):
        return ErrorRecord("mismatch", "decoding the same bitstream twice gave different frames "
                                       "(the decoder must be deterministic)", "check", clip, level)
    q = measure(video, Video(*outputs[0], video.fps))
    return LevelResult(clip=clip, level=level, frames=video.frames, bytes=len(bitstream),
                       kbps=kbps(len(bitstream), video.frames, video.fps), psnr_y=q.psnr_y,
                       psnr_u=q.psnr_u, psnr_v=q.psnr_v, psnr_yuv=q.psnr_yuv, ssim_y=q.ssim_y,
                       encode_seconds=enc.seconds, decode_seconds=decode_seconds)


def _take_bitstream(workdir: Path, limits: SandboxLimits, clip: str,
                    level: int) -> bytes | ErrorRecord:
    """The bitstream file's bytes: their count is the rate, whatever the encoder said."""
    path = workdir / BITSTREAM_FILE
    if path.is_symlink() or not path.is_file():
        return ErrorRecord("crash", "the encoder finished but left no bitstream file",
                           "encode", clip, level)
    size = path.stat().st_size
    if size > limits.max_bitstream_bytes:
        return ErrorRecord("size", f"bitstream of {size} bytes is over the cap of "
                                   f"{limits.max_bitstream_bytes}", "encode", clip, level)
    return path.read_bytes()


def read_planes(workdir: Path, ref: Video) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Load the decoder's three planes, refusing anything but the source's exact format."""
    want = {"Y": ref.y.shape, "U": ref.u.shape, "V": ref.v.shape}
    planes = []
    for (name, shape), filename in zip(want.items(), PLANE_FILES, strict=True):
        path = workdir / filename
        if path.is_symlink() or not path.is_file():
            raise Mismatch(f"the decoder wrote no {name} plane")
        with open(path, "rb") as f:
            got, fortran, dtype = _npy_header(f, name)
            _check_plane(name, got, dtype, shape, ref.frames)
            data = np.fromfile(f, dtype=np.uint8, count=int(np.prod(shape)))
        if data.size != int(np.prod(shape)):
            raise Mismatch(f"decoded {name} plane is truncated")
        plane = data.reshape(shape[::-1]).T if fortran else data.reshape(shape)
        planes.append(np.ascontiguousarray(plane))
    return planes[0], planes[1], planes[2]


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
