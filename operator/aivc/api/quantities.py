"""Kubernetes resource quantities ("2", "500m", "4Gi", "1e3"), read the way the API server does.

The Campaign CRD admits exactly the strings `QUANTITY` matches (plus plain integers) for
`spec.sandbox.cpu`, `memory` and `workDirSizeLimit`; the operator turns them into a number of
processes and a byte cap for the sandbox. A parser narrower than the schema would let a
Campaign the API server accepted fail in the operator on every retry, so `parse` takes
everything the pattern admits (tests/unit/test_quantities.py checks that).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

QUANTITY = (r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
            r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")
"""Kubernetes' quantity syntax without a sign (no resource of a sandbox pod is negative)."""

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_SPLIT = re.compile(r"^([0-9.]+)([eE][+-]?[0-9.]+|[KMGTPE]i|[numkMGTPE])?$")


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def parse(quantity: str | int) -> Decimal:
    """The quantity's value in base units (cores, bytes) as an exact decimal."""
    text = str(quantity).strip()
    match = _SPLIT.match(text) if re.match(QUANTITY, text) else None
    if match is None:
        raise QuantityError(f"{quantity!r} is not a Kubernetes quantity (e.g. 2, 500m, 4Gi)")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        value = Decimal(number)
        if suffix in _BINARY:
            return value * (1024 ** _BINARY[suffix])
        if len(suffix) > 1 and suffix[0] in "eE":  # an exponent; a lone E is exa
            return value.scaleb(int(Decimal(suffix[1:])))
        return value.scaleb(_DECIMAL[suffix])
    except (ArithmeticError, ValueError, KeyError):
        raise QuantityError(f"{quantity!r} is not a Kubernetes quantity") from None


def cpu_count(quantity: str | int) -> int:
    """Whole CPUs in a CPU quantity ("2", "1.5", "500m"), at least one."""
    return max(1, math.floor(parse(quantity)))


def byte_count(quantity: str | int) -> int:
    """Bytes in a memory or storage quantity ("4Gi", "512Mi", "1G", "1000"), rounded up as
    the API server rounds fractional bytes."""
    return math.ceil(parse(quantity))
