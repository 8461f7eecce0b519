"""Tool schemas the planner forces the model to answer with, and strict parsers for them.

Tool use is the structured-output channel: `propose_codec` (a full source or search/replace
edits to a base source, plus hypothesis and rationale), `record_analysis` (a one-line
lesson after an experiment) and `review` (is the campaign on track). The parsers accept
nothing loosely: every problem becomes a `ToolInputError` whose message is written for the
model, because it is sent back verbatim in the one re-ask the planner allows.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from aivc.codec.contract import REQUIRED_NAMES
from aivc.codec.parsing import parse

MAX_SOURCE_CHARS = 200_000
MAX_LESSON_CHARS = 300


class ToolInputError(ValueError):
    """A tool call that cannot be used as given; the message tells the model what to fix."""

    category = "planner"


class DuplicateProgram(ToolInputError):
    """A proposal that is a program already designed in this campaign."""

    category = "duplicate"


PROPOSE_CODEC: dict[str, Any] = {
    "name": "propose_codec",
    "description": (
        "Submit the next candidate codec. Give EITHER `edits` (search/replace pairs applied in "
        "order to the base source shown in the prompt; each `search` must occur exactly once) "
        "OR `source` (the complete new Python file). Prefer edits for focused changes."),
    "input_schema": {
        "type": "object",
        "properties": {
            "hypothesis": {"type": "string", "description":
                           "One sentence: the change and why it should lower BD-rate."},
            "rationale": {"type": "string", "description":
                          "Short reasoning: evidence from results and lessons behind the change."},
            "edits": {"type": "array", "description": "Search/replace edits to the base source.",
                      "items": {"type": "object", "properties": {
                          "search": {"type": "string", "description":
                                     "Exact text in the current source, unique, a few lines."},
                          "replace": {"type": "string"}},
                          "required": ["search", "replace"]}},
            "source": {"type": "string", "description":
                       "The complete codec file (defines LEVELS, encode, decode)."},
        },
        "required": ["hypothesis", "rationale"],
    },
}

RECORD_ANALYSIS: dict[str, Any] = {
    "name": "record_analysis",
    "description": "Record the one lesson this experiment teaches about codec design.",
    "input_schema": {
        "type": "object",
        "properties": {
            "lesson": {"type": "string", "description":
                       "One sentence, specific and reusable (name the technique and the effect)."},
            "advice": {"type": "string", "enum": ["keep", "avoid"], "description":
                       "keep: build on this idea; avoid: do not try it again as it was."},
        },
        "required": ["lesson", "advice"],
    },
}

REVIEW: dict[str, Any] = {
    "name": "review",
    "description": "Judge the campaign's direction so far.",
    "input_schema": {
        "type": "object",
        "properties": {
            "on_track": {"type": "boolean", "description":
                         "true if recent experiments are making real progress."},
            "question": {"type": "string", "description":
                         "The one question the next proposals must answer."},
            "new_idea": {"type": ["string", "null"], "description":
                         "At most one untried direction worth testing, or null."},
        },
        "required": ["on_track", "question"],
    },
}

TOOLS: tuple[dict[str, Any], ...] = (PROPOSE_CODEC, RECORD_ANALYSIS, REVIEW)
"""Always sent together and in this order: they are part of the cached prompt prefix."""


@dataclass(frozen=True)
class CodecDraft:
    source: str
    hypothesis: str
    rationale: str
    edits: int  # how many edits were applied (0 for a full source)


@dataclass(frozen=True)
class Analysis:
    lesson: str
    advice: str  # keep | avoid


@dataclass(frozen=True)
class Review:
    on_track: bool
    question: str
    new_idea: str | None


def _text(raw: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = raw.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        got = "missing" if value is None else type(value).__name__
        raise ToolInputError(f"`{name}` must be a string (got {got})")
    if required and not value.strip():
        raise ToolInputError(f"`{name}` must not be empty")
    return value


def _as_dict(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ToolInputError(f"tool input must be a JSON object, got {type(raw).__name__}")
    return raw


def _first_line(text: str) -> str:
    line = next((ln for ln in text.splitlines() if ln.strip()), text)
    return line.strip()[:80]


def apply_edits(source: str, edits: list[tuple[str, str]]) -> str:
    """Apply search/replace edits in order; each search must occur exactly once at its turn."""
    for i, (search, replace) in enumerate(edits, start=1):
        if not search:
            raise ToolInputError(f"edit {i}: `search` is empty")
        count = source.count(search)
        if count != 1:
            where = "does not occur" if count == 0 else f"occurs {count} times"
            raise ToolInputError(
                f"edit {i}: the search text starting {_first_line(search)!r} {where} in the "
                f"source (after the edits before it); copy it exactly and include enough "
                f"lines to make it unique")
        source = source.replace(search, replace, 1)
    return source


def _edits(raw: Any) -> list[tuple[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise ToolInputError("`edits` must be a non-empty list of {search, replace} objects")
    out = []
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise ToolInputError(f"edit {i} must be an object with `search` and `replace`")
        search, replace = item.get("search"), item.get("replace")
        if not isinstance(search, str) or not isinstance(replace, str):
            raise ToolInputError(f"edit {i}: `search` and `replace` must both be strings")
        out.append((search, replace))
    return out


def check_source(source: str) -> None:
    """Cheap static checks (parse only, nothing runs): syntax and the contract's top-level names."""
    if len(source) > MAX_SOURCE_CHARS:
        raise ToolInputError(f"the source is {len(source)} characters; the limit is {MAX_SOURCE_CHARS}")
    try:
        tree = parse(source)
    except SyntaxError as exc:
        raise ToolInputError(f"the source does not parse: {exc.msg} at line {exc.lineno}") from None
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    missing = [n for n in REQUIRED_NAMES if n not in defined]
    if missing:
        raise ToolInputError(f"the source does not define {', '.join(missing)} at module level")


