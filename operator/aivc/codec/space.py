"""The codec design space the offline search planner explores.

The parametric reference codec (`inter-dct`, `codec/reference/inter_dct.py`) keeps every
design choice in one block of ``NAME = value  # note`` lines between two marker comments.
This module knows those parameters (`PARAMETERS`: kind, range or choices, default = the
value the shipped file holds, one line of meaning), reads them back from any source
(`read_params`), writes a complete standalone candidate with new values
(`generate_source`: only the block changes) and words a change for people
(`describe_change`).

Every combination of in-range values is a working codec, so an optimizer such as Optuna
may sample the parameters independently. An exhaustive full-resolution motion search is
deliberately not a choice: its cost grows with the square of the range and blows the time
budget of a campaign; `hier` already searches exhaustively at the top of its pyramid.

v0 of every campaign is the separate, simpler `intra-dct` file, not this template.
`v0_params()` expresses the same design in this space (no motion, no loop filter, the
same transform, quantiser and entropy coder); a test holds the two to the same rate and
quality, so an optimizer may treat v0 as a point of the space.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aivc.codec import parsing
from aivc.codec.reference import TEMPLATE, reference_source
from aivc.errors import AivcError

BEGIN = "# --- PARAMETERS (rewritten by the search planner) ---"
END = "# --- END PARAMETERS ---"
_LINE = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*)\s*=\s*(?P<value>[^#]*?)\s*(?P<note>#.*)?$")

Value = int | float | str | bool


class DesignSpaceError(AivcError):
    """A source without a readable parameter block, or parameters outside the space."""


@dataclass(frozen=True)
class Param:
    """One design choice: its kind, where it may range, the shipped default, its meaning.

    `choices` (any kind) lists every allowed value, in order for numbers; otherwise
    `range` bounds an int or float, both ends included.
    """

    name: str
    kind: str  # int | float | categorical
    default: Value
    description: str
    choices: tuple[Value, ...] | None = None
    range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("int", "float", "categorical"):
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")
        if (self.choices is None) == (self.range is None):
            raise ValueError(f"{self.name}: give either choices or a range")

    def check(self, value: Any) -> Value:
        """`value` if this parameter may take it (ints accepted for floats), else raise."""
        if self.choices is not None:
            if any(type(value) is type(c) and value == c for c in self.choices):
                return value
            raise DesignSpaceError(f"{self.name} must be one of {list(self.choices)}, "
                                   f"got {value!r}")
        low, high = self.range or (0.0, 0.0)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.kind == "int":
            ok = number and isinstance(value, int)
        else:
            ok = number and math.isfinite(value)
        if not ok or not low <= value <= high:
            raise DesignSpaceError(f"{self.name} must be a{'n' if self.kind == 'int' else ''} "
                                   f"{self.kind} in [{low:g}, {high:g}], got {value!r}")
        return value


PARAMETERS: tuple[Param, ...] = (
    Param("BLOCK", "int", 8, "transform block size in pixels", choices=(4, 8, 16)),
    Param("QSTEP", "float", 6.5, "luma quantiser step of level 0 (the highest quality)",
          range=(2.0, 16.0)),
    Param("QSTEP_RATIO", "float", 1.9, "factor between the steps of consecutive levels",
          range=(1.4, 2.6)),
    Param("DEADZONE", "float", 0.3, "quantiser rounding offset (0.5 = plain rounding)",
          range=(0.05, 0.5)),
    Param("CHROMA_QP_OFFSET", "int", 2, "chroma step = luma step * 2**(offset/6)", range=(-3, 9)),
    Param("INTER_QSCALE", "float", 1.4, "step of predicted frames relative to intra frames",
          range=(0.8, 2.0)),
    Param("INTRA_PRED", "categorical", "planar", "DC prediction between intra blocks",
          choices=("none", "left", "planar")),
    Param("INTER", "categorical", True, "motion-compensated prediction from the previous frame",
          choices=(True, False)),
    Param("MOTION_BLOCK", "int", 16, "motion block size in luma pixels", choices=(8, 16)),
    Param("SEARCH", "categorical", "hier", "integer motion search: coarse-to-fine or descent",
          choices=("hier", "diamond")),
    Param("SEARCH_RANGE", "int", 24, "largest motion searched, luma pixels", range=(4, 32)),
    Param("HALF_PEL", "categorical", True, "half-pel bilinear motion refinement",
          choices=(True, False)),
    Param("MV_LAMBDA", "float", 1.0, "weight of vector bits against SAD in the motion search",
          range=(0.1, 4.0)),
    Param("GOP", "int", 0, "intra period in frames (0 = only the first frame)", range=(0, 60)),
    Param("DEBLOCK", "int", 2, "in-loop deblocking strength (0 = off)", range=(0, 4)),
    Param("ENTROPY_CONTEXT", "categorical", "band-neighbor",
          "coefficient contexts: one model, per band, band x block length, band x neighbours",
          choices=("single", "band", "band-last", "band-neighbor")),
    Param("ENTROPY_ADAPT", "categorical", "adaptive",
          "models learn while coding, or their counts are sent up front",
          choices=("adaptive", "static")),
)
BY_NAME: dict[str, Param] = {p.name: p for p in PARAMETERS}


def defaults() -> dict[str, Value]:
    """The parameters of `inter-dct` as shipped."""
    return {p.name: p.default for p in PARAMETERS}


def v0_params() -> dict[str, Value]:
    """The template configured like `intra-dct` (v0): intra only, no loop filter."""
    return {**defaults(), "INTER": False, "DEBLOCK": 0}


def _block(source: str) -> tuple[list[str], int, int]:
    """The source's lines and the indices of its two marker lines."""
    lines = source.splitlines(keepends=True)
    stripped = [line.strip() for line in lines]
    if stripped.count(BEGIN) != 1 or stripped.count(END) != 1:
        raise DesignSpaceError("source has no single PARAMETERS block "
                               f"(needs one {BEGIN!r} line and one {END!r} line)")
    begin, end = stripped.index(BEGIN), stripped.index(END)
    if end < begin:
        raise DesignSpaceError("the PARAMETERS block ends before it begins")
    return lines, begin, end


