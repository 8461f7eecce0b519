"""What the lab measured and knows, as plain values a planner can be shown (pure).

A planner that sees only means optimises blind: the design request carries each clip's
rate–distortion points (for the parent and for every anchor), the clips' geometry, the
sandbox's limits as numbers and what hardware the execution gets. These types are that
evidence; the builders below derive it from results, anchors, limits and the spec, and
never read a store or a clock themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aivc.api.spec import CampaignSpec
from aivc.evaluate.clips import ClipSpec
from aivc.evaluate.results import EvaluationResult, LevelResult
from aivc.sandbox.limits import SandboxLimits


@dataclass(frozen=True)
class RDPoint:
    """One rate point: a codec's level, or an anchor encoder's CRF."""

    level: int
    kbps: float
    psnr_yuv: float
    psnr_y: float
    psnr_u: float
    psnr_v: float
    ssim_y: float


RDTable = Mapping[str, tuple[RDPoint, ...]]
"""Clip → its rate points, highest quality first."""


@dataclass(frozen=True)
class AnchorRD:
    encoder: str
    clip: str
    points: tuple[RDPoint, ...]


@dataclass(frozen=True)
class ClipFacts:
    name: str
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    fps: float | None = None
    held_out: bool = False


@dataclass(frozen=True)
class SandboxFacts:
    """Limits per candidate process, and per sandbox run (`spec.evaluation`)."""

    wall_s: float
    cpu_s: int
    memory_bytes: int
    max_bitstream_bytes: int
    max_source_bytes: int
    validation_timeout_s: int
    execution_timeout_s: int


@dataclass(frozen=True)
class LabFacts:
    """What stays the same for a campaign's designs: clips, anchors, limits, hardware."""

    clips: tuple[ClipFacts, ...] = ()
    anchors: tuple[AnchorRD, ...] = ()
    sandbox: SandboxFacts | None = None
    hardware: str = ""


@dataclass(frozen=True)
class Program:
    """Another program from the archive, shown with its code and what became of it."""

    role: str
    """best | diverse | failed | rejected."""
    sequence: int
    version: int | None
    hypothesis: str
    outcome: str
    source: str


@dataclass(frozen=True)
class KnownProgram:
    """A program already designed in this campaign, by its normalised fingerprint."""

    fingerprint: str
    label: str


@dataclass(frozen=True)
class ChangeEvidence:
    """What a lesson is drawn from: the change (both sources) and both RD tables; and the
    best version's code, which the reviewer sees."""

    source: str | None = None
    parent_source: str | None = None
    rd: RDTable = field(default_factory=dict)
    parent_rd: RDTable = field(default_factory=dict)
    best_source: str | None = None
    best_version: int | None = None


# ---- builders ---------------------------------------------------------------------------


def rd_table(levels: Iterable[LevelResult]) -> dict[str, tuple[RDPoint, ...]]:
    """A result's levels as rate points per clip, highest quality (level 0) first."""
    out: dict[str, list[RDPoint]] = {}
    for r in sorted(levels, key=lambda r: (r.clip, r.level)):
        out.setdefault(r.clip, []).append(RDPoint(r.level, r.kbps, r.psnr_yuv, r.psnr_y, r.psnr_u,
                                                  r.psnr_v, r.ssim_y))
    return {clip: tuple(points) for clip, points in out.items()}


def anchor_rd(anchors: Mapping[str, Mapping[str, Any]]) -> tuple[AnchorRD, ...]:
    """Every anchor curve (clip → encoder → `AnchorCurve`) as rate points, best quality first."""
    out = []
    for clip in sorted(anchors):
        for encoder in sorted(anchors[clip]):
            points = sorted(anchors[clip][encoder].points, key=lambda p: -p.kbps)
            out.append(AnchorRD(encoder, clip, tuple(
                RDPoint(int(p.param), p.kbps, p.psnr_yuv, p.psnr_y, p.psnr_u, p.psnr_v, p.ssim_y)
                for p in points)))
    return tuple(out)


def clip_facts(spec: CampaignSpec, result: EvaluationResult | None,
               anchors: Mapping[str, Mapping[str, Any]]) -> tuple[ClipFacts, ...]:
    """Each campaign and held-out clip with its geometry, from a result when one measured it,
    else the frame count the anchors were encoded with."""
    measured = {c.name: c for c in (result.clips if result else [])}
    held = {str(ClipSpec.parse(c)) for c in spec.held_out}
    out = []
    for text in (*spec.clips, *spec.held_out):
        name = str(ClipSpec.parse(text))
        info = measured.get(name)
        if info is not None:
            out.append(ClipFacts(name, info.width, info.height, info.frames, info.fps, name in held))
            continue
        frames = next((int(c.frames) for c in (anchors.get(name) or {}).values() if c.frames), None)
        out.append(ClipFacts(name, frames=frames, held_out=name in held))
    return tuple(out)


def sandbox_facts(limits: SandboxLimits | None, spec: CampaignSpec) -> SandboxFacts:
    lim = limits or SandboxLimits()
    return SandboxFacts(lim.wall_seconds, lim.cpu_seconds, lim.address_space_bytes,
                        lim.max_bitstream_bytes, lim.max_source_bytes,
                        spec.validation_timeout_s, spec.execution_timeout_s)


def hardware(spec: CampaignSpec, local: bool) -> str:
    """The execution hardware in words, from what the spec says (nothing is probed)."""
    if local:
        return ("Local mode: the sandbox runs on the machine that runs `aivc run`, CPU cores "
                "only as far as the lab knows (spec.sandbox.gpus applies to the operator's "
                "Jobs). Write the codec for the CPU; if you use torch, use a GPU only when "
                "`torch.cuda.is_available()` and give identical bytes without one.")
    sb = spec.sandbox
    if sb.gpus <= 0:
        return (f"Kubernetes sandbox pods with {sb.cpu} CPU and {sb.memory} memory, no GPU: "
                "everything runs on the CPU.")
    return (f"Kubernetes sandbox pods with {sb.cpu} CPU and {sb.memory} memory; execution "
            f"Jobs get {sb.gpus} GPU ({sb.gpu_resource_name}), validation Jobs none, so the "
            "codec must also run on the CPU and give identical bytes there.")


def facts(spec: CampaignSpec, result: EvaluationResult | None,
          anchors: Mapping[str, Mapping[str, Any]], limits: SandboxLimits | None,
          local: bool) -> LabFacts:
    return LabFacts(clip_facts(spec, result, anchors), anchor_rd(anchors),
                    sandbox_facts(limits, spec), hardware(spec, local))
