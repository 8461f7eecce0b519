"""Prompts are data files rendered strictly: no missing field, no unknown field, no leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from aivc.llm import templates
from aivc.llm.templates import PromptError, fields, render

EXPECTED = {"system", "rule", "campaign", "parent", "propose", "program", "explore", "duplicate",
            "repair", "analyze", "review", "reask"}


def test_every_prompt_the_planner_uses_is_a_data_file():
    assert set(templates.names()) >= EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_prompt_renders_with_its_fields_and_leaves_no_placeholder(name):
    values = {f: f"<{f}-value ${{x}} {{braces}}>" for f in fields(name)}
    text = render(name, **values)
    for f in fields(name):
        assert f"<{f}-value" in text
    assert "$" not in text.replace("${x}", "")


def test_a_missing_field_is_an_error_naming_it():
    with pytest.raises(PromptError, match=r"missing fields \['tool'\]"):
        render("reask", error="x")


def test_an_unexpected_field_is_an_error_too():
    values = {f: "v" for f in fields("reask")}
    with pytest.raises(PromptError, match="unexpected fields"):
        render("reask", **values, extra="y")


def test_an_unknown_template_is_an_error():
    with pytest.raises(PromptError, match="no prompt template"):
        render("nonexistent")


def test_every_template_is_used_by_the_planner():
    root = Path(templates.__file__).parent.parent / "research"
    code = "".join(p.read_text() for p in root.glob("*.py")) + Path(templates.__file__).with_name("asking.py").read_text()
    assert {n for n in templates.names() if f'"{n}"' not in code} == set()


def test_the_system_prompt_teaches_the_contract_and_the_sandbox_rules():
    text = render("system", goal="g", rule="the rule")
    for must in ("LEVELS", "def encode(video, level) -> bytes", "def decode(bitstream)",
                 "4:2:0", "fresh process", "constriction", "zlib", "subprocess", "network",
                 "OpenCV", "BD-rate"):
        assert must in text, must
