"""A narrow client for the Anthropic Messages API, so tests and other providers plug in.

`LLMClient` is the whole interface the planner uses: one `call` with the system blocks,
messages, tools, tool choice and model, returning an `LLMResponse`. `AnthropicClient`
implements it with the official SDK:

- Every request streams (`messages.stream`), so a long answer (`maxTokens` up to 128 000)
  never meets a fixed request timeout; only silence between events counts (`idle_timeout_s`).
- It retries on its own (the SDK's retries are off) so that each attempt is counted and the
  waits follow a bounded policy (`aivc.llm.retrying`). What a failure means is sorted out
  here, once: `LLMError.kind` is `auth` (the key or the account is refused: a person must
  act), `unavailable` (overload, 5xx, 429, connection trouble or a 200 that is not a Message,
  past the retries: try again later) or `request` (the request itself is wrong).
- A 200 that is not a Message (a proxy's HTML page, `{}`, a message without usage or
  content, a stream that breaks off) is a clear, retried `malformed` failure, never a crash.
- Every attempt is reported back, failed ones too (`LLMResponse.failures`,
  `LLMError.failures`), with the tokens a broken stream had already been billed, so the
  planner can book each one to its experiment.
- The API key never reaches a log line or an exception: errors are rebuilt from the status
  and the API's message, with the SDK exception (whose request carries the key) dropped.
"""

from __future__ import annotations

import logging
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import anthropic

from aivc.errors import AivcError
from aivc.llm.accounting import CATALOGUE, PriceBook, TokenUsage
from aivc.llm.retrying import RetryPolicy, retry_delay
from aivc.llm.streaming import Attempt, StreamFailure, classify_status, read_stream
from aivc.observe import metrics
from aivc.settings import LLMSettings

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.anthropic.com"
CACHE_CONTROL = {"type": "ephemeral"}
AUTH, UNAVAILABLE, REQUEST = "auth", "unavailable", "request"


@dataclass(frozen=True)
class FailedAttempt:
    """One attempt that produced no usable answer (and the tokens it was billed, if any)."""

    outcome: str
    detail: str
    usage: TokenUsage = TokenUsage()


class LLMError(AivcError):
    """A Messages API request failed for good (after retries, or not retryable)."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1,
                 kind: str = REQUEST, retry_after_s: float | None = None,
                 failures: tuple[FailedAttempt, ...] = (), model: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.kind = kind
        """auth | unavailable | request (see the module docstring)."""
        self.retry_after_s = retry_after_s
        """For `unavailable`: how long to wait before asking again."""
        self.failures = failures
        self.model = model


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: Any


@dataclass(frozen=True)
class LLMResponse:
    model: str
    content: tuple[dict[str, Any], ...]
    """The assistant's content blocks as API dicts, so a re-ask can send them back verbatim."""
    stop_reason: str | None
    usage: TokenUsage
    failures: tuple[FailedAttempt, ...] = ()
    """Attempts of this call that failed before this answer came."""

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall(str(b.get("id", "")), str(b.get("name", "")), b.get("input"))
                for b in self.content if b.get("type") == "tool_use"]

    @property
    def text(self) -> str:
        return "\n".join(str(b.get("text", "")) for b in self.content if b.get("type") == "text")


class LLMClient(Protocol):
    def call(self, system_blocks: Sequence[dict[str, Any]], messages: Sequence[dict[str, Any]],
             tools: Sequence[dict[str, Any]], tool_choice: dict[str, Any] | None,
             max_tokens: int, *, model: str | None = None) -> LLMResponse:
        """One completed request (retries included); raises `LLMError` when it cannot."""
        ...


