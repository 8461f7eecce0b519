"""The anchor curves a campaign is scored against, fetched the same way by both drivers.

x264/x265/AV1 encode every campaign and held-out clip once (ffmpeg, cached on disk by the
clip's identity and the encoder settings); scoring and the finish-up report use them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from aivc.api.spec import CampaignSpec
from aivc.evaluate.anchors import AnchorCurve, anchor_curves
from aivc.evaluate.clips import ClipSpec
from aivc.store.local import atomic_write

Anchors = dict[str, dict[str, AnchorCurve]]
"""Canonical clip name → encoder → curve."""


def campaign_anchors(spec: CampaignSpec, cache_dir: Path, *, progress: bool = False) -> Anchors:
    """Anchor curves of every campaign and held-out clip."""
    out: Anchors = {}
    for text in (*spec.clips, *spec.held_out):
        clip = ClipSpec.parse(text)
        out[str(clip)] = anchor_curves(clip, spec.anchors, cache_dir=cache_dir, progress=progress)
    return out


def for_clips(anchors: Mapping[str, dict[str, AnchorCurve]], clips: Iterable[str]) -> Anchors:
    """The curves of `clips` (as a campaign spec writes them) that `anchors` holds."""
    names = [str(ClipSpec.parse(c)) for c in clips]
    return {n: dict(anchors[n]) for n in names if n in anchors}


def path(run_dir: Path, campaign: str) -> Path:
    return Path(run_dir) / "anchors" / f"{campaign}.json"


def save(run_dir: Path, campaign: str, anchors: Mapping[str, dict[str, AnchorCurve]]) -> None:
    """Keep a local run's curves beside its documents, so `aivc report` can draw them later."""
    doc = {clip: {enc: c.to_dict() for enc, c in per.items()} for clip, per in anchors.items()}
    atomic_write(path(run_dir, campaign), json.dumps(doc, indent=1))


def load(run_dir: Path, campaign: str) -> Anchors:
    try:
        doc = json.loads(path(run_dir, campaign).read_text())
        return {clip: {enc: AnchorCurve.from_dict(c) for enc, c in per.items()}
                for clip, per in doc.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # none saved, or by an older version: the report draws without them
