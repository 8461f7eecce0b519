"""An Experiment's measured numbers as its status holds them (`status.metrics`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aivc.api.fields import Json, compact, mapping, number


@dataclass(frozen=True)
class ClipMetrics:
    """One clip's numbers in `status.metrics.perClip`."""

    bd_rate: Mapping[str, float] = field(default_factory=dict)
    """BD-rate in percent against each anchor encoder, and against the best (`BEST`)."""
    kbps: float | None = None
    psnr_y: float | None = None
    ssim_y: float | None = None
    held_out: bool = False
    not_scored: Mapping[str, str] = field(default_factory=dict)
    """Why a reference could not be scored on this clip."""


BEST = "best"
"""The reference name of BD-rates against the current best version."""


def bd_rate_key(reference: str) -> str:
    """`x264` → `bdRateX264`, `best` → `bdRateVsBest` (the CRD's spelling)."""
    if reference == BEST:
        return "bdRateVsBest"
    return "bdRate" + reference[:1].upper() + reference[1:]


def _bd_rates(doc: Json, references: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for ref in references:
        value = number(doc.get(bd_rate_key(ref)))
        if value is not None:
            out[ref] = value
    return out


def _references(doc: Json) -> tuple[str, ...]:
    """The references a metrics document holds BD-rates against."""
    refs = []
    for key in doc:
        if key == "bdRateVsBest":
            refs.append(BEST)
        elif key.startswith("bdRate") and len(key) > len("bdRate"):
            rest = key[len("bdRate"):]
            refs.append(rest[:1].lower() + rest[1:])
    return tuple(refs)


@dataclass(frozen=True)
class Metrics:
    """An Experiment's `status.metrics`: the headline numbers and each clip's."""

    bd_rate: float | None = None
    """The score: BD-rate in percent against the campaign's anchor, mean over the campaign clips."""
    bd_rates: Mapping[str, float] = field(default_factory=dict)
    """Mean BD-rate against each anchor encoder, and against the best (`BEST`)."""
    kbps: float | None = None
    psnr_y: float | None = None
    ssim_y: float | None = None
    encode_fps: float | None = None
    decode_fps: float | None = None
    per_clip: Mapping[str, ClipMetrics] = field(default_factory=dict)

    @property
    def bd_rate_vs_best(self) -> float | None:
        return self.bd_rates.get(BEST)

    @property
    def measured(self) -> bool:
        return self.kbps is not None and self.psnr_y is not None

    @classmethod
    def parse(cls, doc: Any) -> Metrics:
        m = mapping(doc)
        per_clip = {}
        for clip, row in mapping(m.get("perClip")).items():
            r = mapping(row)
            per_clip[str(clip)] = ClipMetrics(
                _bd_rates(r, _references(r)), number(r.get("kbps")), number(r.get("psnrY")),
                number(r.get("ssimY")), bool(r.get("heldOut", False)),
                {str(k): str(v) for k, v in mapping(r.get("notScored")).items()})
        return cls(number(m.get("bdRate")), _bd_rates(m, _references(m)), number(m.get("kbps")),
                   number(m.get("psnrY")), number(m.get("ssimY")), number(m.get("encodeFps")),
                   number(m.get("decodeFps")), per_clip)

    def to_json(self) -> Json | None:
        out: Json = {"bdRate": self.bd_rate}
        out.update({bd_rate_key(ref): v for ref, v in self.bd_rates.items() if ref != BEST})
        if BEST in self.bd_rates:
            out[bd_rate_key(BEST)] = self.bd_rates[BEST]
        out.update({"kbps": self.kbps, "psnrY": self.psnr_y, "ssimY": self.ssim_y,
                    "encodeFps": self.encode_fps, "decodeFps": self.decode_fps})
        per_clip = {}
        for clip, c in self.per_clip.items():
            row: Json = {bd_rate_key(ref): v for ref, v in c.bd_rate.items()}
            row.update({"kbps": c.kbps, "psnrY": c.psnr_y, "ssimY": c.ssim_y,
                        "notScored": dict(c.not_scored) or None, "heldOut": c.held_out or None})
            per_clip[clip] = compact(row) or {}
        out["perClip"] = per_clip or None
        return compact(out)