class AnthropicClient:
    """`LLMClient` over the official SDK (see the module docstring)."""

    def __init__(self, settings: LLMSettings, model: str, *, policy: RetryPolicy | None = None,
                 idle_timeout_s: float = 300.0, prices: PriceBook = CATALOGUE,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        if not settings.api_key:
            raise LLMError("no Anthropic API key: set ANTHROPIC_API_KEY or ANTHROPIC_API_KEY_FILE",
                           kind=AUTH)
        self.model = model
        self.policy = policy or RetryPolicy()
        self.prices = prices
        self._secret = settings.api_key
        self._sleep, self._clock = sleep, clock
        self._rng = rng or random.Random()
        self._warned: set[str] = set()
        timeout = anthropic.Timeout(connect=15.0, read=idle_timeout_s, write=60.0, pool=60.0)
        self._timeout = timeout
        self._sdk = anthropic.Anthropic(api_key=settings.api_key,
                                        base_url=settings.base_url or DEFAULT_BASE_URL,
                                        max_retries=0, timeout=timeout)

    def __repr__(self) -> str:
        return f"AnthropicClient(model={self.model!r})"

    def close(self) -> None:
        """Close the HTTP connection pool (idempotent)."""
        self._sdk.close()

    def __enter__(self) -> AnthropicClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, system_blocks: Sequence[dict[str, Any]], messages: Sequence[dict[str, Any]],
             tools: Sequence[dict[str, Any]], tool_choice: dict[str, Any] | None,
             max_tokens: int, *, model: str | None = None) -> LLMResponse:
        model = model or self.model
        kwargs: dict[str, Any] = {"model": model, "max_tokens": max_tokens,
                                  "system": list(system_blocks), "messages": list(messages),
                                  "timeout": self._timeout}
        if tools:
            kwargs["tools"] = list(tools)
        if tool_choice:
            kwargs["tool_choice"] = tool_choice
        failures: list[FailedAttempt] = []
        attempts = self.policy.max_attempts
        for attempt in range(1, attempts + 1):
            result = self._attempt(kwargs)
            if isinstance(result, LLMResponse):
                return LLMResponse(result.model, result.content, result.stop_reason, result.usage,
                                   tuple(failures))
            self._count(model, result.outcome, result.usage)
            failures.append(FailedAttempt(result.outcome, result.detail, result.usage))
            if not result.retryable or attempt == attempts:
                raise self._final_error(result, attempt, tuple(failures), model)
            delay = retry_delay(attempt, result.retry_after, self.policy, self._rng)
            log.warning("Messages API %s (%s); retry %d of %d in %.1f s", result.outcome,
                        result.detail, attempt, attempts - 1, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _attempt(self, kwargs: dict[str, Any]) -> LLMResponse | Attempt:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                message = read_stream(self._sdk, kwargs)
            self._report(caught, str(kwargs["model"]))
        except anthropic.APIStatusError as exc:
            return classify_status(exc, self._clock(), self._scrub)
        except anthropic.APIConnectionError as exc:
            kind = "timed out" if isinstance(exc, anthropic.APITimeoutError) else "connection failed"
            return Attempt("connection_error", None, True, None, kind)
        except StreamFailure as exc:
            return exc.attempt(self._scrub)
        model = str(kwargs["model"])
        self._count(model, "ok", message.usage)
        return LLMResponse(model=model, content=message.content, stop_reason=message.stop_reason,
                           usage=message.usage)

    def _count(self, model: str, outcome: str, usage: TokenUsage) -> None:
        cost = self.prices.cost(model, usage) if usage.total and self.prices.knows(model) else 0.0
        metrics.llm_call(model, outcome, usage.as_dict(), cost)

    def _report(self, caught: list[warnings.WarningMessage], model: str) -> None:
        """The SDK's model-deprecation warning becomes one log line, not a warning per call."""
        for w in caught:
            text = str(w.message)
            if issubclass(w.category, DeprecationWarning) and model in text:
                if text not in self._warned:
                    self._warned.add(text)
                    log.warning("%s", text.splitlines()[0])
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def _final_error(self, failure: Attempt, attempts: int, failures: tuple[FailedAttempt, ...],
                     model: str) -> LLMError:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        hint = " (check the API key and the account)" if failure.kind == AUTH else ""
        wait = None
        if failure.kind == UNAVAILABLE:
            wait = failure.retry_after if failure.retry_after is not None else self.policy.unavailable_wait_s
        return LLMError(f"Messages API request failed{tries}: {failure.detail}{hint}",
                        status=failure.status, attempts=attempts, kind=failure.kind,
                        retry_after_s=wait, failures=failures, model=model)

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text
