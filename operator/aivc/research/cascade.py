"""The evaluation cascade: cheap stages first, so a candidate that cannot be adopted stops
early, and the expensive checks run only for the ones that could be (pure).

Stages of one execution, each a sandbox run (a local run, or one Job on a cluster):

- `screen`: the first campaign clip at its first and last level (the two ends of the curve),
  one level of it decoded twice. It stops the candidate when, there, it is clearly worse than
  the best (BD-rate on PSNR-YUV against the best above `screenStopAbove` percent) or cannot be
  compared with the best or the anchor at all: it could not be adopted.
- `campaign`: every campaign clip at every level (the screened levels again, so each clip is
  one encoder run and the stage's results are the experiment's), a sampled level of each
  clip decoded twice. If the adoption rule, held-out clips aside, would not adopt it, the
  cascade ends here and the analysis rejects it as measured.
- `confirm`: a would-be adoption. The campaign clips once more with every level decoded
  twice (the full determinism check) and the held-out clips; the adoption decision is made
  on these results alone.

With nothing adopted yet (the baseline), or the cascade switched off, there is one stage,
`full`: every campaign and held-out clip at every level, every level decoded twice — exactly
what an evaluation without a cascade does. Both drivers run the stages this module names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from aivc.api.spec import CampaignSpec
from aivc.evaluate.anchors import AnchorCurve
from aivc.evaluate.results import EvaluationResult
from aivc.evaluate.scoring import BEST, HEADLINE, score
from aivc.research.adoption import decide
from aivc.research.analysis import clip_names, rules, subset, summarize

SCREEN, CAMPAIGN, CONFIRM, FULL = "screen", "campaign", "confirm", "full"
_PARTS = {SCREEN: "scr", CAMPAIGN: "cmp", CONFIRM: "cnf", FULL: ""}


@dataclass(frozen=True)
class Stage:
    name: str
    clips: tuple[str, ...]
    """Clip specs as the campaign writes them."""
    levels: tuple[int, ...] | None
    """Levels to measure (negative counts from the last); None: every level."""
    redecode: str
    """"all": every level decoded twice; "sample": one level per clip, unpredictably."""

    @property
    def part(self) -> str:
        """A short tag telling a cascade's sandbox Jobs apart (none for a single stage)."""
        return _PARTS[self.name]


@dataclass(frozen=True)
class Done:
    stopped_early: str | None = None
    """Why the candidate was stopped before being measured everywhere (None: it was not)."""


def stage(name: str, spec: CampaignSpec) -> Stage:
    """What a stage measures, by its name."""
    match name:
        case "screen":
            return Stage(SCREEN, spec.clips[:1], (0, -1), "sample")
        case "campaign":
            return Stage(CAMPAIGN, spec.clips, None, "sample")
        case "confirm" | "full":
            return Stage(name, (*spec.clips, *spec.held_out), None, "all")
    raise ValueError(f"unknown cascade stage {name!r}")


def first(spec: CampaignSpec, has_best: bool) -> str:
    return SCREEN if has_best and spec.cascade else FULL


def after(name: str, spec: CampaignSpec, measured: EvaluationResult,
          best: EvaluationResult | None, anchors: Mapping[str, dict[str, AnchorCurve]]) -> str | Done:
    """What follows stage `name`, given everything measured so far."""
    if name in (FULL, CONFIRM) or best is None or not measured.ok:
        return Done()
    if name == SCREEN:
        why = _hopeless(spec, measured, best, anchors)
        if why is not None:
            return Done(stopped_early=f"stopped after the screening stage ({spec.clips[0]}, first and "
                                      f"last level): {why}")
        return CAMPAIGN
    _, evidence = summarize(measured, anchors, best, replace(spec, held_out=()))
    if not decide(evidence, True, rules(spec)).adopt:
        return Done()
    return CONFIRM


def _hopeless(spec: CampaignSpec, measured: EvaluationResult, best: EvaluationResult,
              anchors: Mapping[str, dict[str, AnchorCurve]]) -> str | None:
    clip = clip_names(spec.clips[:1])
    found = score(subset(measured, clip), anchors, subset(best, clip), min_overlap=spec.min_overlap)
    only = found.clips[0]
    if only.bd_rate(spec.anchor) is None:
        return f"no score against {spec.anchor}: {only.why_not(spec.anchor)}"
    vs_best = only.bd_rate(BEST, HEADLINE)
    if vs_best is None:
        return f"cannot be compared with the best: {only.why_not(BEST)}"
    if vs_best > spec.screen_stop_above:
        return (f"BD-rate (PSNR-YUV) vs the best {vs_best:+.2f}% there, above the "
                f"{spec.screen_stop_above:+.2f}% that can still lead to an adoption")
    return None
