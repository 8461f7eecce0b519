"""Publish what the driver core decided to the metrics registry, the same way for both drivers.

A driver hands over the observations of each transition it persisted and the gauges of each
campaign plan; what becomes which metric is decided here once, so local mode and the
operator export the same series from the same documents. The driver also names the
Campaign's namespace (`metrics.LOCAL_NAMESPACE` in local mode): the core's observations carry
the campaign's name only, and the metrics key every campaign series by both.
"""

from __future__ import annotations

from collections.abc import Iterable

from aivc.observe import metrics
from aivc.research.campaigning import Gauges
from aivc.research.driving import (
    Finished,
    InfraTrouble,
    Measured,
    Observation,
    PhaseChanged,
    SandboxFailed,
)


def observations(anchor: str, observed: Iterable[Observation], *, namespace: str) -> None:
    ns = {"namespace": namespace}
    for item in observed:
        match item:
            case PhaseChanged(campaign, old, new, seconds):
                metrics.phase_changed(campaign, old.value, new.value, seconds, **ns)
            case SandboxFailed(campaign, stage, category):
                metrics.sandbox_failed(campaign, stage, category, **ns)
            case Measured(campaign, sequence, m):
                if m.kbps is not None and m.psnr_yuv is not None:
                    metrics.measured(campaign, anchor, sequence, m.bd_rate, m.kbps, m.psnr_yuv, **ns)
            case Finished(campaign, outcome):
                metrics.experiment_finished(campaign, outcome.value, **ns)
            case InfraTrouble(campaign, phase, reason):
                metrics.infra_failed(campaign, phase, reason, **ns)


def gauges(campaign: str, anchor: str, state: Gauges, *, namespace: str) -> None:
    metrics.campaign_state(campaign, namespace=namespace,
                           in_phase={p.value: n for p, n in state.in_phase.items()},
                           waiting=state.waiting_since, since_adoption=state.since_adoption,
                           last_adoption=state.last_adoption, cost_usd=state.cost_usd,
                           paused=state.paused)
    if state.arms:
        metrics.design_models(campaign, [(a.model, a.programs, a.value) for a in state.arms],
                              namespace=namespace)
    best = state.best
    m = best.status.metrics if best is not None else None
    if best is not None and m is not None and m.kbps is not None and m.psnr_yuv is not None:
        metrics.best_version(campaign, anchor, int(best.status.version or 0), m.bd_rate, m.kbps,
                             m.psnr_yuv, namespace=namespace)
