"""Small helpers for the on-disk caches of decoded clips and anchor curves.

Entries are keyed by what determines their content (the source file's identity plus the
settings), so a changed source or setting is a miss, never a stale hit. Writes go to a
temporary file that is renamed into place, so a reader never sees half an entry even when
several processes fill the same cache at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def source_identity(path: Path) -> str:
    """Resolved path, size and modification time: cheap, and changes whenever the file does."""
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def digest(doc: Any) -> str:
    """A stable hex key for a JSON-able document."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def slug(text: str, limit: int = 40) -> str:
    """A file-name-safe, human-readable prefix for a cache entry."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[-limit:].strip("._") or "entry"


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` then rename tmp onto `path`; remove tmp if anything fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))
