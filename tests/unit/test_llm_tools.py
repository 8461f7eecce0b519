"""Tool inputs from the model are parsed strictly: edits apply exactly or not at all."""

from __future__ import annotations

import pytest

from aivc.llm.tools import (
    TOOLS,
    ToolInputError,
    apply_edits,
    check_source,
    parse_analysis,
    parse_proposal,
    parse_review,
)

BASE = """LEVELS = 4
Q = [4, 8, 16, 32]


def encode(video, level):
    return bytes([Q[level]])


def decode(bitstream):
    return None
"""


def test_edits_apply_in_order_each_to_the_result_of_the_last():
    out = apply_edits(BASE, [("Q = [4, 8, 16, 32]", "Q = [2, 4, 8, 16]"),
                             ("Q = [2, 4, 8, 16]", "Q = [3, 6, 12, 24]")])
    assert "Q = [3, 6, 12, 24]" in out
    assert "Q = [4, 8, 16, 32]" not in out


def test_an_edit_whose_search_text_is_missing_names_the_edit_and_the_text():
    with pytest.raises(ToolInputError, match=r"edit 2: .*'Q = \[9\]' does not occur"):
        apply_edits(BASE, [("LEVELS = 4", "LEVELS = 5"), ("Q = [9]", "Q = [1]")])


def test_an_edit_whose_search_text_is_ambiguous_is_refused():
    with pytest.raises(ToolInputError, match="occurs 2 times"):
        apply_edits(BASE, [("return ", "return  ")])


def test_an_empty_search_text_is_refused():
    with pytest.raises(ToolInputError, match="`search` is empty"):
        apply_edits(BASE, [("", "x")])


def test_a_proposal_with_edits_becomes_a_full_source():
    draft = parse_proposal({"hypothesis": " finer steps ", "rationale": "r",
                            "edits": [{"search": "Q = [4, 8, 16, 32]", "replace": "Q = [1, 2, 3, 4]"}]},
                           BASE)
    assert draft.source == BASE.replace("Q = [4, 8, 16, 32]", "Q = [1, 2, 3, 4]")
    assert (draft.hypothesis, draft.edits) == ("finer steps", 1)


def test_a_proposal_with_a_full_source_ignores_the_base():
    draft = parse_proposal({"hypothesis": "h", "rationale": "", "source": BASE}, "unused")
    assert draft.source == BASE and draft.edits == 0


@pytest.mark.parametrize("raw, message", [
    ({"rationale": "r", "source": BASE}, "`hypothesis` must be a string"),
    ({"hypothesis": 3, "source": BASE}, r"`hypothesis` must be a string \(got int\)"),
    ({"hypothesis": "h"}, "exactly one of `source`"),
    ({"hypothesis": "h", "source": BASE, "edits": []}, "exactly one of `source`"),
    ({"hypothesis": "h", "edits": "Q = 1"}, "non-empty list"),
    ({"hypothesis": "h", "edits": [{"search": "LEVELS = 4"}]}, "both be strings"),
    ({"hypothesis": "h", "source": "def encode(:"}, "does not parse"),
    ({"hypothesis": "h", "source": "LEVELS = 4\ndef encode(v, l): pass\n"}, "does not define decode"),
    (["not", "an", "object"], "must be a JSON object"),
])
def test_malformed_proposals_are_refused_with_a_message_for_the_model(raw, message):
    with pytest.raises(ToolInputError, match=message):
        parse_proposal(raw, BASE)


def test_source_checks_accept_imported_contract_names_but_never_run_the_code():
    check_source("import os\nos.system('touch /tmp/aivc-must-not-exist')\n"
                 "from impl import encode, decode\nLEVELS = 2\n")


def test_an_analysis_needs_a_lesson_and_keep_or_avoid():
    a = parse_analysis({"lesson": "  8x8   DCT beats 4x4 ", "advice": "keep"})
    assert (a.lesson, a.advice) == ("8x8 DCT beats 4x4", "keep")
    with pytest.raises(ToolInputError, match="`advice`"):
        parse_analysis({"lesson": "x", "advice": "maybe"})


def test_a_review_reads_on_track_question_and_an_optional_idea():
    r = parse_review({"on_track": False, "question": "Why no inter?", "new_idea": None})
    assert (r.on_track, r.question, r.new_idea) == (False, "Why no inter?", None)
    assert parse_review({"on_track": True, "question": "q", "new_idea": "try SAO"}).new_idea == "try SAO"
    with pytest.raises(ToolInputError, match="`on_track`"):
        parse_review({"on_track": "yes", "question": "q"})


def test_every_tool_has_an_object_schema_whose_required_fields_exist():
    for tool in TOOLS:
        schema = tool["input_schema"]
        assert schema["type"] == "object"
        assert set(schema["required"]) <= set(schema["properties"])
