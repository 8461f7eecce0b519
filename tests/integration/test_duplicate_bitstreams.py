"""A candidate the LLM wrote whose code differs but whose bitstreams on the validation clip
are the very bits an earlier experiment wrote is not evaluated again: validation (real
sandbox) fails it as `duplicate`, naming the earlier one, so the LLM designs anew. A
declared parameter block that does not parse fails validation as `contract`."""

from __future__ import annotations

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


def _add(lab, seq: int, source: str, planner: str) -> str:
    name = f"lab-{seq:04d}"
    lab.store.create(new_document("Experiment", name, {"campaign": "lab", "sequence": seq}))
    lab.store.patch_status("Experiment", name, {"phase": "Validating", "origin": {"planner": planner}})
    lab.store.put_source(name, source)
    return name


def _validate(lab, name: str):
    exp = next(e for e in experiments(lab.store) if e.name == name)
    work = lab.validate(exp, experiments(lab.store))
    lab.store.patch_status("Experiment", name, {"validation": work.status["validation"].to_json()})
    return work


@pytest.mark.parametrize("planner", ["llm", "search"])
def test_the_same_bits_from_other_code_are_a_duplicate_for_the_llm(tmp_path: Path, planner: str):
    lab = lab_history.lab(tmp_path, ScriptedPlanner({}), lab_history.campaign())
    first, second, other = _add(lab, 5, BASE, "llm"), _add(lab, 6, SAME_BITS, planner), \
        _add(lab, 7, BASE.replace("LEVELS = ", "LEVELS = 1 + ", 1), planner)

    done = _validate(lab, first)
    assert isinstance(done.event, ValidationPassed)
    digest = done.status["validation"].bitstreams
    assert digest and len(digest) == 32

    again = _validate(lab, second)
    assert again.status["validation"].bitstreams == digest, "an unused table leaves the bits alone"
    if planner == "llm":
        assert isinstance(again.event, ValidationFailed) and again.event.category == "duplicate"
        assert "identical bitstreams to lab-0005" in again.event.message
    else:  # a search's parameters may matter only on the real clips
        assert isinstance(again.event, ValidationPassed)

    changed = _validate(lab, other)
    assert isinstance(changed.event, ValidationPassed)
    assert changed.status["validation"].bitstreams != digest


def test_a_parameter_block_that_does_not_parse_fails_validation_as_contract(tmp_path: Path):
    lab = lab_history.lab(tmp_path, ScriptedPlanner({}), lab_history.campaign())
    broken = BASE.replace("LEVELS = 4", "# --- PARAMETERS (rewritten by the search planner) ---\n"
                          "LEVELS = 4  # int: 1..8\n# --- END PARAMETERS ---", 1)
    name = _add(lab, 5, broken, "llm")
    work = _validate(lab, name)
    assert isinstance(work.event, ValidationFailed) and work.event.category == "contract"
    assert "PARAMETERS block" in work.event.message and "KIND[: DOMAIN]; MEANING" in work.event.message
