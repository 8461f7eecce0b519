"""The local-mode store: one YAML file per document in a run directory.

Layout under the run directory::

    campaigns/NAME.yaml      Campaign documents
    experiments/NAME.yaml    Experiment documents
    sources/NAME.py          each experiment's candidate codec
    results/NAME.json        each experiment's full evaluation results

Every write goes to a temporary file that is fsynced and then renamed over the old one, so
a process killed at any instant leaves either the old or the new document, never half of
one. Read-modify-write operations hold an exclusive `flock` on the run directory, so
`aivc approve` can patch an experiment while `aivc run` is driving the same directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from aivc.store.base import KINDS, StoreError, merge_patch, new_document

_DIRS = {"Campaign": "campaigns", "Experiment": "experiments"}
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write `data` to `path` so that readers and crashes never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class LocalStore:
    """`ExperimentStore` over a run directory (see the module docstring for the layout)."""

    def __init__(self, run_dir: Path) -> None:
        self.root = Path(run_dir)

    # ---- documents ----------------------------------------------------------------------

    def _path(self, kind: str, name: str) -> Path:
        if kind not in KINDS:
            raise StoreError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
        if not name or "/" in name or name.startswith("."):
            raise StoreError(f"invalid {kind} name {name!r}")
        return self.root / _DIRS[kind] / f"{name}.yaml"

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        doc = yaml.load(text, Loader=_Loader)
        if not isinstance(doc, dict):
            raise StoreError(f"{path}: not a document")
        return doc

    def _write(self, path: Path, doc: dict[str, Any]) -> None:
        atomic_write(path, yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run directory's write lock (released by the kernel if the process dies)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self._read(self._path(kind, name))

    def list(self, kind: str, campaign: str | None = None) -> list[dict[str, Any]]:
        folder = self._path(kind, "x").parent
        docs = [d for p in sorted(folder.glob("*.yaml")) if (d := self._read(p)) is not None]
        if campaign is not None and kind == "Experiment":
            docs = [d for d in docs if (d.get("spec") or {}).get("campaign") == campaign]
        return docs

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        kind, name = doc.get("kind", ""), (doc.get("metadata") or {}).get("name", "")
        path = self._path(kind, name)
        if "uid" not in doc.get("metadata", {}):
            full = new_document(kind, name, doc.get("spec") or {})
            full["metadata"] = {**full["metadata"], **doc["metadata"]}
            full["status"] = doc.get("status") or {}
            doc = full
        with self.locked():
            if path.exists():
                raise StoreError(f"{kind} {name} already exists")
            self._write(path, doc)
        return doc

    def _update(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        path = self._path(kind, name)
        with self.locked():
            doc = self._read(path)
            if doc is None:
                raise StoreError(f"{kind} {name} not found in {self.root}")
            new = merge_patch(doc, patch)
            self._write(path, new)
        return dict(new)

    def patch(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        if "status" in patch:
            raise StoreError("use patch_status to change status")
        return self._update(kind, name, patch)

    def patch_status(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self._update(kind, name, {"status": patch})

    def replace_spec(self, kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Swap the whole spec in one write (a merge patch cannot drop keys it does not name)."""
        path = self._path(kind, name)
        with self.locked():
            doc = self._read(path)
            if doc is None:
                raise StoreError(f"{kind} {name} not found in {self.root}")
            doc["spec"] = spec
            self._write(path, doc)
        return doc

    def delete(self, kind: str, name: str) -> None:
        with self.locked(), contextlib.suppress(FileNotFoundError):
            self._path(kind, name).unlink()

    # ---- sources and results -----------------------------------------------------------

    def source_path(self, name: str) -> Path:
        self._path("Experiment", name)  # validates the name
        return self.root / "sources" / f"{name}.py"

    def results_path(self, name: str) -> Path:
        self._path("Experiment", name)
        return self.root / "results" / f"{name}.json"

    def put_source(self, name: str, source: str) -> None:
        atomic_write(self.source_path(name), source)

    def get_source(self, name: str) -> str | None:
        try:
            return self.source_path(name).read_text()
        except FileNotFoundError:
            return None

    def put_results(self, name: str, results: dict[str, Any]) -> None:
        atomic_write(self.results_path(name), json.dumps(results, indent=1))

    def get_results(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.results_path(name).read_text()))
        except FileNotFoundError:
            return None


DEFAULT_RUN_DIR = Path("runs/local")


def open_store(run_dir: Path) -> LocalStore:
    """The store of an existing run directory; a one-line error when there is none."""
    if not (Path(run_dir) / "campaigns").is_dir():
        raise StoreError(f"{run_dir} holds no campaign yet: start one with "
                         f"`aivc run CAMPAIGN.yaml --run-dir {run_dir}`")
    return LocalStore(run_dir)
