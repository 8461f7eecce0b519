"""An in-process scripted `LLMClient` and the campaign, parents and lab facts the LLM planner's
unit tests share (the SDK path is covered against `aivc.testing.messages` in tests/integration)."""

from __future__ import annotations

import copy
from collections import deque
from typing import Any

from aivc.api.documents import ClipMetrics, Metrics
from aivc.api.spec import CampaignSpec
from aivc.llm.accounting import TokenUsage
from aivc.llm.client import LLMResponse
from aivc.research.evidence import (
    AnchorRD,
    ClipFacts,
    LabFacts,
    RDPoint,
    SandboxFacts,
)
from aivc.research.planning import DesignRequest, ParentCodec

MODEL = "claude-sonnet-4-6"
BASE = "LEVELS = 4\nSTEP = 8\n\n\ndef encode(video, level):\n    return b''\n\n\ndef decode(bits):\n    return None\n"
OTHER = "LEVELS = 1\nFAST = True\n\n\ndef encode(video, level):\n    return b'f'\n\n\ndef decode(bits):\n    return None\n"
USAGE = TokenUsage(input=2000, output=800, cache_read=3000)


def spec(review_every: int = 0, **llm: Any) -> CampaignSpec:
    return CampaignSpec.from_manifest({
        "apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": "t"},
        "spec": {"goal": {"anchor": "x264"}, "planner": "llm", "seed": 7,
                 "dataset": {"clips": ["carphone:8"], "heldOut": ["bikes:8"]},
                 "evaluation": {"adoptionMargin": 0.7, "maxChromaLossDB": 0.4, "minOverlap": 0.85,
                                "heldOutTolerance": 1.5},
                 "llm": {"model": MODEL, "reviewEvery": review_every, "maxTokens": 4000, **llm}}})


def reply(tool: str, tool_input: Any, stop: str = "tool_use", usage: TokenUsage = USAGE,
          model: str = MODEL) -> LLMResponse:
    return LLMResponse(model=model, stop_reason=stop, usage=usage, content=(
        {"type": "tool_use", "id": f"toolu_{tool}", "name": tool, "input": tool_input},))


class ScriptedClient:
    """Answers calls from a list; records what the planner sent."""

    def __init__(self, *replies: LLMResponse | Exception) -> None:
        self.replies: deque[LLMResponse | Exception] = deque(replies)
        self.calls: list[dict[str, Any]] = []

    def call(self, system_blocks, messages, tools, tool_choice, max_tokens, *, model=None) -> LLMResponse:
        self.calls.append({"system": list(system_blocks), "messages": copy.deepcopy(list(messages)),
                           "tools": list(tools), "tool_choice": tool_choice,
                           "max_tokens": max_tokens, "model": model})
        item = self.replies.popleft()
        if isinstance(item, Exception):
            raise item
        return item

    def prompt(self, i: int = -1) -> str:
        """All text of the last user message of call i."""
        content = self.calls[i]["messages"][-1]["content"]
        return "\n".join(str(b.get("text") or b.get("content") or "") for b in content)

    def everything(self, i: int = -1) -> str:
        """All text call i sent: system, then every block of every message."""
        parts = [b["text"] for b in self.calls[i]["system"]]
        for m in self.calls[i]["messages"]:
            parts += [str(b.get("text") or b.get("content") or "") for b in m["content"]]
        return "\n".join(parts)


def point(level: int, kbps: float, yuv: float) -> RDPoint:
    return RDPoint(level, kbps, yuv, yuv - 1.0, yuv + 3.0, yuv + 4.0, 0.9 + level / 100)


def metrics(bd: float, held_out: float) -> Metrics:
    return Metrics(bd_rate=bd, kbps=400.0, per_clip={
        "carphone:8": ClipMetrics(bd_rate={"x264": bd}),
        "bikes:8": ClipMetrics(bd_rate={"x264": held_out}, held_out=True)})


PARENTS = (
    ParentCodec(version=3, source=BASE, bd_rate=12.5, kbps=400.0, encode_fps=10.0, sequence=5,
                hypothesis="smaller blocks", complexity=40, metrics=metrics(12.5, 30.25),
                rd={"carphone:8": (point(0, 812.5, 41.25), point(1, 402.0, 37.5)),
                    "bikes:8": (point(0, 1500.0, 39.0),)}),
    ParentCodec(version=1, source=OTHER, bd_rate=20.0, encode_fps=90.0, sequence=2,
                hypothesis="a fast path", complexity=30, metrics=metrics(20.0, 35.0)),
)

LAB = LabFacts(
    clips=(ClipFacts("carphone:8", 176, 144, 8, 29.97), ClipFacts("bikes:8", 640, 272, 8, 25.0, True)),
    anchors=(AnchorRD("x264", "carphone:8", (point(23, 950.0, 42.5), point(41, 90.0, 31.75))),
             AnchorRD("x265", "carphone:8", (point(28, 700.0, 42.0),))),
    sandbox=SandboxFacts(120.0, 240, 6 << 30, 256 << 20, 512 << 10, 300, 1800),
    hardware="Local mode: CPU only as far as the lab knows.")


def request(seq: int = 1, **kw: Any) -> DesignRequest:
    """A design request; its only parent is v3 (BASE) unless `parents` says otherwise."""
    kw.setdefault("parents", PARENTS[:1])
    kw.setdefault("lab", LAB)
    kw.setdefault("seed", 7)
    return DesignRequest(sequence=seq, **kw)


def edit(search: str, replace: str, hypothesis: str = "smaller step") -> dict[str, Any]:
    return {"hypothesis": hypothesis, "rationale": "because",
            "edits": [{"search": search, "replace": replace}]}
