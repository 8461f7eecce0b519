"""Design spaces that codec sources declare themselves, and the one reader of them.

A codec source may keep its tunable design choices in one block between two marker
comments, one parameter per line, each line saying what it is::

    # --- PARAMETERS (rewritten by the search planner) ---
    GOP = 8            # choice: 1|2|4|8|16; anchor distance, B frames between
    SUBPEL = "quarter" # choice: off|half|quarter; motion vector precision
    INTERP_TAPS = 6    # choice: 2|4|6|8; interpolation filter length; when SUBPEL != "off"
    LAMBDA = 1.0       # float: 0.25..4 log; Lagrangian multiplier
    MBTREE = True      # bool; per-block QP offsets from temporal propagation
    # --- END PARAMETERS ---

Each line is ``NAME = LITERAL  # KIND[: DOMAIN]; MEANING[; operating point][; when CONDITION]``:

- KIND is ``int``, ``float``, ``choice`` or ``bool``; LITERAL is the shipped value (the
  default) and must lie in the domain.
- DOMAIN is ``LOW..HIGH`` for int and float, both ends included, optionally followed by
  ``log`` (sample on a log scale; LOW > 0); ``A|B|C`` for choice, each a number, ``True``,
  ``False`` or a bare or double-quoted word; nothing for bool.
- MEANING is one line for people and planners.
- ``operating point`` marks a parameter that places the rate points (a base quantiser,
  the spacing of the levels) rather than deciding how well they are coded. BD-rate
  integrates over the range two codecs share, so moving such a parameter mostly changes
  where the score is measured; planners hold it at the parent's value (a gain must come
  from coding better, not from moving the rate points). One exception: before an LLM's
  program has two scored settings, the hybrid planner draws every parameter at random
  (`hybrid_planner.spread`) or copies other programs' best values (`warm_start`), since
  the defaults it guessed may lie where the program cannot be scored at all.
- CONDITION says when the parameter matters at all: ``NAME == V``, ``NAME != V``,
  ``NAME < V`` (also ``<=``, ``>``, ``>=``), ``NAME in A|B``, or a bare ``NAME`` (a bool
  that is on), several joined by `` and ``. It may only name parameters declared above
  it. An inactive parameter keeps its value but changes nothing, so planners neither
  tune it nor count it when comparing designs (`DesignSpace.canonical`).

Outside the block, an import line that ends in ``# when CONDITION`` is optional: the
source carries ``import torch  # when LEARNED_FILTER`` only while the condition holds and
``torch = None  # when LEARNED_FILTER`` otherwise, so a design that does not use a heavy
library does not pay for importing it (the sandbox imports every library a source names).
`generate_source` switches these lines with the block.

The reference codecs declare their spaces this way (`inter-rdo`, the search planner's
template, and `inter-dct`), and so may any candidate: `parse_space` reads any source,
`generate_source` writes a complete candidate with new values (only the block and the
optional imports change), `describe_change` words a change for people.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aivc.codec import parsing
from aivc.codec.reference import TEMPLATE, reference_source
from aivc.errors import AivcError

BEGIN = "# --- PARAMETERS (rewritten by the search planner) ---"
END = "# --- END PARAMETERS ---"
KINDS = ("int", "float", "choice", "bool")
OPERATING_POINT = "operating point"
_LINE = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*)\s*=\s*(?P<value>[^#]*?)\s*(?:#\s*(?P<note>.*))?$")
_RANGE = re.compile(r"^(?P<low>[-+0-9.eE]+)\s*\.\.\s*(?P<high>[-+0-9.eE]+)(?P<log>\s+log)?$")
_TERM = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*)(?:\s*(?P<op>==|!=|<=|>=|<|>|\bin\b)\s*(?P<value>.+))?$")
_OPTIONAL = re.compile(r"^(?:import (?P<module>\w+)(?: as (?P<alias>\w+))?|(?P<unset>\w+) = None)"
                       r"\s+# when (?P<cond>.+)$")

Value = int | float | str | bool


class DesignSpaceError(AivcError):
    """A parameter block that cannot be read, or values outside the space it declares."""


def _word(text: str) -> Value:
    """A choice or condition value: a literal, or a bare word meaning that string."""
    text = text.strip()
    try:
        value = parsing.literal(text)
    except (ValueError, SyntaxError):
        if not re.fullmatch(r"[A-Za-z_][\w-]*", text):
            raise DesignSpaceError(f"cannot read value {text!r}") from None
        return text
    if not isinstance(value, (int, float, str, bool)):
        raise DesignSpaceError(f"value {text!r} is not a number, bool or string")
    return value


def same(a: Any, b: Any) -> bool:
    """Equality that keeps True apart from 1 and 2 apart from 2.0 only where types differ
    in kind (bool vs number); ints and floats of one value are the same number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


