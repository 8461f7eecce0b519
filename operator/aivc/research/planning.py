"""The one interface every planner implements (search optimizer, LLM, test doubles), and the
choice of planner a campaign asks for (`make_planner`).

Planners are rebuilt from the experiment history on every start (`replay`), so they keep no
state of their own that could be lost: a killed local run or a restarted operator replays
the finished experiments and carries on. Whatever a planner must remember (optimizer
trials, an LLM's lessons) is derived from `Outcome`s, which live in Experiment documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aivc.api.documents import Failure, LLMCall, Metrics, Origin
from aivc.api.spec import CampaignSpec
from aivc.errors import AivcError
from aivc.research.evidence import ChangeEvidence, KnownProgram, LabFacts, Program, RDPoint
from aivc.settings import Settings


@dataclass(frozen=True)
class ParentCodec:
    """An adopted version the next candidate may start from."""

    version: int
    source: str
    bd_rate: float | None = None
    kbps: float | None = None
    psnr_yuv: float | None = None
    encode_fps: float | None = None
    params: dict[str, Any] | None = None
    sequence: int | None = None
    """The experiment that made it."""
    hypothesis: str = ""
    parent_version: int | None = None
    complexity: int | None = None
    """Size of the program (AST nodes): the third axis of the archive's elites."""
    metrics: Metrics | None = None
    rd: Mapping[str, tuple[RDPoint, ...]] = field(default_factory=dict)
    """Its rate points per clip (held-out clips included when it was measured there)."""


@dataclass(frozen=True)
class Outcome:
    """What one finished experiment taught: fed to `learn` and `replay`."""

    sequence: int
    hypothesis: str
    verdict: str
    """A `Verdict` (Adopted, Rejected, Skipped), or Failed when it never got one."""
    parent_version: int | None = None
    params: dict[str, Any] | None = None
    bd_rate: float | None = None
    bd_rate_vs_best: float | None = None
    metrics: Metrics | None = None
    error: Failure | None = None
    lesson: str | None = None
    reason: str | None = None
    """Why it was adopted or rejected (the adoption rule's words, or why it stopped early)."""
    evidence: ChangeEvidence | None = None
    """The change and both RD tables, when the driver loaded them (`Lab.outcome_of`)."""
    origin: Origin | None = None
    """Which planner designed it, for which program, with which model."""
    cost_usd: float = 0.0
    """What its LLM calls cost (the hybrid planner's bandit weighs gains by it)."""


@dataclass(frozen=True)
class TunableProgram:
    """A program the LLM wrote that declares tunable parameters, and how tuning it went.

    `trials` are (params, BD-rate or None when it failed) of every finished experiment of
    the family: the program as written (its declared defaults, `defaults`) and the search
    experiments over it; `in_flight` counts search experiments over it not finished yet.
    """

    sequence: int
    source: str
    parent_version: int | None
    defaults: dict[str, Any] = field(default_factory=dict)
    own_score: float | None = None
    """The program's BD-rate as written (None: not measured yet, failed, or not scorable)."""
    ran: bool = False
    """The program as written passed the sandbox and was measured (scored or not: rate
    points outside the anchor's range are what tuning is for)."""
    trials: tuple[tuple[dict[str, Any], float | None], ...] = ()
    in_flight: int = 0

    @property
    def searched(self) -> int:
        """Search experiments over it, finished or in flight."""
        return sum(1 for p, _ in self.trials if p != self.defaults) + self.in_flight


