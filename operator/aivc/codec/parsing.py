"""Parsing codec sources into syntax trees, one at a time in this process.

CPython 3.11's parser keeps a recursion counter that two threads parsing at once can
corrupt ("SystemError: AST constructor recursion depth mismatch"); local mode evaluates
several candidates side by side in threads, so every parse of a candidate source in the
trusted process goes through this lock.
"""

from __future__ import annotations

import ast
import threading
from typing import Any

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<codec>") -> ast.Module:
    with _LOCK:
        return ast.parse(source, filename=filename)


def literal(text: str) -> Any:
    """`ast.literal_eval`, under the same lock."""
    with _LOCK:
        return ast.literal_eval(text)
