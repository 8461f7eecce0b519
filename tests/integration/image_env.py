"""Build the sandbox image's Python environment here, without Docker, and keep it cached.

The Dockerfile creates a virtualenv and runs `sandbox_image/install_env.sh` on the pinned
requirements; this module runs the same script into `.cache/image-venvs/`. The one
difference is torch: the image installs the CUDA build of the pinned version from the
PyTorch index, here `CPU_TORCH` (a constraints file) selects the CPU build of the same
version, which lies on this machine's disk. The dependencies are cached under a key made
of every file that decides them; the package itself is reinstalled from the working tree on
every run, so the test always sees the current code. A cold build takes about two minutes.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGE_DIR = ROOT / "sandbox_image"
CACHE = ROOT / ".cache" / "image-venvs"
CPU_TORCH = "torch==2.13.0+cpu\n"
"""Constraint that stands in the CPU wheel for the image's CUDA build of the same torch."""
SOURCES = ("pyproject.toml", "README.md", "crds", "operator")
"""What the Dockerfiles COPY into /src before installing the package."""


def _python() -> str:
    """The interpreter the dev venv was made from (a venv of a venv would chain to it)."""
    return getattr(sys, "_base_executable", sys.executable)


def cache_key(requirements: str) -> str:
    digest = hashlib.sha256()
    for name in (requirements, "requirements-base.txt", "install_env.sh"):
        digest.update((IMAGE_DIR / name).read_bytes())
    digest.update(CPU_TORCH.encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:16]


def copy_sources(dest: Path) -> Path:
    """The package sources as the image build sees them (.dockerignore's allow-list)."""
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, symlinks=True, ignore=skip)
        else:
            shutil.copy2(src, dest / name)
    return dest


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip()[-3000:]
        raise AssertionError(f"{what} failed ({proc.returncode}):\n{tail}")


def install(venv: Path, requirements: str, sources: Path) -> None:
    constraints = venv / "cpu-torch-constraints.txt"
    constraints.write_text(CPU_TORCH)
    _run(["sh", str(IMAGE_DIR / "install_env.sh"), str(venv), str(IMAGE_DIR / requirements),
          str(sources), "-c", str(constraints)], f"install_env.sh {requirements}")


@contextmanager
def image_venv(requirements: str, sources: Path) -> Iterator[Path]:
    """A venv holding `requirements` (cached) and the package from `sources` (fresh).

    The venv stays locked while the caller uses it, so parallel runs never see it half-built.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    name = f"{Path(requirements).stem}-{cache_key(requirements)}"
    venv = CACHE / name
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another pytest run may be building the same one
        if not (venv / "complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            _run([_python(), "-m", "venv", str(venv)], "python -m venv")
            install(venv, requirements, sources)
            (venv / "complete").touch()
            for stale in CACHE.glob(f"{Path(requirements).stem}-*"):
                if stale.is_dir() and stale != venv:
                    shutil.rmtree(stale, ignore_errors=True)
                    stale.with_suffix(".lock").unlink(missing_ok=True)
        else:
            install(venv, requirements, sources)  # deps already satisfied: only the package
        yield venv