@dataclass(frozen=True)
class DesignRequest:
    """Everything a planner may use to propose the next candidate."""

    sequence: int
    parents: tuple[ParentCodec, ...]  # the archive's elites: best first, then trade-off points
    history: tuple[Outcome, ...] = ()
    repair: Failure | None = None  # set when the previous candidate failed
    failed_source: str | None = None  # the candidate that failed, for repair
    failed_params: dict[str, Any] | None = None
    note: str | None = None  # a person's note from `aivc approve --note` / annotation
    seed: int = 0
    """The campaign's seed: with the sequence, it fixes every random choice of a design."""
    lab: LabFacts = field(default_factory=LabFacts)
    """Clips, anchors' RD points, sandbox limits and hardware."""
    programs: tuple[Program, ...] = ()
    """Other programs worth reading, with code: the best, a diverse elite, recent failures."""
    known: tuple[KnownProgram, ...] = ()
    """Fingerprints of every program designed in this campaign so far (this one excluded)."""
    previous_parent: ParentCodec | None = None
    """The version the failed candidate started from (a repair keeps it, elite or not)."""
    mistakes: tuple[Failure, ...] = ()
    """Earlier failed designs of this experiment (the model's mistakes, oldest first)."""
    budget_left_usd: float | None = None
    """What the campaign may still spend on the LLM (None: no limit); checked before every
    call the planner makes for this request and, until the next request, for its lessons."""
    tunable: tuple[TunableProgram, ...] = ()
    """The most recent LLM programs with declared parameters, newest first (hybrid planner)."""
    failed_origin: Origin | None = None
    """Who designed the candidate being repaired."""
    in_flight: tuple[Origin, ...] = ()
    """Who designed the other experiments not finished yet (the bandit counts their models)."""


@dataclass(frozen=True)
class Proposal:
    source: str
    hypothesis: str
    parent_version: int | None
    rationale: str = ""
    params: dict[str, Any] | None = None
    calls: tuple[LLMCall, ...] = ()
    """The calls that produced it (failed attempts included)."""
    origin: Origin | None = None

    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.calls)


@dataclass(frozen=True)
class Lesson:
    """What `learn` drew from an outcome, and the calls it took."""

    text: str | None = None
    calls: tuple[LLMCall, ...] = ()


AUTH = "auth"
"""PlannerError category: the key is refused (401/403). A person must fix it; the campaign
pauses and resumes by itself once calls succeed again. Uses no design retry."""
UNAVAILABLE = "unavailable"
"""PlannerError category: the service is overloaded, failing or unreachable past the
client's own retries. The design is tried again after `retry_after_s`; uses no design retry."""
BUDGET = "budget"
"""PlannerError category: the campaign's LLM budget is spent; no call was made."""


class PlannerError(Exception):
    """The planner could not produce a candidate.

    Categories `AUTH` and `UNAVAILABLE` are the platform's trouble, not the candidate's: they
    use no design retry and never reach the model. Any other category is a failed design (a
    DesignFailed event: the model is asked to do better, then a person).
    """

    def __init__(self, message: str, category: str = "planner", *, calls: tuple[LLMCall, ...] = (),
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.category = category
        self.calls = calls
        self.retry_after_s = retry_after_s

    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.calls)


class Planner(Protocol):
    name: str

    def propose(self, request: DesignRequest) -> Proposal:
        """A complete candidate source file plus its hypothesis."""
        ...

    def learn(self, outcome: Outcome) -> Lesson:
        """Update from a finished experiment; the lesson to record (if any) and its calls."""
        ...

    def replay(self, outcomes: list[Outcome]) -> None:
        """Rebuild internal state from history after a restart (no side effects)."""
        ...


def make_planner(spec: CampaignSpec, settings: Settings) -> Planner:
    """`search` (the default, no key), `llm` or `hybrid` (both need an Anthropic API key)."""
    if spec.planner == "search":
        from aivc.research.search_planner import SearchPlanner

        return SearchPlanner(spec)
    if spec.planner in ("llm", "hybrid"):
        if not settings.llm.api_key:
            raise AivcError(
                f"campaign {spec.name} uses the llm planner but no Anthropic API key is set: "
                "export ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY_FILE=path), or set "
                "`spec.planner: search` to use the built-in search planner, which needs no key")
        from aivc.research.llm_planner import LLMPlanner

        llm = LLMPlanner(spec, settings.llm)
        if spec.planner == "llm":
            return llm
        from aivc.research.hybrid_planner import HybridPlanner

        return HybridPlanner(spec, llm)
    raise AivcError(f"spec.planner: unknown planner {spec.planner!r} (use search, llm or hybrid)")
