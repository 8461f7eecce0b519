"""Fixtures shared by every suite: one decoded-clip and anchor cache per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from aivc.codec.contract import Video
from aivc.evaluate.clips import load_clip


@pytest.fixture(scope="session")
def aivc_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache dir for decoded clips and anchor curves, shared by the whole session."""
    return tmp_path_factory.mktemp("aivc-cache")


@pytest.fixture(scope="session")
def carphone_short(aivc_cache: Path) -> Video:
    """The first 10 frames of carphone (176x144): real frames, decoded once per session."""
    return load_clip("carphone:10", aivc_cache)
