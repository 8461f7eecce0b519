"""The bench runner: sections by module name, missing ones skipped, JSON and markdown out."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import aivc.bench
from aivc.bench import __main__ as runner

FAKE = '''
def run():
    return {"title": "Fake section", "rows": [{"what": "speed", "fps": 12.5},
            {"what": "memory", "fps": 3.0, "extra": "x"}], "notes": "made up for the test"}
'''


@pytest.fixture
def sections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Section modules written to a folder that `aivc.bench` imports from during the test."""
    monkeypatch.setattr(aivc.bench, "__path__", [*aivc.bench.__path__, str(tmp_path)])
    yield tmp_path
    for name in ("fake", "broken", "absent"):
        sys.modules.pop(f"aivc.bench.{name}", None)


def test_sections_run_in_order_and_a_missing_module_is_skipped(
        sections: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (sections / "fake.py").write_text(FAKE)
    monkeypatch.setattr(runner, "SECTIONS", ("absent", "fake"))
    out = tmp_path / "out"
    assert runner.main(["--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert list(doc["sections"]) == ["fake"]
    fake = doc["sections"]["fake"]
    assert fake["title"] == "Fake section" and fake["rows"][0] == {"what": "speed", "fps": 12.5}
    assert "absent" in capsys.readouterr().err
    md = (out / "results.md").read_text()
    assert "## Fake section" in md
    assert "| what | fps | extra |" in md and "| memory | 3 | x |" in md
    assert "made up for the test" in md


def test_only_runs_the_named_section(sections: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (sections / "fake.py").write_text(FAKE)
    (sections / "broken.py").write_text("raise RuntimeError('must not be imported')\n")
    monkeypatch.setattr(runner, "SECTIONS", ("broken", "fake"))
    assert runner.main(["--out", str(tmp_path), "--only", "fake"]) == 0
    assert list(json.loads((tmp_path / "results.json").read_text())["sections"]) == ["fake"]


def test_a_section_whose_own_import_fails_is_not_mistaken_for_a_missing_one(
        sections: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (sections / "broken.py").write_text("import aivc_no_such_dependency\n")
    monkeypatch.setattr(runner, "SECTIONS", ("broken",))
    with pytest.raises(ModuleNotFoundError, match="aivc_no_such_dependency"):
        runner.main(["--out", str(tmp_path)])

