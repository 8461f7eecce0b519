"""`aivc anchors`: per clip and encoder, four (kbps, PSNR-Y) points, speed and BD-rate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aivc import cli


@pytest.fixture(autouse=True)
def session_cache(aivc_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIVC_CACHE_DIR", str(aivc_cache))


@pytest.mark.slow
def test_the_table_shows_four_points_per_encoder_and_bd_rate_against_x264(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["anchors", "--clips", "carphone:16", "--encoders", "x265,av1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[1]: line for line in lines[2:]}
    assert set(rows) == {"x264", "x265", "av1"}  # x264 added: it is the BD-rate reference
    assert "(anchor)" in rows["x264"]
    for enc in ("x265", "av1"):
        assert len(re.findall(r"\d+\.\d / \d+\.\d\d", rows[enc])) == 4
        assert re.search(r"[+-]\d+\.\d\d%$", rows[enc].rstrip()), rows[enc]


def test_an_unknown_clip_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["anchors", "--clips", "carphone:4,nosuchclip"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown clip 'nosuchclip'" in err
