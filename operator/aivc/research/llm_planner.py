"""The `llm` planner: Claude writes the candidates, learns from each result, and is reviewed.

A design request (`aivc.research.prompting`) carries the yardstick (clips, the anchors' rate
points, the sandbox's limits, the hardware), the parent's source and rate points, and the
task: why this parent, the held-out standing, other programs of the archive with their code,
recent experiments, lessons, the reviewer's notes, the model's own mistakes in the previous
attempt and a person's note — within `spec.llm.promptBudgetTokens`.

The parent is drawn from the archive's elites by `aivc.research.evolution` (deterministic
in the campaign seed and the sequence). A proposal that is a program already designed in the
campaign (same normalised source, `aivc.research.duplicates`) is not evaluated: the model is
told which one it repeats and asked once more within the same design; a second repeat fails
the design with category `duplicate`, and the retry shows it under "Mistakes".

After each measured experiment an analysis call draws one lesson from the change (the diff)
and both RD tables; every `spec.llm.reviewEvery` experiments a reviewer sees the best code
and the trend. An "off track" verdict makes the next designs explore: they start from
another elite than the best and must try a different approach. Lessons and reviews are
returned in `Lesson.text` (a review as a `[review]` line), so `replay` rebuilds both after a
restart without calling the API.

Every request, failed attempts included, becomes an `LLMCall` of the Proposal, PlannerError
or Lesson it belongs to. API faults are classified once (`aivc.llm.client`): a refused key
is `AUTH`, an outage past the client's retries `UNAVAILABLE` with `retry_after_s`; the core
handles both without spending design retries, and neither ever reaches the model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from aivc.api.documents import LLMCall
from aivc.api.spec import LLM_ROLES, CampaignSpec, ModelPrice
from aivc.api.types import Verdict
from aivc.codec.reference import reference_source
from aivc.errors import AivcError
from aivc.llm import client as llm_client
from aivc.llm.accounting import Ledger, ModelTotal, Price, PriceBook, TokenUsage, UnknownModelError
from aivc.llm.asking import Ask, CallBook, ToolCallError, ask_tool
from aivc.llm.client import CACHE_CONTROL, AnthropicClient, LLMClient, LLMError
from aivc.llm.lessons import LessonMemory, parse_review_line, review_line
from aivc.llm.models import card, model_key
from aivc.llm.templates import render
from aivc.llm.tools import (
    CodecDraft,
    DuplicateProgram,
    Review,
    parse_analysis,
    parse_proposal,
    parse_review,
)
from aivc.research import archive, duplicates, evolution, planning, prompting
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

ANALYSIS_MAX_TOKENS = 4096
"""Room for a lesson or a review."""
THINKING_MAX_TOKENS = 16000
"""The least any call gets on a model that thinks by default (those that refuse a forced
tool), so its thinking does not cut every answer off first."""
EXPLORE_DESIGNS = 2
"""Designs after an off-track review that explore (beyond those already in flight)."""
MEASURED = (Verdict.ADOPTED, Verdict.REJECTED)
BUDGET = planning.BUDGET
_CATEGORIES = {llm_client.AUTH: planning.AUTH, llm_client.UNAVAILABLE: planning.UNAVAILABLE}
"""What a failed request means for the design: `PlannerError.category`."""


def price_book(spec: CampaignSpec) -> PriceBook:
    """The catalogue plus the Campaign's own prices; every role's model must be priced."""
    book = PriceBook({m: _price(p) for m, p in spec.llm.prices.items()})
    for role in LLM_ROLES:
        model = spec.llm.model_for(role)
        if not book.knows(model):
            where = f"spec.llm.models.{role}" if role in spec.llm.models else "spec.llm.model"
            raise UnknownModelError(f"{where}: model {model!r} has no known price; pick a model "
                                    f"the planner knows (e.g. claude-sonnet-5-5) or set "
                                    f"spec.llm.prices[{model!r}] (inputPerMTok, outputPerMTok)")
    for model in spec.llm.design_models:
        if not book.knows(model):
            raise UnknownModelError(f"spec.llm.designModels: model {model!r} has no known price; "
                                    f"set spec.llm.prices[{model!r}] or drop it")
    return book


def _price(p: ModelPrice) -> Price:
    std = Price.standard(p.input, p.output)
    return Price(p.input, p.output, std.cache_write if p.cache_write is None else p.cache_write,
                 std.cache_read if p.cache_read is None else p.cache_read)


class LLMPlanner:
    """The Planner protocol over the Messages API (see `aivc.research.planning`)."""

    name = "llm"

    def __init__(self, spec: CampaignSpec, settings: LLMSettings,
                 client: LLMClient | None = None, *, max_lessons: int = 24) -> None:
        self.spec = spec
        self.prices = price_book(spec)
        self.client: LLMClient = client or AnthropicClient(settings, spec.llm.model,
                                                           prices=self.prices)
        self.ledger = Ledger(self.prices)
        self.lessons = LessonMemory(max_lessons)
        self.review: Review | None = None
        self._review_at: int | None = None
        self._outcomes: list[Outcome] = []
        self._hypotheses: dict[int, str] = {}
        self._best_source: tuple[int, str] | None = None
        self._design_model: str | None = None
        self._findings: str | None = None
        self._budget: tuple[float, float] | None = None
        """(what the last request said is left, this planner's spend at that moment)."""
        self._system_text = prompting.system_text(spec)
        self._system = [{"type": "text", "cache_control": CACHE_CONTROL, "text": self._system_text}]

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

    def _settle(self, book: CallBook) -> tuple[LLMCall, ...]:
        """The step's calls, added to this planner's running totals."""
        calls = book.take()
        for c in calls:
            usage = TokenUsage(c.input_tokens, c.output_tokens, c.cache_read_tokens,
                               c.cache_write_tokens)
            self.ledger.record(c.model, usage, c.cost_usd)
        return calls

    def _ask_for(self, role: str, tool: str, max_tokens: int) -> Ask:
        model = self.spec.llm.model_for(role)
        if role in ("design", "repair") and self._design_model:
            model = self._design_model
        known = card(model)
        configured = next((p for m, p in self.spec.llm.prices.items()
                           if model_key(m) == model_key(model)), None)
        ceiling = (configured.max_output if configured and configured.max_output else None) \
            or (known.max_output if known else max_tokens)
        forced = known.forced_tool_choice if known else False
        if not forced:
            max_tokens = max(max_tokens, THINKING_MAX_TOKENS)
        return Ask(role, tool, model, min(max_tokens, ceiling), max(ceiling, 1), forced=forced)

    def _ask(self, ask: Ask, content: list[dict[str, Any]], parse: Callable[[Any], T],
             book: CallBook) -> T:
        def affordable() -> None:
            left = self._left(book)
            if left is not None and left <= 0:
                raise PlannerError(f"the campaign's LLM budget is spent (budget.maxCostUSD "
                                   f"${self.spec.budget.max_cost_usd:.2f}): no further "
                                   f"{ask.role} call made", category=BUDGET)

        try:
            return ask_tool(self.client, self._system, content, ask, parse, book, affordable)
        except ToolCallError as exc:
            raise PlannerError(str(exc), category=exc.category) from None
        except LLMError as exc:
            raise PlannerError(str(exc), category=_CATEGORIES.get(exc.kind, "llm"),
                               retry_after_s=exc.retry_after_s) from None

    def _left(self, book: CallBook) -> float | None:
        """The budget still left before the next call: the last request's figure less what
        this planner spent since (settled) and in the step under way (`book`)."""
        if self._budget is None:
            return None
        left, spent_then = self._budget
        return left - (self.ledger.spent_usd - spent_then) - book.cost_usd

    # ---- propose ---------------------------------------------------------------------------

    def propose(self, request: DesignRequest, *, model: str | None = None,
                findings: str | None = None) -> Proposal:
        """A candidate from the model. The hybrid planner names the design `model` its
        bandit chose and adds `findings` (what the search learned) to the prompt."""
        book = CallBook(self.prices)
        if request.budget_left_usd is not None:
            self._budget = (request.budget_left_usd, self.ledger.spent_usd)
        self._design_model, self._findings = model, findings
        try:
            proposal = self._propose(request, book)
        except PlannerError as exc:
            raise PlannerError(str(exc), exc.category, calls=self._settle(book),
                               retry_after_s=exc.retry_after_s) from None
        return replace(proposal, calls=self._settle(book))

    def _propose(self, request: DesignRequest, book: CallBook) -> Proposal:
        parent, why = self._parent(request)
        if request.parents:
            self._best_source = (request.parents[0].version, request.parents[0].source)
        known = [(k.fingerprint, k.label) for k in request.known]
        known.append((duplicates.fingerprint(parent.source), f"the parent v{parent.version}"))
        if self._repairing(request):
            role, base = "repair", str(request.failed_source)
            blocks = self._repair_blocks(request, parent)
        else:
            role, base = "design", parent.source
            blocks = self._design_blocks(request, parent, why)
        task = blocks[2] + (f"\n## What the search found\n\n{self._findings.strip()}\n"
                            if self._findings else "")
        content: list[dict[str, Any]] = [
            {"type": "text", "cache_control": CACHE_CONTROL, "text": blocks[0]},
            {"type": "text", "cache_control": CACHE_CONTROL, "text": blocks[1]},
            {"type": "text", "text": task}]

        def parse(raw: Any) -> CodecDraft:
            draft = parse_proposal(raw, base)
            repeated = duplicates.find_duplicate(draft.source, known)
            if repeated is not None:
                raise DuplicateProgram(render("duplicate", label=repeated).strip())
            return draft

        draft = self._ask(self._ask_for(role, "propose_codec", self.spec.llm.max_tokens), content,
                          parse, book)
        self._hypotheses[request.sequence] = draft.hypothesis
        return Proposal(source=draft.source, hypothesis=draft.hypothesis,
                        parent_version=parent.version, rationale=draft.rationale)

    @staticmethod
    def _repairing(request: DesignRequest) -> bool:
        """A candidate failed in the sandbox through its own fault: fix that source. (One
        that only repeated a program — e.g. identical bitstreams — needs a new idea instead.)"""
        failure = request.repair
        return (failure is not None and bool(request.failed_source)
                and failure.stage in ("validation", "execution")
                and failure.category in prompting.MODEL_MISTAKES and failure.category != "duplicate")

    def _parent(self, request: DesignRequest) -> tuple[ParentCodec, str]:
        if not request.parents:
            try:
                base = ParentCodec(version=0, source=reference_source(self.spec.base_codec))
            except AivcError as exc:
                raise PlannerError(f"no parent codec to start from ({exc})", "planner") from None
            return base, "the campaign's base codec (no version is adopted yet)"
        if request.repair is not None and request.previous_parent is not None:
            kept = request.previous_parent
            return kept, f"v{kept.version}, the parent of the attempt that failed"
        choice = evolution.choose_parent(request.parents, request.history or self._outcomes,
                                         seed=request.seed, sequence=request.sequence,
                                         explore=self._exploring(request.sequence))
        return choice.parent, choice.why

    def _exploring(self, sequence: int) -> bool:
        """After an off-track review: the next designs, beyond those already in flight."""
        if self.review is None or self.review.on_track or self._review_at is None:
            return False
        return self._review_at < sequence <= self._review_at + self.spec.parallelism - 1 + EXPLORE_DESIGNS

    def _design_blocks(self, request: DesignRequest, parent: ParentCodec, why: str) -> tuple[str, str, str]:
        explore = ""
        if self._exploring(request.sequence) and self.review is not None:
            idea = f" — for instance: {self.review.new_idea}" if self.review.new_idea else ""
            explore = render("explore", question=self.review.question, idea=idea)
        failures = [*request.mistakes, *([request.repair] if request.repair else [])]
        programs = archive.elite_programs(request.parents, parent.version) + request.programs
        task = prompting.Task(
            sequence=request.sequence, parent=parent, why=why, explore=explore,
            held_out=prompting.held_out_line(self.spec, request.parents[0] if request.parents else None,
                                             parent),
            programs=programs, history=tuple(request.history or self._outcomes),
            lessons=self.lessons.render, review=_fmt_review(self.review),
            mistakes=prompting.mistakes_text(failures), note=request.note or "(none)")
        fitted = prompting.fit(self.spec, self._system_text, request.lab, task,
                               self.spec.llm.prompt_budget_tokens)
        return fitted.blocks

    def _repair_blocks(self, request: DesignRequest, parent: ParentCodec) -> tuple[str, str, str]:
        failure = request.repair
        assert failure is not None and request.failed_source is not None
        text = render("repair", sequence=request.sequence, parent_version=parent.version,
                      stage=failure.stage, category=failure.category,
                      error=failure.message.strip() or "(empty)",
                      hypothesis=self._hypotheses.get(request.sequence, "(not recorded)"),
                      mistakes=prompting.mistakes_text(request.mistakes),
                      failed_source=request.failed_source, lessons=self.lessons.render(),
                      note=request.note or "(none)")
        return (prompting.campaign_block(request.lab, self.spec),
                prompting.parent_block(parent, self.spec.anchor), text)

    # ---- learn, review, replay ---------------------------------------------------------------

    def learn(self, outcome: Outcome) -> Lesson:
        """Analyse a measured change into a lesson (failures teach nothing about codecs), and
        review the campaign when one is due; the calls are the Lesson's."""
        book = CallBook(self.prices)
        self._track(outcome)
        lines: list[str] = []
        if outcome.lesson:
            self._remember(outcome.lesson, outcome.sequence)
            lines.append(outcome.lesson)
        elif outcome.verdict in MEASURED and outcome.parent_version is not None:
            line = self._analyze(outcome, book)  # a baseline changed nothing, so it teaches nothing
            lines += [line] if line else []
        if self.spec.llm.review_every > 0 and len(self._outcomes) % self.spec.llm.review_every == 0:
            reviewed = self._review(outcome, book)
            lines += [reviewed] if reviewed else []
        return Lesson("\n".join(lines) or None, self._settle(book))

    def _analyze(self, outcome: Outcome, book: CallBook) -> str | None:
        ev = outcome.evidence
        prompt = render("analyze", sequence=outcome.sequence,
                        parent="(none)" if outcome.parent_version is None else f"v{outcome.parent_version}",
                        hypothesis=outcome.hypothesis or "(none)", verdict=outcome.verdict,
                        reason=outcome.reason or "no reason recorded",
                        metrics=prompting.outcome_line(outcome),
                        rd=prompting.rd_comparison(ev.parent_rd, ev.rd) if ev else "(not available)",
                        diff=prompting.diff_text(ev.parent_source, ev.source) if ev else "(not available)",
                        lessons=self.lessons.render())
        try:
            analysis = self._ask(self._ask_for("analysis", "record_analysis", ANALYSIS_MAX_TOKENS),
                                 [{"type": "text", "text": prompt}], parse_analysis, book)
        except PlannerError as exc:
            log.warning("analysis of experiment %d skipped: %s", outcome.sequence, exc)
            return None
        lesson = self.lessons.add(analysis.lesson, analysis.advice, outcome.sequence)
        return lesson.line() if lesson else None

    def _review(self, outcome: Outcome, book: CallBook) -> str | None:
        best = max((o for o in self._outcomes if o.verdict == Verdict.ADOPTED),
                   key=lambda o: o.sequence, default=None)
        ev = outcome.evidence
        source = ev.best_source if ev and ev.best_source else (self._best_source or (0, ""))[1]
        prompt = render("review", count=len(self._outcomes),
                        best=prompting.outcome_line(best) if best else "(nothing adopted yet)",
                        best_source=source.rstrip() or "(not available)",
                        trend=prompting.trend_lines(self._outcomes), lessons=self.lessons.render(),
                        previous=_fmt_review(self.review))
        try:
            review = self._ask(self._ask_for("review", "review", ANALYSIS_MAX_TOKENS),
                               [{"type": "text", "text": prompt}], parse_review, book)
        except PlannerError as exc:
            log.warning("review after %d experiments skipped: %s", len(self._outcomes), exc)
            return None
        self.review, self._review_at = review, outcome.sequence
        return review_line(review.on_track, review.question, review.new_idea)

    def _track(self, outcome: Outcome) -> None:
        self._outcomes.append(outcome)
        self._outcomes.sort(key=lambda o: o.sequence)

    def _remember(self, text: str, sequence: int) -> None:
        """Stored lesson lines into the memory; a stored review becomes the current one."""
        for line in text.splitlines():
            parsed = parse_review_line(line)
            if parsed is not None:
                self.review, self._review_at = Review(*parsed), sequence
            elif line.strip():
                self.lessons.add_line(line, sequence)

    def replay(self, outcomes: list[Outcome]) -> None:
        """Rebuild lessons, the last review and the history from stored outcomes; no API calls."""
        self.lessons.clear()
        self._outcomes.clear()
        self.review, self._review_at = None, None
        for outcome in sorted(outcomes, key=lambda o: o.sequence):
            self._track(outcome)
            if outcome.lesson:
                self._remember(outcome.lesson, outcome.sequence)


def _fmt_review(review: Review | None) -> str:
    if review is None:
        return "(no review yet)"
    idea = f"\nNew idea to consider: {review.new_idea}" if review.new_idea else ""
    verdict = "on track" if review.on_track else "OFF TRACK: change direction"
    return f"Direction: {verdict}.\nQuestion to answer: {review.question}{idea}"
