"""kubectl-like views of stored documents: the CRDs' printer columns as a plain-text table.

The columns come from `additionalPrinterColumns` in `crds/`, so `aivc get experiments`
shows what `kubectl get experiments` shows for the same objects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from aivc.api.crds import crd
from aivc.api.times import parse_time
from aivc.errors import AivcError

KIND_NAMES = {"Campaign": ("campaign", "campaigns", "camp"),
              "Experiment": ("experiment", "experiments", "exp")}


def kind_of(word: str) -> str:
    """Resolve `experiments`, `exp`, `Campaign`, ... to a kind."""
    for kind, names in KIND_NAMES.items():
        if word.lower() in names or word == kind:
            return kind
    raise AivcError(f"unknown resource type {word!r}: use experiments (exp) or campaigns (camp)")


def json_path(doc: dict[str, Any], path: str) -> Any:
    """Follow a simple `.a.b.c` JSONPath (all printer columns use this form)."""
    node: Any = doc
    for part in path.strip(".").split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def age(timestamp: str | None, now: dt.datetime | None = None) -> str:
    """kubectl's compact age: 45s, 12m, 3h, 2d."""
    if not timestamp:
        return "<unknown>"
    try:
        then = parse_time(timestamp)
    except ValueError:
        return "<invalid>"
    seconds = max(0, int(((now or dt.datetime.now(dt.UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def cell(value: Any, column: dict[str, Any]) -> str:
    if value is None or value == "":
        return "<none>" if column.get("type") != "date" else "<unknown>"
    if column.get("type") == "date":
        return age(str(value))
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def printer_columns(kind: str) -> list[dict[str, Any]]:
    return list(crd(kind)["spec"]["versions"][0].get("additionalPrinterColumns") or [])


def rows(kind: str, docs: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    columns = printer_columns(kind)
    header = ["NAME"] + [c["name"].upper() for c in columns]
    body = [[doc["metadata"]["name"]] + [cell(json_path(doc, c["jsonPath"]), c) for c in columns]
            for doc in docs]
    return header, body


def format_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by three spaces, like kubectl."""
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    lines = ["   ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *body]]
    return "\n".join(lines)
