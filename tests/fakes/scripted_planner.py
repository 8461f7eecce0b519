"""A planner that proposes what a test scripted, behind the real `Planner` protocol.

The operator builds planners through the factory in its memo; tests pass
`ScriptedPlanner.factory()` there, so the operator runs its real design path (requests,
parents, history, repair, notes) against known candidates. It records every request and
the settings it was built with (the API key read from the campaign's Secret).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aivc.api.documents import LLMCall
from aivc.api.spec import CampaignSpec
from aivc.research.planning import DesignRequest, Lesson, Outcome, PlannerError, Proposal
from aivc.settings import Settings

CODECS = Path(__file__).resolve().parent / "codecs"


def codec(name: str) -> str:
    """Source of a test codec in tests/fakes/codecs/."""
    return (CODECS / f"{name}.py").read_text()


def proposal(name: str, hypothesis: str | None = None, parent: int | None = 0,
             cost_usd: float = 0.0) -> Proposal:
    calls = (LLMCall("design", "scripted", "ok", cost_usd=cost_usd),) if cost_usd else ()
    return Proposal(source=codec(name), hypothesis=hypothesis or f"try {name}",
                    parent_version=parent, calls=calls)


@dataclass
class ScriptedPlanner:
    """`script[sequence]` lists what to propose for that experiment, one per request."""

    script: dict[int, list[Proposal | PlannerError]]
    name: str = "scripted"
    requests: list[DesignRequest] = field(default_factory=list)
    learned: list[Outcome] = field(default_factory=list)
    replayed: list[Outcome] = field(default_factory=list)
    api_keys: list[str | None] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def factory(self) -> Any:
        def build(spec: CampaignSpec, settings: Settings) -> ScriptedPlanner:
            self.api_keys.append(settings.llm.api_key)
            return self
        return build

    def propose(self, request: DesignRequest) -> Proposal:
        with self._lock:
            self.requests.append(request)
            queue = self.script.get(request.sequence) or []
            if not queue:
                raise PlannerError(f"nothing scripted for sequence {request.sequence}")
            item = queue.pop(0)
        if isinstance(item, PlannerError):
            raise item
        return item

    def learn(self, outcome: Outcome) -> Lesson:
        self.learned.append(outcome)
        return Lesson(f"lesson from {outcome.sequence}: {outcome.verdict}")

    def replay(self, outcomes: list[Outcome]) -> None:
        self.replayed.extend(outcomes)
