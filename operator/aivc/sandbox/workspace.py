"""Scratch directories: one fresh, private input directory per child process.

All of a run's directories live under one temporary base that the parent removes at the
end, whatever happened. Each child gets its own directory holding only its inputs (the
codec source plus the source frames, or the bitstream) and an empty directory its private
root file system is mounted on. A child with namespaces reads its inputs and leaves that
directory behind for a fresh, capped one of its own (`aivc.sandbox.fsview`); without
namespaces it works in it. As root the directory is handed to the sandbox user; the base
stays the parent's (mode 0711: enterable, not listable). Bitstreams the parent keeps
between an encode and its decodes live under ``bitstreams/``.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from aivc.sandbox.protocol import CODEC_FILE, SANDBOX_GID, SANDBOX_UID

Writer = Callable[[Path], None]


class Workspace:
    """The base directory of one sandbox run; a context manager that removes it."""

    def __init__(self, codec_source: bytes) -> None:
        self.codec_source = codec_source
        self.base = Path(tempfile.mkdtemp(prefix="aivc-sandbox-")).resolve()
        os.chmod(self.base, 0o711)
        self.bitstreams = self.base / "bitstreams"
        self.bitstreams.mkdir(mode=0o700)
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        remove(self.base)

    def new_workdir(self, mode: str, inputs: dict[str, bytes | Path | Writer]) -> tuple[Path, Path]:
        """A fresh directory with the codec and `inputs`, and an empty rootfs directory."""
        with self._lock:
            n = next(self._ids)
        workdir = self.base / f"{n:04d}-{mode}"
        rootfs = self.base / f"{n:04d}-root"
        workdir.mkdir(mode=0o700)
        rootfs.mkdir(mode=0o755)
        (workdir / CODEC_FILE).write_bytes(self.codec_source)
        for name, content in inputs.items():
            if isinstance(content, bytes):
                (workdir / name).write_bytes(content)
            elif isinstance(content, Path):
                shutil.copyfile(content, workdir / name)
            else:
                content(workdir / name)
        if os.geteuid() == 0:
            for path in (workdir, *workdir.iterdir()):
                os.chown(path, SANDBOX_UID, SANDBOX_GID)
        return workdir, rootfs


def remove(path: Path) -> None:
    """Delete a tree a candidate may have left odd modes in; never raises."""

    def retry(func: Callable[..., object], target: str, _exc: object) -> None:
        try:
            os.chmod(os.path.dirname(target) or target, 0o700)
            func(target)
        except OSError:
            pass

    shutil.rmtree(path, onerror=retry)
    shutil.rmtree(path, ignore_errors=True)
