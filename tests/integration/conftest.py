"""Fixtures of the integration suites."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """Sandbox scratch space goes to this test's own directory (leftovers can be checked)."""
    saved, tempfile.tempdir = tempfile.tempdir, str(tmp_path)
    try:
        yield tmp_path
    finally:
        tempfile.tempdir = saved