def _parse_line(line: str) -> tuple[str, Value, str] | None:
    """(name, value, note) of one `NAME = literal  # note` line; None for blank lines."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    match = _LINE.match(text)
    if match is None:
        raise DesignSpaceError(f"cannot read parameter line {text!r}")
    try:
        value = parsing.literal(match["value"])
    except (ValueError, SyntaxError):
        raise DesignSpaceError(f"parameter {match['name']} is not a literal: "
                               f"{match['value']!r}") from None
    return match["name"], value, match["note"] or ""


def read_params(source: str) -> dict[str, Value]:
    """The parameters a source's PARAMETERS block holds, in order (values as written)."""
    lines, begin, end = _block(source)
    params: dict[str, Value] = {}
    for line in lines[begin + 1:end]:
        parsed = _parse_line(line)
        if parsed is not None:
            params[parsed[0]] = parsed[1]
    return params


def validate(params: Mapping[str, Any]) -> dict[str, Value]:
    """Check names and values against `PARAMETERS`; return them in the space's order."""
    unknown = sorted(set(params) - set(BY_NAME))
    if unknown:
        raise DesignSpaceError(f"unknown parameters {unknown}; the space has {list(BY_NAME)}")
    return {p.name: p.check(params[p.name]) for p in PARAMETERS if p.name in params}


def literal(value: Value) -> str:
    """How a value is written in the block: double-quoted strings, Python literals otherwise."""
    if isinstance(value, str):
        return '"' + value + '"'
    return repr(value)


def generate_source(params: Mapping[str, Any], base: str | None = None) -> str:
    """A complete candidate: `base` (default the `inter-dct` reference) with its PARAMETERS
    block rewritten to `params`. Missing names keep the base's value; only the block changes."""
    source = reference_source(TEMPLATE) if base is None else base
    wanted = validate(params)
    lines, begin, end = _block(source)
    present = read_params(source)
    missing = sorted(set(wanted) - set(present))
    if missing:
        raise DesignSpaceError(f"the base source's PARAMETERS block lacks {missing}")
    out = list(lines)
    for i in range(begin + 1, end):
        parsed = _parse_line(lines[i])
        if parsed is None or parsed[0] not in wanted:
            continue
        name, _, note = parsed
        code = f"{name} = {literal(wanted[name])}"
        column = lines[i].find("#") if note else -1
        text = code.ljust(max(column, len(code) + 2)) + note if note else code
        ending = "\n" if lines[i].endswith("\n") else ""
        out[i] = text + ending
    return "".join(out)


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def describe_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """A one-line hypothesis naming what changed, e.g. ``BLOCK 8→16, DEBLOCK 2→0``."""
    names = [p.name for p in PARAMETERS] + sorted((set(old) | set(new)) - set(BY_NAME))
    changes = [f"{n} {_show(old.get(n, '-'))}→{_show(new.get(n, '-'))}"
               for n in names if old.get(n) != new.get(n)]
    return ", ".join(changes) if changes else "no change"
