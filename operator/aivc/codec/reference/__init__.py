"""The reference codecs: standalone candidate sources shipped as package data.

Each is one Python file meeting the codec contract (DESIGN.md §3), read as text and run in
the sandbox like any candidate; nothing here imports them. `intra-dct` is v0 of every
campaign (an honest intra-only baseline the loop improves on); `inter-dct` adds motion
compensation to it; `inter-rdo` is a hybrid codec with the tools that matter (quarter-pel
motion, hierarchical B frames, rate-distortion decisions, macroblock tree, deblocking,
context-adaptive range coding, an optional learned post-filter) and the template the
search planner rewrites. Both parametric codecs declare their design space in their own
source (`aivc.codec.space`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aivc.errors import AivcError

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ReferenceCodec:
    """A shipped codec: its kebab-case name, its file beside this module, what it is."""

    name: str
    filename: str
    summary: str

    @property
    def path(self) -> Path:
        return HERE / self.filename


REFERENCE_CODECS: dict[str, ReferenceCodec] = {
    codec.name: codec
    for codec in (
        ReferenceCodec("intra-dct", "intra_dct.py",
                       "v0: intra-only 8x8 DCT, deadzone quantiser, adaptive range coding"),
        ReferenceCodec("inter-dct", "inter_dct.py",
                       "intra-dct plus motion compensation, half-pel, loop filter; every "
                       "design choice in one PARAMETERS block"),
        ReferenceCodec("inter-rdo", "inter_rdo.py",
                       "the search template: quarter-pel motion, hierarchical B frames, RD "
                       "decisions on a 16-8-4 quadtree, macroblock tree, deblocking, "
                       "context-adaptive range coding, optional learned post-filter"),
    )
}
V0 = "intra-dct"
TEMPLATE = "inter-rdo"


class UnknownCodecError(AivcError):
    """A reference codec name that is not shipped."""


def reference_path(name: str) -> Path:
    """The file of a shipped reference codec, by kebab-case name."""
    try:
        return REFERENCE_CODECS[name].path
    except KeyError:
        known = ", ".join(sorted(REFERENCE_CODECS))
        raise UnknownCodecError(f"unknown reference codec {name!r} (known: {known})") from None


def reference_source(name: str) -> str:
    """The source text of a shipped reference codec, ready to hand to the sandbox."""
    return reference_path(name).read_text(encoding="utf-8")
