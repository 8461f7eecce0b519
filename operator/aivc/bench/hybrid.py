"""Bench section `hybrid`: the hybrid planner against the LLM planner, same LLM calls.

Both campaigns talk to the project's scripted Messages API (`aivc.testing.messages`) through
the real SDK. Its "model" writes the same tunable programs for both, in the same order: the
base codec (`intra-dct`) with its quantiser step, step ratio, dead zone and chroma offset
declared as parameters — and deliberately poor default values, as a first guess often is.
The `llm` campaign measures each program as written; the `hybrid` campaign measures it and
then runs `hybrid.searchPerDesign` search experiments over its parameters before asking for
the next one. Every candidate is encoded, decoded and scored for real (sandbox, x264
anchor); only the model's text is scripted.

Reported per planner: LLM calls (design and lesson calls the server answered), experiments,
the best BD-rate (PSNR-YUV vs x264) of the experiments the planner designed (the shared
baseline, experiment 0, left out: it is the same in both and says nothing about a planner),
and how many LLM calls the hybrid had made when it first reached the `llm` campaign's best.
A program whose rate points miss the anchor's quality range has no BD-rate at all; such
experiments count as unscored.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from aivc import settings as settings_mod
from aivc.api.documents import ExperimentDoc
from aivc.api.spec import CampaignSpec
from aivc.codec.reference import reference_source
from aivc.codec.space import BEGIN, END
from aivc.llm.client import AnthropicClient
from aivc.llm.retrying import RetryPolicy
from aivc.research.hybrid_planner import HybridPlanner
from aivc.research.llm_planner import LLMPlanner
from aivc.research.local import run_campaign
from aivc.research.planning import Planner
from aivc.store.local import LocalStore
from aivc.testing.messages import FakeMessagesServer, tool_use

KEY = "sk-ant-bench-hybrid"
MODEL = "claude-sonnet-5-5"
CLIP = "carphone:8"
PROGRAMS = (
    {"QSTEP": 2.2, "QSTEP_RATIO": 1.3, "DEADZONE": 0.02, "CHROMA_QP_OFFSET": -5},
    {"QSTEP": 16.0, "QSTEP_RATIO": 1.25, "DEADZONE": 0.48, "CHROMA_QP_OFFSET": 10},
)
"""The defaults of each scripted program: a step too fine or too coarse, levels bunched
together, a dead zone at an extreme and chroma far off balance."""
_LINES = {
    "QSTEP": "float: 2..24 log; luma quantiser step of level 0 (the highest quality)",
    "QSTEP_RATIO": "float: 1.2..2.6; each level multiplies the step by this",
    "DEADZONE": "float: 0..0.5; rounding offset: q = floor(|c| / step + DEADZONE)",
    "CHROMA_QP_OFFSET": "int: -6..12; chroma step = luma step * 2 ** (offset / 6)",
}


def tunable_program(values: dict[str, Any]) -> str:
    """`intra-dct` with its four quantiser constants declared as parameters."""
    lines = reference_source("intra-dct").splitlines(keepends=True)
    names = tuple(_LINES)
    first = next(i for i, line in enumerate(lines) if line.startswith(names))
    rest = [line for line in lines[first:] if not line.startswith(names)]
    block = [BEGIN + "\n", *(f"{n} = {values[n]!r}  # {_LINES[n]}\n" for n in names), END + "\n"]
    return "".join([*lines[:first], *block, *rest])


def script(server: FakeMessagesServer, programs: tuple[dict[str, Any], ...] = PROGRAMS) -> None:
    """The scripted model: one tunable program per design call, a plain lesson per analysis."""
    server.push(*(tool_use("propose_codec", {
        "hypothesis": f"Declare the quantiser's knobs (variant {i + 1}) and let the lab tune them.",
        "rationale": "the step sizes and the dead zone are guesses",
        "source": tunable_program(values)}) for i, values in enumerate(programs)), tool="propose_codec")
    server.always("record_analysis", lambda _req: tool_use("record_analysis", {
        "lesson": "The quantiser's defaults matter as much as its structure.", "advice": "keep"}))


def campaign_spec(planner: str, experiments: int, per_design: int, *, name: str | None = None,
                  clip: str = CLIP) -> CampaignSpec:
    return CampaignSpec.from_manifest({
        "apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": name or planner},
        "spec": {"planner": planner, "baseCodec": "intra-dct", "seed": 3,
                 "dataset": {"clips": [clip]}, "evaluation": {"anchors": ["x264"]},
                 "budget": {"maxExperiments": experiments}, "hybrid": {"searchPerDesign": per_design},
                 "llm": {"model": MODEL, "reviewEvery": 0}, "finishUp": {"report": False}}})


def make_planner(spec: CampaignSpec, server: FakeMessagesServer) -> Planner:
    """The real planner of `spec.planner`, its SDK pointed at the scripted server."""
    llm_settings = settings_mod.LLMSettings(api_key=KEY, base_url=server.url)
    client = AnthropicClient(llm_settings, spec.llm.model, policy=RetryPolicy(base_delay_s=0.01),
                             rng=random.Random(0))
    llm = LLMPlanner(spec, llm_settings, client=client)
    return HybridPlanner(spec, llm) if spec.planner == "hybrid" else llm


def run_one(planner: str, designs: int, per_design: int, work: Path,
            base: settings_mod.Settings) -> dict[str, Any]:
    experiments = 1 + designs * (1 + (per_design if planner == "hybrid" else 0))
    spec = campaign_spec(planner, experiments, per_design)
    with FakeMessagesServer(api_key=KEY) as server:
        script(server)
        made = make_planner(spec, server)
        settings = replace(base, llm=replace(base.llm, api_key=KEY, base_url=server.url))
        try:
            run_campaign(spec, work / planner, planner=made, settings=settings, progress=False)
        finally:
            getattr(made, "close", lambda: None)()
        calls = len(server.answered())
        prompts = [r.text() for r in server.requests_for("propose_codec")]
    docs = sorted((ExperimentDoc.parse(d) for d in LocalStore(work / planner).list("Experiment")),
                  key=lambda e: e.sequence)
    return {"calls": calls, "docs": docs, "prompts": prompts}


def best_after_calls(docs: list[ExperimentDoc]) -> list[tuple[int, float]]:
    """(LLM calls made so far, best BD-rate so far) after each designed experiment."""
    calls, best, out = 0, float("inf"), []
    for e in docs:
        if e.sequence == 0:
            continue
        calls += len(e.status.llm_calls)  # its design and its lesson
        m = e.status.metrics
        if m is not None and m.bd_rate is not None:
            best = min(best, m.bd_rate)
        out.append((calls, best))
    return out


def _first(points: list[tuple[int, float]], target: float) -> int | None:
    return next((calls for calls, best in points if best <= target), None)


def _shown(value: float) -> float | str:
    return round(value, 2) if value != float("inf") else "unscored"


def run() -> dict[str, Any]:
    settings = settings_mod.load()
    designs, per_design = settings.bench.hybrid_designs, settings.bench.hybrid_search
    with tempfile.TemporaryDirectory(prefix="aivc-bench-hybrid-") as tmp:
        runs = {p: run_one(p, designs, per_design, Path(tmp), settings) for p in ("llm", "hybrid")}
    points = {p: best_after_calls(r["docs"]) for p, r in runs.items()}
    best = {p: pts[-1][1] if pts else float("inf") for p, pts in points.items()}
    rows = []
    for planner, found in runs.items():
        docs = found["docs"]
        base = docs[0].status.metrics.bd_rate if docs and docs[0].status.metrics else None
        rows.append({"planner": planner, "LLM calls": found["calls"], "experiments": len(docs),
                     "search experiments": sum(1 for e in docs if e.status.origin
                                               and e.status.origin.planner == "search"),
                     "best designed BD-rate (%)": _shown(best[planner]),
                     "baseline BD-rate (%)": _shown(base if base is not None else float("inf")),
                     "LLM calls to reach llm's best": _first(points[planner], best["llm"]) or "-"})
    gain = best["llm"] - best["hybrid"]
    notes = [f"{designs} scripted programs with poor default values; the hybrid ran {per_design} "
             "search experiments over each one's declared parameters before the next program",
             f"same LLM calls: the hybrid's best designed BD-rate is {gain:+.2f} points better "
             "than the llm planner's (positive: hybrid better)",
             "LLM calls count every call the scripted server answered (designs and lessons); "
             "search experiments make none"]
    return {"title": "Hybrid vs LLM planner (scripted model, real encodes)", "rows": rows,
            "notes": notes, "hybrid_gain_points": round(gain, 2) if gain == gain else None}
