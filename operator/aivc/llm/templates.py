"""The one loader for the planner's prompts, which live as data files in `llm/prompts/*.md`.

Templates use `string.Template` (`$name`), so codec source and JSON, which are full of
braces, can be substituted without escaping. Rendering is strict: a missing field is an
error naming the template and the field, never a prompt with a hole in it.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

PROMPT_DIR = Path(__file__).resolve().parent / "prompts"


class PromptError(Exception):
    """A prompt template is missing or was rendered without one of its fields."""


@cache
def template(name: str) -> string.Template:
    path = PROMPT_DIR / f"{name}.md"
    if not path.is_file():
        raise PromptError(f"no prompt template {name!r} in {PROMPT_DIR}")
    return string.Template(path.read_text(encoding="utf-8"))


def fields(name: str) -> set[str]:
    """The `$fields` a template expects."""
    return set(template(name).get_identifiers())


def render(name: str, **values: object) -> str:
    """Fill every field of template `name`; extra values are an error too (a drifted caller)."""
    wanted = fields(name)
    missing = sorted(wanted - values.keys())
    extra = sorted(values.keys() - wanted)
    if missing or extra:
        raise PromptError(f"prompt {name!r}: missing fields {missing}, unexpected fields {extra}")
    try:
        return template(name).substitute({k: str(v) for k, v in values.items()}).strip() + "\n"
    except (KeyError, ValueError) as exc:
        raise PromptError(f"prompt {name!r} is malformed: {exc}") from None


def names() -> list[str]:
    return sorted(p.stem for p in PROMPT_DIR.glob("*.md"))