def parse_proposal(raw: Any, base_source: str) -> CodecDraft:
    """A `propose_codec` input → a checked full source (edits applied to `base_source`)."""
    raw = _as_dict(raw)
    hypothesis, rationale = _text(raw, "hypothesis"), _text(raw, "rationale", required=False)
    has_source, has_edits = raw.get("source") is not None, raw.get("edits") is not None
    if has_source == has_edits:
        raise ToolInputError("give exactly one of `source` (a complete file) or `edits`")
    if has_source:
        source, n = _text(raw, "source"), 0
    else:
        edits = _edits(raw["edits"])
        source, n = apply_edits(base_source, edits), len(edits)
    check_source(source)
    return CodecDraft(source=source, hypothesis=hypothesis.strip(), rationale=rationale.strip(),
                      edits=n)


def parse_analysis(raw: Any) -> Analysis:
    raw = _as_dict(raw)
    lesson = " ".join(_text(raw, "lesson").split())[:MAX_LESSON_CHARS]
    advice = raw.get("advice")
    if advice not in ("keep", "avoid"):
        raise ToolInputError(f"`advice` must be \"keep\" or \"avoid\" (got {advice!r})")
    return Analysis(lesson=lesson, advice=str(advice))


def parse_review(raw: Any) -> Review:
    raw = _as_dict(raw)
    on_track = raw.get("on_track")
    if not isinstance(on_track, bool):
        raise ToolInputError(f"`on_track` must be true or false (got {on_track!r})")
    question = " ".join(_text(raw, "question").split())[:MAX_LESSON_CHARS]
    idea = raw.get("new_idea")
    if idea is not None and not isinstance(idea, str):
        raise ToolInputError("`new_idea` must be a string or null")
    idea = " ".join(idea.split())[:MAX_LESSON_CHARS] if idea and idea.strip() else None
    return Review(on_track=on_track, question=question, new_idea=idea)
