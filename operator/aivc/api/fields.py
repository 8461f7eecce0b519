"""Reading document fields that may hold anything: a number, a string, an int, a mapping."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

Json = dict[str, Any]


def number(value: Any) -> float | None:
    """A finite number from a document field, else None (documents may hold anything)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def integer(value: Any, default: int | None = None) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def mapping(value: Any) -> Json:
    return dict(value) if isinstance(value, Mapping) else {}


def compact(doc: Json) -> Json | None:
    """Drop unset fields; None when nothing is left (the field is then absent)."""
    kept = {k: v for k, v in doc.items() if v is not None and v != {} and v != []}
    return kept or None
