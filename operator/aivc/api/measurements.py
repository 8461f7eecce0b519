"""An Experiment's measured numbers as its status holds them (`status.metrics`).

The score (`bdRate`) is BD-rate in percent on PSNR-YUV against the campaign's anchor, mean
over the campaign clips. Beside it: the same against every anchor and against the best
version (`bdRateX264`, `bdRateVsBest`, ...), BD-rate against the anchor on each quality
metric (`bdRateByMetric`), the chroma planes' quality change against the best at equal rate
(`chromaVsBestDB`), means of rate and quality, speed, and each clip's numbers in `perClip`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aivc.api.fields import Json, compact, mapping, number

BEST = "best"
"""The reference name of BD-rates against the current best version."""
SCORE_METRIC = "psnr_yuv"
SCORE_LABEL = "BD-rate (PSNR-YUV 6:1:1)"
QUALITY_KEYS = {"psnr_yuv": "psnrYuv", "psnr_y": "psnrY", "psnr_u": "psnrU", "psnr_v": "psnrV",
                "ssim_y": "ssimY"}
"""Quality metric → the key documents spell it with."""


def bd_rate_key(reference: str) -> str:
    """`x264` → `bdRateX264`, `best` → `bdRateVsBest` (the CRD's spelling)."""
    if reference == BEST:
        return "bdRateVsBest"
    return "bdRate" + reference[:1].upper() + reference[1:]


def _references(doc: Json) -> dict[str, float]:
    """Reference → BD-rate, read from the `bdRate<Reference>` keys of a metrics document."""
    out = {}
    for key, value in doc.items():
        if not key.startswith("bdRate") or key in ("bdRate", "bdRateByMetric") \
                or (v := number(value)) is None:
            continue
        rest = key[len("bdRate"):]
        out[BEST if rest == "VsBest" else rest[:1].lower() + rest[1:]] = v
    return out


def _by_key(doc: Any, keys: Mapping[str, str]) -> dict[str, float]:
    d = mapping(doc)
    return {name: v for name, key in keys.items() if (v := number(d.get(key))) is not None}


def _quality_json(values: Mapping[str, float]) -> Json | None:
    return compact({QUALITY_KEYS[m]: v for m, v in values.items()})


@dataclass(frozen=True)
class Quality:
    """Mean quality over clips and levels (or over one clip's levels)."""

    psnr_yuv: float | None = None
    psnr_y: float | None = None
    psnr_u: float | None = None
    psnr_v: float | None = None
    ssim_y: float | None = None

    @classmethod
    def parse(cls, doc: Json) -> Quality:
        return cls(**_by_key(doc, QUALITY_KEYS))

    def to_json(self) -> Json:
        return {QUALITY_KEYS[m]: getattr(self, m) for m in QUALITY_KEYS}


@dataclass(frozen=True)
class ClipMetrics:
    """One clip's numbers in `status.metrics.perClip`."""

    bd_rate: Mapping[str, float] = field(default_factory=dict)
    """Reference (an anchor encoder, or `BEST`) → BD-rate on PSNR-YUV in percent."""
    by_metric: Mapping[str, float] = field(default_factory=dict)
    """Quality metric → BD-rate against the campaign's anchor."""
    chroma_vs_best: Mapping[str, float] = field(default_factory=dict)
    """psnr_u / psnr_v → quality change against the best at equal rate, dB."""
    kbps: float | None = None
    quality: Quality = field(default_factory=Quality)
    held_out: bool = False
    not_scored: Mapping[str, str] = field(default_factory=dict)
    """Reference → why the score could not be computed on this clip."""

    @classmethod
    def parse(cls, doc: Any) -> ClipMetrics:
        r = mapping(doc)
        return cls(_references(r), _by_key(r.get("bdRateByMetric"), QUALITY_KEYS),
                   _by_key(r.get("chromaVsBestDB"), QUALITY_KEYS), number(r.get("kbps")),
                   Quality.parse(r), bool(r.get("heldOut", False)),
                   {str(k): str(v) for k, v in mapping(r.get("notScored")).items()})

    def to_json(self) -> Json:
        row: Json = {bd_rate_key(ref): v for ref, v in self.bd_rate.items()}
        row.update({"bdRateByMetric": _quality_json(self.by_metric),
                    "chromaVsBestDB": _quality_json(self.chroma_vs_best), "kbps": self.kbps,
                    **self.quality.to_json(), "notScored": dict(self.not_scored) or None,
                    "heldOut": self.held_out or None})
        return compact(row) or {}


@dataclass(frozen=True)
class Metrics:
    """An Experiment's `status.metrics` (see the module docstring)."""

    bd_rate: float | None = None
    """The score: BD-rate (PSNR-YUV) in percent against the campaign's anchor."""
    bd_rates: Mapping[str, float] = field(default_factory=dict)
    """Reference → mean BD-rate on PSNR-YUV: every anchor, and the best (`BEST`)."""
    by_metric: Mapping[str, float] = field(default_factory=dict)
    """Quality metric → mean BD-rate against the campaign's anchor."""
    chroma_vs_best: Mapping[str, float] = field(default_factory=dict)
    """psnr_u / psnr_v → mean quality change against the best at equal rate, dB."""
    kbps: float | None = None
    quality: Quality = field(default_factory=Quality)
    luma_vs_best: float | None = None
    """Mean BD-rate on PSNR-Y against the best, percent (adoption bounds it)."""
    encode_fps: float | None = None
    """Frames encoded per second, the candidate's import counted."""
    decode_fps: float | None = None
    per_clip: Mapping[str, ClipMetrics] = field(default_factory=dict)

    @property
    def bd_rate_vs_best(self) -> float | None:
        return self.bd_rates.get(BEST)

    @property
    def psnr_y(self) -> float | None:
        return self.quality.psnr_y

    @property
    def psnr_yuv(self) -> float | None:
        return self.quality.psnr_yuv

    @property
    def ssim_y(self) -> float | None:
        return self.quality.ssim_y

    @property
    def measured(self) -> bool:
        return self.kbps is not None and self.quality.psnr_yuv is not None

    @classmethod
    def parse(cls, doc: Any) -> Metrics:
        m = mapping(doc)
        return cls(number(m.get("bdRate")), _references(m), _by_key(m.get("bdRateByMetric"), QUALITY_KEYS),
                   _by_key(m.get("chromaVsBestDB"), QUALITY_KEYS), number(m.get("kbps")),
                   Quality.parse(m), number(m.get("lumaVsBest")), number(m.get("encodeFps")),
                   number(m.get("decodeFps")),
                   {str(c): ClipMetrics.parse(r) for c, r in mapping(m.get("perClip")).items()})

    def to_json(self) -> Json | None:
        out: Json = {"bdRate": self.bd_rate}
        out.update({bd_rate_key(ref): v for ref, v in self.bd_rates.items()})
        out.update({"bdRateByMetric": _quality_json(self.by_metric),
                    "chromaVsBestDB": _quality_json(self.chroma_vs_best), "kbps": self.kbps,
                    **self.quality.to_json(), "lumaVsBest": self.luma_vs_best,
                    "encodeFps": self.encode_fps,
                    "decodeFps": self.decode_fps,
                    "perClip": {c: r.to_json() for c, r in self.per_clip.items()} or None})
        return compact(out)
