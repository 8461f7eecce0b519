"""A candidate whose code differs but whose bitstreams on the validation clip are the very
bits an earlier experiment wrote is not evaluated again: validation (real sandbox) fails it
as `duplicate`, naming the earlier one, so the LLM designs anew."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from aivc.codec.reference import reference_source
from aivc.research.phases import ValidationFailed, ValidationPassed
from aivc.store.base import new_document
from tests.fakes import lab_history
from tests.fakes.lab_history import experiments
from tests.fakes.scripted_planner import ScriptedPlanner

BASE = reference_source("intra-dct")
SAME_BITS = BASE + "\n\nUNUSED_TABLE = [n * n for n in range(8)]  # changes the code, not the bits\n"


def _add(lab, seq: int, source: str) -> str:
    name = f"lab-{seq:04d}"
    lab.store.create(new_document("Experiment", name, {"campaign": "lab", "sequence": seq}))
    lab.store.patch_status("Experiment", name, {"phase": "Validating"})
    lab.store.put_source(name, source)
    return name


def _validate(lab, name: str):
    exp = next(e for e in experiments(lab.store) if e.name == name)
    work = lab.validate(exp, experiments(lab.store))
    lab.store.patch_status("Experiment", name, {"validation": work.status["validation"].to_json()})
    return work


@pytest.mark.parametrize("planner", ["llm", "search"])
def test_the_same_bits_from_other_code_are_a_duplicate_for_the_llm(tmp_path: Path, planner: str):
    spec = replace(lab_history.campaign(), planner=planner)
    lab = lab_history.lab(tmp_path, ScriptedPlanner({}), spec)
    first, second, other = _add(lab, 5, BASE), _add(lab, 6, SAME_BITS), \
        _add(lab, 7, BASE.replace("LEVELS = ", "LEVELS = 1 + ", 1))

    done = _validate(lab, first)
    assert isinstance(done.event, ValidationPassed)
    digest = done.status["validation"].bitstreams
    assert digest and len(digest) == 32

    again = _validate(lab, second)
    assert again.status["validation"].bitstreams == digest, "an unused table leaves the bits alone"
    if planner == "llm":
        assert isinstance(again.event, ValidationFailed) and again.event.category == "duplicate"
        assert "identical bitstreams to lab-0005" in again.event.message
    else:  # the search planner's parameters may matter only on the real clips
        assert isinstance(again.event, ValidationPassed)

    changed = _validate(lab, other)
    assert isinstance(changed.event, ValidationPassed)
    assert changed.status["validation"].bitstreams != digest
