"""Programs that were already tried: the same code, or the same bitstreams (pure).

Evaluating a candidate costs minutes of sandbox time; evaluating one that is a program
already measured teaches nothing. Two checks, at two moments:

- Before any sandbox run, `fingerprint` normalises a source — parsed, then dumped without
  comments, blank lines, formatting or docstrings (`ast.dump` of the module with docstring
  expressions removed) — so a re-indented copy of v0 is recognised as v0. The LLM planner
  checks every proposal against the campaign's known fingerprints and asks the model again
  when it proposes one (see `aivc.research.llm_planner`).
- After validation, `same_bitstreams` compares the bitstreams a candidate wrote on the
  validation clip with those of earlier experiments (one digest over the SHA-256 of every
  level's bitstream, `status.validation.bitstreams`): different code that encodes to
  identical bits is the same codec there. Both drivers call it through
  `Lab.unless_repeated`.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Iterable


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@functools.lru_cache(maxsize=1024)
def fingerprint(source: str) -> str:
    """SHA-256 of the normalised program; a source that does not parse is fingerprinted as
    its text with whitespace collapsed (so only a byte-for-byte copy matches it)."""
    try:
        normal = ast.dump(_strip_docstrings(ast.parse(source)), annotate_fields=False,
                          include_attributes=False)
    except (SyntaxError, ValueError):
        normal = "unparsed:" + " ".join(source.split())
    return hashlib.sha256(normal.encode()).hexdigest()


def find_duplicate(source: str, known: Iterable[tuple[str, str]]) -> str | None:
    """The label of the first known (fingerprint, label) that is the same program, or None."""
    mine = fingerprint(source)
    return next((label for fp, label in known if fp == mine), None)


def same_bitstreams(candidate: str | None,
                    earlier: Iterable[tuple[str, str | None]]) -> str | None:
    """The name of the first earlier experiment whose validation bitstreams digest
    (`EvaluationResult.bitstreams_digest`) equals the candidate's, or None. A missing
    digest (a validation that wrote nothing, or an older record) matches nothing."""
    if not candidate:
        return None
    return next((name for name, digest in earlier if digest == candidate), None)
