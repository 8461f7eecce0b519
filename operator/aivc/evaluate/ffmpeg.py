"""Running ffmpeg and ffprobe as subprocesses, with failures turned into one-line errors.

Clips are decoded and anchors encoded by Debian's ffmpeg (never a Python binding), so the
frames we measure are exactly those any other ffmpeg user would get.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

from aivc.errors import AivcError


class StreamInfo(NamedTuple):
    """What ffprobe says about a file's first video stream."""

    width: int
    height: int
    fps: float


def tool(name: str) -> str:
    """Absolute path of `ffmpeg` or `ffprobe`, or a clear error when it is not installed."""
    found = shutil.which(name)
    if found is None:
        raise AivcError(f"{name} is not installed or not on PATH (Debian: apt-get install ffmpeg)")
    return found


def run(args: list[str], what: str, loglevel: str = "error") -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg with `args`; raise AivcError naming `what` and ffmpeg's last words on failure."""
    cmd = [tool("ffmpeg"), "-hide_banner", "-nostdin", "-y", "-v", loglevel, *args]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if proc.returncode != 0:
        raise AivcError(f"ffmpeg could not {what}: {last_line(proc.stderr)}")
    return proc


def last_line(stderr: bytes) -> str:
    """The last non-empty line of a tool's stderr: usually the one that names the cause."""
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def probe(path: Path) -> StreamInfo:
    """Size and frame rate of the first video stream of `path`."""
    cmd = [tool("ffprobe"), "-v", "error", "-select_streams", "v:0", "-show_entries",
           "stream=width,height,avg_frame_rate,r_frame_rate", "-of", "json", str(path)]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise AivcError(f"cannot read video file {path}: {last_line(proc.stderr)}")
    streams = json.loads(proc.stdout or b"{}").get("streams") or []
    if not streams:
        raise AivcError(f"cannot read video file {path}: it has no video stream")
    s = streams[0]
    fps = _rate(s.get("avg_frame_rate")) or _rate(s.get("r_frame_rate")) or 25.0
    return StreamInfo(int(s["width"]), int(s["height"]), fps)


def _rate(text: str | None) -> float | None:
    try:
        value = float(Fraction(text or ""))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def rate_arg(fps: float) -> str:
    """Frame rate as ffmpeg likes it: 29.97 becomes 30000/1001, not a rounded float."""
    return str(Fraction(fps).limit_denominator(1001))


@functools.lru_cache(maxsize=1)
def version() -> str:
    """ffmpeg's own version line, e.g. 'ffmpeg version 5.1.9-0+deb12u1'."""
    proc = subprocess.run([tool("ffmpeg"), "-version"], capture_output=True, check=False)
    first = proc.stdout.decode(errors="replace").splitlines()[:1]
    return first[0].split(" Copyright")[0].strip() if first else "ffmpeg unknown"


@functools.lru_cache(maxsize=1)
def encoders() -> frozenset[str]:
    """Names of the encoders this ffmpeg was built with."""
    proc = subprocess.run([tool("ffmpeg"), "-hide_banner", "-encoders"], capture_output=True,
                          check=False)
    names = set()
    for line in proc.stdout.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            names.add(parts[1])
    return frozenset(names)
