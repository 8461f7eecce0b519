"""The reference codecs: standalone candidate sources shipped as package data.

Each is one Python file meeting the codec contract (DESIGN.md §3), read as text and run in
the sandbox like any candidate; nothing here imports them. `intra-dct` is v0 of every
campaign (an honest intra-only baseline the loop improves on); `inter-dct` adds motion
compensation and is the parametric template the search planner rewrites
(`aivc.codec.space`).
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
                       "the search template: intra-dct plus motion compensation, half-pel, "
                       "loop filter; every design choice in one PARAMETERS block"),
    )
}
V0 = "intra-dct"
TEMPLATE = "inter-dct"


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