@dataclass(frozen=True)
class Condition:
    """One term of a `when` clause: NAME OP VALUE(S), or a bare NAME (truthy)."""

    name: str
    op: str = "truthy"
    values: tuple[Value, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = _TERM.match(text.strip())
        if match is None:
            raise DesignSpaceError(f"cannot read condition {text!r}")
        if match["op"] is None:
            return cls(match["name"])
        op, raw = match["op"], match["value"]
        values = tuple(_word(v) for v in raw.split("|")) if op == "in" else (_word(raw),)
        return cls(match["name"], op, values)

    def holds(self, params: Mapping[str, Any]) -> bool:
        value = params.get(self.name)
        if self.op == "truthy":
            return bool(value)
        if self.op == "in":
            return any(same(value, v) for v in self.values)
        if self.op in ("==", "!="):
            return same(value, self.values[0]) == (self.op == "==")
        bound: Any = self.values[0]
        if not isinstance(value, (int, float)) or not isinstance(bound, (int, float)):
            return False
        return {"<": value < bound, "<=": value <= bound,
                ">": value > bound, ">=": value >= bound}[self.op]

    def __str__(self) -> str:
        if self.op == "truthy":
            return self.name
        shown = "|".join(_show(v) for v in self.values)
        return f"{self.name} {self.op} {shown}"


@dataclass(frozen=True)
class Param:
    """One design choice: kind, where it may range, the shipped default, its meaning and
    when it matters. `choices` lists every allowed value (choice and bool); otherwise
    `range` bounds an int or float, both ends included."""

    name: str
    kind: str
    default: Value
    description: str
    choices: tuple[Value, ...] | None = None
    range: tuple[float, float] | None = None
    log: bool = False
    when: tuple[Condition, ...] = ()
    operating_point: bool = False
    """Places the rate points (see the module docstring): searches hold it."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DesignSpaceError(f"{self.name}: unknown kind {self.kind!r} (one of {KINDS})")
        if (self.choices is None) == (self.range is None):
            raise DesignSpaceError(f"{self.name}: give either choices or a range")
        if self.log and (self.range is None or self.range[0] <= 0):
            raise DesignSpaceError(f"{self.name}: a log scale needs a positive range")
        self.check(self.default)

    def check(self, value: Any) -> Value:
        """`value` if this parameter may take it (ints accepted for floats), else raise."""
        if self.choices is not None:
            for choice in self.choices:
                if same(value, choice) and type(value) is type(choice):
                    return value
            raise DesignSpaceError(f"{self.name} must be one of {list(self.choices)}, "
                                   f"got {value!r}")
        low, high = self.range or (0.0, 0.0)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = number and (isinstance(value, int) if self.kind == "int" else math.isfinite(value))
        if not ok or not low <= value <= high:
            raise DesignSpaceError(f"{self.name} must be a{'n' if self.kind == 'int' else ''} "
                                   f"{self.kind} in [{low:g}, {high:g}], got {value!r}")
        return value

    def active(self, params: Mapping[str, Any]) -> bool:
        """Whether this parameter matters under `params` (all of its conditions hold)."""
        return all(c.holds(params) for c in self.when)

    def declaration(self) -> str:
        """The comment that declares this parameter (what follows the ``#``)."""
        if self.kind == "bool":
            head = "bool"
        elif self.choices is not None:
            head = f"choice: {'|'.join(_show(c) for c in self.choices)}"
        else:
            low, high = self.range or (0, 0)
            head = f"{self.kind}: {_show(low)}..{_show(high)}{' log' if self.log else ''}"
        when = f"; when {' and '.join(str(c) for c in self.when)}" if self.when else ""
        point = f"; {OPERATING_POINT}" if self.operating_point else ""
        return f"{head}; {self.description}{point}{when}"


@dataclass(frozen=True)
class DesignSpace:
    """The parameters one source declares, in block order."""

    params: tuple[Param, ...]
    by_name: dict[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.params})

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def defaults(self) -> dict[str, Value]:
        return {p.name: p.default for p in self.params}

    def validate(self, params: Mapping[str, Any]) -> dict[str, Value]:
        """Check names and values; return them in the space's order (a subset is fine)."""
        unknown = sorted(set(params) - set(self.by_name))
        if unknown:
            raise DesignSpaceError(f"unknown parameters {unknown}; the space has {self.names}")
        return {p.name: p.check(params[p.name]) for p in self.params if p.name in params}

    def complete(self, params: Mapping[str, Any]) -> dict[str, Value]:
        """`params` over the defaults, validated: a full point of the space."""
        return self.validate({**self.defaults(), **params})

    def active(self, params: Mapping[str, Any]) -> list[Param]:
        """The parameters that matter for the design `params` (completed with defaults)."""
        full = {**self.defaults(), **params}
        return [p for p in self.params if p.active(full)]

    def tunable(self, params: Mapping[str, Any]) -> list[Param]:
        """The active parameters a search moves: all but those that place the rate points."""
        return [p for p in self.active(params) if not p.operating_point]

    def canonical(self, params: Mapping[str, Any]) -> dict[str, Value]:
        """The design with every inactive parameter at its default: two designs that differ
        only in parameters that change nothing are the same design."""
        full = self.complete(params)
        live = {p.name for p in self.active(full)}
        return {n: (v if n in live else self.by_name[n].default) for n, v in full.items()}


# ---------------------------------------------------------------- reading a block

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
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        raise DesignSpaceError(f"parameter {match['name']} is not a literal: "
                               f"{match['value']!r}") from None
    return match["name"], value, match["note"] or ""


def _declared(name: str, value: Value, note: str, known: set[str]) -> Param:
    """A Param from a line's value and its declaring comment."""
    parts = [p.strip() for p in note.split(";")]
    head, rest = parts[0], parts[1:]
    kind, _, domain = (s.strip() for s in head.partition(":"))
    when: tuple[Condition, ...] = ()
    if rest and rest[-1].startswith("when "):
        when = tuple(Condition.parse(t) for t in rest.pop()[5:].split(" and "))
        for c in when:
            if c.name not in known:
                raise DesignSpaceError(f"{name}: its condition names {c.name}, which is not "
                                       "declared above it")
    point = bool(rest) and rest[-1] == OPERATING_POINT
    if point:
        rest.pop()
    description = "; ".join(rest).strip()
    if kind not in KINDS or not description:
        raise DesignSpaceError(f"{name}: the comment must read 'KIND[: DOMAIN]; MEANING' with "
                               f"KIND one of {', '.join(KINDS)}, got {note!r}")
    if kind == "bool":
        return Param(name, kind, value, description, choices=(True, False), when=when,
                     operating_point=point)
    if kind == "choice":
        return Param(name, kind, value, description,
                     choices=tuple(_word(c) for c in domain.split("|")), when=when,
                     operating_point=point)
    match = _RANGE.match(domain)
    if match is None:
        raise DesignSpaceError(f"{name}: {kind} needs a range LOW..HIGH, got {domain!r}")
    low, high = float(match["low"]), float(match["high"])
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise DesignSpaceError(f"{name}: the range {domain!r} must be finite with LOW <= HIGH")
    return Param(name, kind, value, description, range=(low, high), log=bool(match["log"]),
                 when=when, operating_point=point)


def declares(source: str) -> bool:
    """Whether a source has a PARAMETERS block at all (then it must parse)."""
    return any(line.strip() == BEGIN for line in source.splitlines())


def parse_space(source: str) -> DesignSpace:
    """The design space a source declares in its PARAMETERS block.

    Candidates are untrusted and this runs in the trusted process: whatever a block holds
    (literals nested thousands deep, numbers that do not parse) ends as `DesignSpaceError`.
    """
    try:
        return _parse_space(source)
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        raise DesignSpaceError(f"cannot read the PARAMETERS block: {type(exc).__name__}: "
                               f"{str(exc)[:200]}") from None


def _parse_space(source: str) -> DesignSpace:
    lines, begin, end = _block(source)
    params: list[Param] = []
    for line in lines[begin + 1:end]:
        parsed = _parse_line(line)
        if parsed is None:
            continue
        name, value, note = parsed
        if any(p.name == name for p in params):
            raise DesignSpaceError(f"parameter {name} is declared twice")
        params.append(_declared(name, value, note, {p.name for p in params}))
    return DesignSpace(tuple(params))


def read_params(source: str) -> dict[str, Value]:
    """The values a source's PARAMETERS block holds, in order (as written)."""
    lines, begin, end = _block(source)
    params: dict[str, Value] = {}
    try:
        for line in lines[begin + 1:end]:
            parsed = _parse_line(line)
            if parsed is not None:
                params[parsed[0]] = parsed[1]
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        raise DesignSpaceError(f"cannot read the PARAMETERS block: {type(exc).__name__}") from None
    return params


@functools.cache
def template_space() -> DesignSpace:
    """The space of the search planner's template (`aivc.codec.reference.TEMPLATE`)."""
    return parse_space(reference_source(TEMPLATE))


def defaults() -> dict[str, Value]:
    """The template's parameters as shipped."""
    return template_space().defaults()


# ---------------------------------------------------------------- writing a source

def literal(value: Value) -> str:
    """How a value is written in the block: double-quoted strings, Python literals otherwise."""
    if isinstance(value, str):
        return '"' + value + '"'
    return repr(value)


def _switch_optional(lines: list[str], params: Mapping[str, Any], begin: int, end: int) -> None:
    """Switch the optional import lines outside the block to match `params`, in place."""
    for i, line in enumerate(lines):
        if begin <= i <= end:
            continue
        match = _OPTIONAL.match(line.strip())
        if match is None:
            continue
        conditions = [Condition.parse(t) for t in match["cond"].split(" and ")]
        on = all(c.holds(params) for c in conditions)
        name = match["alias"] or match["module"] or match["unset"]
        module = match["module"] or match["unset"]
        code = (f"import {module}" + (f" as {name}" if name != module else "")) if on \
            else f"{name} = None"
        ending = "\n" if line.endswith("\n") else ""
        lines[i] = f"{code}  # when {match['cond'].strip()}{ending}"


def generate_source(params: Mapping[str, Any], base: str | None = None) -> str:
    """A complete candidate: `base` (default the template) with its PARAMETERS block
    rewritten to `params` (missing names keep the base's value) and its optional imports
    switched to match. Nothing else changes."""
    source = reference_source(TEMPLATE) if base is None else base
    declared = parse_space(source)
    wanted = declared.validate(params)
    lines, begin, end = _block(source)
    out = list(lines)
    for i in range(begin + 1, end):
        parsed = _parse_line(lines[i])
        if parsed is None or parsed[0] not in wanted:
            continue
        name, _, note = parsed
        code = f"{name} = {literal(wanted[name])}"
        column = lines[i].find("#")
        text = code.ljust(max(column, len(code) + 2)) + "# " + note
        out[i] = text + ("\n" if lines[i].endswith("\n") else "")
    _switch_optional(out, {**read_params(source), **wanted}, begin, end)
    return "".join(out)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe_change(old: Mapping[str, Any], new: Mapping[str, Any],
                    space: DesignSpace | None = None) -> str:
    """A one-line hypothesis naming what changed, e.g. ``GOP 8→4, DEBLOCK 1→0``."""
    order = space.names if space is not None else list(dict.fromkeys([*old, *new]))
    names = order + sorted((set(old) | set(new)) - set(order))
    changes = [f"{n} {_show(old.get(n, '-'))}→{_show(new.get(n, '-'))}"
               for n in names if not same(old.get(n), new.get(n))]
    return ", ".join(changes) if changes else "no change"
