"""The `llm` planner: Claude writes the candidates, learns from each result, and is reviewed.

Every request has the same cached prefix (tool definitions, then the system prompt that
teaches the codec contract and the sandbox rules), then the base codec's source as a
second cached block (it changes only on adoption), then the part that changes: the
experiment's task, recent results, the lessons memory and the reviewer's last notes.

After each measured experiment an analysis call distils one lesson; every
`spec.llm.reviewEvery` experiments a reviewer call challenges the direction. Lessons are
returned from `learn` so the driver stores them on the Experiment, and `replay` rebuilds the
memory from there after a restart without calling the API. The reviewer's notes are not
stored: after a restart they are rebuilt at the next review.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from aivc.api.documents import BEST, LLMCall
from aivc.api.spec import CampaignSpec
from aivc.api.types import Verdict
from aivc.codec.reference import reference_source
from aivc.errors import AivcError
from aivc.llm.accounting import Ledger, ModelTotal
from aivc.llm.asking import ToolCallError, ask_tool
from aivc.llm.client import CACHE_CONTROL, AnthropicClient, LLMClient, LLMError, LLMResponse
from aivc.llm.lessons import LessonMemory
from aivc.llm.templates import render
from aivc.llm.tools import Review, parse_analysis, parse_proposal, parse_review
from aivc.research.planning import (
    DesignRequest,
    Lesson,
    Outcome,
    ParentCodec,
    PlannerError,
    Proposal,
)
from aivc.settings import LLMSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

ANALYSIS_MAX_TOKENS = 1024
RECENT = 8
MEASURED = (Verdict.ADOPTED, Verdict.REJECTED)


def _num(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return f"{value:.4g}"


def _fmt_metrics(pairs: dict[str, Any]) -> str:
    shown = [f"{k}={v}" for k, v in ((k, _num(v)) for k, v in pairs.items()) if v is not None]
    return ", ".join(shown[:14]) or "(not measured)"


def _fmt_parent(p: ParentCodec) -> str:
    return _fmt_metrics({"score_bd_rate_yuv_%": p.bd_rate, "kbps": p.kbps, "psnr_yuv_db": p.psnr_yuv,
                         "encode_fps": p.encode_fps})


def _fmt_outcome(o: Outcome) -> str:
    m = o.metrics
    rest: dict[str, Any] = {}
    if m is not None:
        rest = {f"bd_rate_vs_{ref}_%": v for ref, v in m.bd_rates.items() if ref != BEST}
        rest.update({"kbps": m.kbps, "psnr_yuv_db": m.psnr_yuv, "psnr_y_db": m.psnr_y, "ssim_y": m.ssim_y,
                     "encode_fps": m.encode_fps, "decode_fps": m.decode_fps})
    nums = _fmt_metrics({"score_bd_rate_yuv_%": o.bd_rate, "vs_best_%": o.bd_rate_vs_best, **rest})
    err = f"; failed in {o.error.stage}: {o.error.category}" if o.error else ""
    return f"#{o.sequence} {o.verdict}: {o.hypothesis or '(no hypothesis)'} [{nums}]{err}"


def _fmt_outcomes(outcomes: list[Outcome]) -> str:
    return "\n".join(f"- {_fmt_outcome(o)}" for o in outcomes[-RECENT:]) or "(none yet)"


def _fmt_review(review: Review | None) -> str:
    if review is None:
        return "(no review yet)"
    idea = f"\nNew idea to consider: {review.new_idea}" if review.new_idea else ""
    verdict = "on track" if review.on_track else "OFF TRACK: change direction"
    return f"Direction: {verdict}.\nQuestion to answer: {review.question}{idea}"


class LLMPlanner:
    """The Planner protocol over the Messages API (see `aivc.research.planning`)."""

    name = "llm"

    def __init__(self, spec: CampaignSpec, settings: LLMSettings,
                 client: LLMClient | None = None, *, max_lessons: int = 24) -> None:
        self.spec = spec
        self.client: LLMClient = client or AnthropicClient(settings, spec.llm.model)
        self.ledger = Ledger()
        self.lessons = LessonMemory(max_lessons)
        self.review: Review | None = None
        self._recent: deque[Outcome] = deque(maxlen=RECENT)
        self._best: Outcome | None = None
        self._finished = 0
        self._billed = 0.0
        self._hypotheses: dict[int, str] = {}
        goal = (f"BD-rate below {spec.target_bd_rate}% against {spec.anchor}"
                if spec.target_bd_rate is not None else "the lowest BD-rate you can reach")
        self._system = [{"type": "text", "cache_control": CACHE_CONTROL,
                         "text": render("system", anchor=spec.anchor, goal=goal,
                                        clips=", ".join(spec.clips))}]

    def close(self) -> None:
        """Release the client's connections (a no-op for clients without `close`)."""
        close = getattr(self.client, "close", None)
        if callable(close):
            close()

    # ---- accounting ------------------------------------------------------------------------

    @property
    def spent_usd(self) -> float:
        """Estimated spend of this planner object (every call, analysis and review included)."""
        return self.ledger.spent_usd

    def token_totals(self) -> dict[str, ModelTotal]:
        """Requests, tokens by kind and cost, per model."""
        return self.ledger.totals()

    def _record(self, response: LLMResponse) -> None:
        self.ledger.record(response.model, response.usage)

    def _ask(self, tool: str, content: list[dict[str, Any]], parse: Callable[[Any], T],
             max_tokens: int) -> T:
        try:
            return ask_tool(self.client, self._system, content, tool, parse, max_tokens,
                            self._record)
        except ToolCallError as exc:
            raise PlannerError(str(exc), category="planner") from None
        except LLMError as exc:
            raise PlannerError(str(exc), category="llm") from None

    # ---- propose ---------------------------------------------------------------------------

    def propose(self, request: DesignRequest) -> Proposal:
        parent = self._parent(request)
        parent_block = {"type": "text", "cache_control": CACHE_CONTROL,
                        "text": render("parent", version=parent.version,
                                       metrics=_fmt_parent(parent), source=parent.source)}
        if request.repair is not None and request.failed_source:
            prompt, base = self._repair_prompt(request), request.failed_source
        else:
            prompt, base = self._propose_prompt(request, parent), parent.source
        draft = self._ask("propose_codec", [parent_block, {"type": "text", "text": prompt}],
                          lambda raw: parse_proposal(raw, base), self.spec.llm.max_tokens)
        self._hypotheses[request.sequence] = draft.hypothesis
        cost, self._billed = self.spent_usd - self._billed, self.spent_usd
        return Proposal(source=draft.source, hypothesis=draft.hypothesis,
                        parent_version=parent.version, rationale=draft.rationale,
                        calls=(LLMCall("design", self.spec.llm.model, "ok", cost_usd=cost),))

    def _parent(self, request: DesignRequest) -> ParentCodec:
        if request.parents:
            return request.parents[0]
        try:
            return ParentCodec(version=0, source=reference_source(self.spec.base_codec))
        except AivcError as exc:
            raise PlannerError(f"no parent codec to start from ({exc})", "planner") from None

    def _propose_prompt(self, request: DesignRequest, parent: ParentCodec) -> str:
        archive = "\n".join(f"- v{p.version}: {_fmt_parent(p)}" for p in request.parents[1:])
        note = request.note or "(none)"
        if request.repair is not None:  # a failure with no source to repair (e.g. design)
            note += (f"\nThe previous attempt failed during {request.repair.stage}: "
                     f"{request.repair.message}")
        history = list(request.history) or list(self._recent)
        return render("propose", sequence=request.sequence, parent_version=parent.version,
                      archive=archive or "(none)", history=_fmt_outcomes(history),
                      lessons=self.lessons.render(), review=_fmt_review(self.review), note=note)

    def _repair_prompt(self, request: DesignRequest) -> str:
        failure = request.repair
        assert failure is not None and request.failed_source is not None
        return render("repair", sequence=request.sequence, stage=failure.stage,
                      category=failure.category, error=failure.message.strip() or "(empty)",
                      hypothesis=self._hypotheses.get(request.sequence, "(not recorded)"),
                      failed_source=request.failed_source, lessons=self.lessons.render(),
                      note=request.note or "(none)")

    # ---- learn, review, replay ---------------------------------------------------------------

    def learn(self, outcome: Outcome) -> Lesson:
        """Analyse a measured change into a lesson (failures teach nothing about codecs)."""
        self._track(outcome)
        line: str | None = None
        if outcome.lesson:
            self.lessons.add_line(outcome.lesson, outcome.sequence)
            line = outcome.lesson
        elif outcome.verdict in MEASURED and outcome.parent_version is not None:
            line = self._analyze(outcome)  # a baseline changed nothing, so it teaches nothing
        if self.spec.llm.review_every > 0 and self._finished % self.spec.llm.review_every == 0:
            self._review()
        return Lesson(line)

    def _analyze(self, outcome: Outcome) -> str | None:
        parent = "(none)" if outcome.parent_version is None else f"v{outcome.parent_version}"
        prompt = render("analyze", sequence=outcome.sequence, parent=parent,
                        hypothesis=outcome.hypothesis or "(none)", verdict=outcome.verdict,
                        metrics=_fmt_outcome(outcome), lessons=self.lessons.render())
        try:
            analysis = self._ask("record_analysis", [{"type": "text", "text": prompt}],
                                 parse_analysis, ANALYSIS_MAX_TOKENS)
        except PlannerError as exc:
            log.warning("analysis of experiment %d skipped: %s", outcome.sequence, exc)
            return None
        lesson = self.lessons.add(analysis.lesson, analysis.advice, outcome.sequence)
        return lesson.line() if lesson else None

    def _review(self) -> None:
        best = _fmt_outcome(self._best) if self._best else "(nothing adopted yet)"
        prompt = render("review", count=self._finished, best=best,
                        recent=_fmt_outcomes(list(self._recent)), lessons=self.lessons.render(),
                        previous=_fmt_review(self.review))
        try:
            self.review = self._ask("review", [{"type": "text", "text": prompt}], parse_review,
                                    ANALYSIS_MAX_TOKENS)
        except PlannerError as exc:
            log.warning("review after %d experiments skipped: %s", self._finished, exc)

    def _track(self, outcome: Outcome) -> None:
        self._finished += 1
        self._recent.append(outcome)
        if outcome.verdict == Verdict.ADOPTED and outcome.bd_rate is not None and (
                self._best is None or self._best.bd_rate is None
                or outcome.bd_rate < self._best.bd_rate):
            self._best = outcome

    def replay(self, outcomes: list[Outcome]) -> None:
        """Rebuild lessons and recent history from stored outcomes; no API calls."""
        self.lessons.clear()
        self._recent.clear()
        self._best, self.review, self._finished = None, None, 0
        for outcome in sorted(outcomes, key=lambda o: o.sequence):
            self._track(outcome)
            if outcome.lesson:
                self.lessons.add_line(outcome.lesson, outcome.sequence)
