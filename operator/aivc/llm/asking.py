"""One tool call from the model, with every request it took booked as an `LLMCall`.

Models sometimes answer with a tool input that is missing a field, has the wrong type, or
carries an edit whose search text is not in the source. Rather than fail the experiment,
the validation error goes back as the tool's result (`is_error`) and the model gets exactly
one more try; a second unusable answer is a `ToolCallError` carrying the error's category
(a duplicate of a measured program is `duplicate`, anything else `planner`).

An answer cut off at `max_tokens` is not the model's mistake: the same request is sent
again with twice the limit, up to the model's own maximum (`ModelCard.max_output`); only
there is the model asked to answer in smaller edits. Models that refuse a forced tool
(`ModelCard.forced_tool_choice`) are asked with `auto`; the prompt names the tool.

`CallBook` turns each response and each failed attempt into an `LLMCall` priced from the
tokens the server reported, so a Proposal, a Lesson or a PlannerError carries exactly the
calls it took — nothing is billed to the next experiment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aivc.api.documents import LLMCall
from aivc.llm.accounting import PriceBook, TokenUsage
from aivc.llm.client import FailedAttempt, LLMClient, LLMError, LLMResponse
from aivc.llm.templates import render
from aivc.llm.tools import TOOLS, ToolInputError

log = logging.getLogger(__name__)
T = TypeVar("T")


class ToolCallError(Exception):
    """The model's tool call was unusable twice; the message says why (no secrets in it)."""

    def __init__(self, message: str, category: str = "planner") -> None:
        super().__init__(message)
        self.category = category


@dataclass(frozen=True)
class Ask:
    """What to ask for: the tool, by which role and model, within which output limits."""

    role: str
    """design | repair | analysis | review: the `LLMCall.role` of every request it takes."""
    tool: str
    model: str
    max_tokens: int
    max_output: int
    """The model's ceiling: a cut-off answer is asked again with up to this many tokens."""
    forced: bool = True


class CallBook:
    """The `LLMCall`s of one planner step, in the order they were made."""

    def __init__(self, prices: PriceBook) -> None:
        self.prices = prices
        self.calls: list[LLMCall] = []

    def _add(self, role: str, model: str, outcome: str, usage: TokenUsage) -> None:
        cost = self.prices.cost(model, usage) if usage.total else 0.0
        self.calls.append(LLMCall(role, model, outcome, input_tokens=usage.input,
                                  output_tokens=usage.output, cache_read_tokens=usage.cache_read,
                                  cache_write_tokens=usage.cache_write, cost_usd=cost))

    def _failed(self, role: str, model: str, failures: Sequence[FailedAttempt]) -> None:
        for f in failures:
            self._add(role, model, f.outcome, f.usage)

    def answered(self, role: str, response: LLMResponse) -> None:
        self._failed(role, response.model, response.failures)
        self._add(role, response.model, "ok", response.usage)

    def failed(self, role: str, model: str, error: LLMError) -> None:
        self._failed(role, error.model or model, error.failures)

    def take(self) -> tuple[LLMCall, ...]:
        """The calls so far, and an empty book for the next step."""
        calls, self.calls = tuple(self.calls), []
        return calls

    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.calls)


def tool_input(response: LLMResponse, tool: str) -> Any:
    """The input of the requested tool call, or a `ToolInputError` the model can act on."""
    calls = [c for c in response.tool_calls if c.name == tool]
    if response.stop_reason == "max_tokens":
        raise ToolInputError("the answer was cut off at max_tokens before the tool call was "
                             "complete; keep it shorter (prefer small `edits` to a full source)")
    if not calls:
        other = ", ".join(sorted({c.name for c in response.tool_calls})) or "no tool"
        raise ToolInputError(f"the answer called {other} instead of `{tool}`")
    return calls[0].input


def _correction(response: LLMResponse, tool: str, error: str) -> list[dict[str, Any]]:
    """Tool results for every call in the answer (the API requires them), then the re-ask."""
    note = render("reask", tool=tool, error=error)
    blocks: list[dict[str, Any]] = [
        {"type": "tool_result", "tool_use_id": c.id, "is_error": True,
         "content": error if c.name == tool else f"not used; call `{tool}`"}
        for c in response.tool_calls]
    blocks.append({"type": "text", "text": note})
    return blocks


def _request(client: LLMClient, system: Sequence[dict[str, Any]], messages: list[dict[str, Any]],
             ask: Ask, book: CallBook, guard: Callable[[], None] | None = None) -> LLMResponse:
    """One answer, asked again with a higher limit while it is cut off below the ceiling;
    `guard` runs before every request (and raises to stop it: a spent budget)."""
    choice = {"type": "tool", "name": ask.tool} if ask.forced else {"type": "auto"}
    limit = min(ask.max_tokens, ask.max_output)
    while True:
        if guard is not None:
            guard()
        try:
            response = client.call(system, messages, TOOLS, choice, limit, model=ask.model)
        except LLMError as exc:
            book.failed(ask.role, ask.model, exc)
            raise
        book.answered(ask.role, response)
        if response.stop_reason != "max_tokens" or limit >= ask.max_output:
            return response
        log.info("the %s answer was cut off at %d tokens; asking again with %d", ask.tool, limit,
                 min(2 * limit, ask.max_output))
        limit = min(2 * limit, ask.max_output)


def ask_tool(client: LLMClient, system: Sequence[dict[str, Any]], content: list[dict[str, Any]],
             ask: Ask, parse: Callable[[Any], T], book: CallBook,
             guard: Callable[[], None] | None = None) -> T:
    """Ask for `ask.tool` and parse its input; re-ask once with the error. Every request is
    booked in `book`, also when this raises (`LLMError`, `ToolCallError`); `guard` runs
    before each request."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    response = _request(client, system, messages, ask, book, guard)
    try:
        return parse(tool_input(response, ask.tool))
    except ToolInputError as exc:
        first = str(exc)
    log.info("the model's %s call was unusable (%s); asking once more", ask.tool, first)
    echo = list(response.content) or [{"type": "text", "text": "(no answer)"}]
    messages += [{"role": "assistant", "content": echo},
                 {"role": "user", "content": _correction(response, ask.tool, first)}]
    response = _request(client, system, messages, ask, book, guard)
    try:
        return parse(tool_input(response, ask.tool))
    except ToolInputError as exc:
        raise ToolCallError(f"the model's {ask.tool} call was unusable twice: {exc}",
                            getattr(exc, "category", "planner")) from None
