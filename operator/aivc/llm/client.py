"""A narrow client for the Anthropic Messages API, so tests and other providers plug in.

`LLMClient` is the whole interface the planner uses: one `call` with the system blocks,
messages, tools and tool choice, returning an `LLMResponse`. `AnthropicClient` implements
it with the official SDK. It retries on its own (the SDK's retries are off) so that each
attempt is counted and the waits follow the campaign's policy, and it never lets the API
key reach a log line or an exception: errors are rebuilt from the status and the API's
message, with the SDK exception (whose request carries the key header) dropped.
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
from aivc.llm.accounting import TokenUsage, cost_usd
from aivc.llm.retrying import (
    RetryPolicy,
    is_retryable_status,
    retry_after_from_headers,
    retry_delay,
)
from aivc.observe import metrics
from aivc.settings import LLMSettings

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.anthropic.com"
CACHE_CONTROL = {"type": "ephemeral"}


class LLMError(AivcError):
    """A Messages API request failed for good (after retries, or not retryable)."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


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
             max_tokens: int) -> LLMResponse:
        """One completed request (retries included); raises `LLMError` when it cannot."""
        ...


@dataclass(frozen=True)
class _Attempt:
    """Why one attempt failed, in words safe to log."""

    outcome: str  # metric label: rate_limited | overloaded | server_error | connection_error | client_error
    status: int | None
    retryable: bool
    retry_after: float | None
    detail: str


def _block_dict(block: Any) -> dict[str, Any]:
    kind = getattr(block, "type", None)
    if kind == "text":
        return {"type": "text", "text": block.text}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return dict(block.model_dump(exclude_none=True))


def usage_of(message: Any) -> TokenUsage:
    u = message.usage
    return TokenUsage(input=int(u.input_tokens or 0), output=int(u.output_tokens or 0),
                      cache_read=int(getattr(u, "cache_read_input_tokens", 0) or 0),
                      cache_write=int(getattr(u, "cache_creation_input_tokens", 0) or 0))


def _status_outcome(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status == 529:
        return "overloaded"
    return "server_error" if status >= 500 else "client_error"


class AnthropicClient:
    """`LLMClient` over the official SDK, with retries, metrics and a key that stays secret."""

    def __init__(self, settings: LLMSettings, model: str, *, policy: RetryPolicy | None = None,
                 timeout_s: float = 900.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None) -> None:
        if not settings.api_key:
            raise LLMError("no Anthropic API key: set ANTHROPIC_API_KEY or ANTHROPIC_API_KEY_FILE")
        self.model = model
        self.policy = policy or RetryPolicy()
        self._secret = settings.api_key
        self._timeout_s = timeout_s
        self._sleep, self._clock = sleep, clock
        self._rng = rng or random.Random()
        self._warned: set[str] = set()
        self._sdk = anthropic.Anthropic(api_key=settings.api_key,
                                        base_url=settings.base_url or DEFAULT_BASE_URL,
                                        max_retries=0, timeout=timeout_s)

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
             max_tokens: int) -> LLMResponse:
        kwargs: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens,
                                  "system": list(system_blocks), "messages": list(messages),
                                  "timeout": self._timeout_s}
        if tools:
            kwargs["tools"] = list(tools)
        if tool_choice:
            kwargs["tool_choice"] = tool_choice
        attempts = self.policy.max_attempts
        for attempt in range(1, attempts + 1):
            result = self._attempt(kwargs)
            if isinstance(result, LLMResponse):
                return result
            metrics.llm_call(self.model, result.outcome, {}, 0.0)
            if not result.retryable or attempt == attempts:
                raise self._final_error(result, attempt)
            delay = retry_delay(attempt, result.retry_after, self.policy, self._rng)
            log.warning("Messages API %s (%s); retry %d of %d in %.1f s", result.outcome,
                        result.detail, attempt, attempts - 1, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _attempt(self, kwargs: dict[str, Any]) -> LLMResponse | _Attempt:
        try:
            message = self._create(kwargs)
        except anthropic.APIStatusError as exc:
            return self._status_failure(exc)
        except anthropic.APIConnectionError as exc:
            kind = "timed out" if isinstance(exc, anthropic.APITimeoutError) else "connection failed"
            return _Attempt("connection_error", None, True, None, kind)
        usage = usage_of(message)
        metrics.llm_call(self.model, "ok", usage.as_dict(), cost_usd(self.model, usage))
        return LLMResponse(model=self.model, content=tuple(_block_dict(b) for b in message.content),
                           stop_reason=message.stop_reason, usage=usage)

    def _create(self, kwargs: dict[str, Any]) -> Any:
        """The SDK call; its model-deprecation warning becomes one log line, not a warning per call."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            message = self._sdk.messages.create(**kwargs)
        for w in caught:
            text = str(w.message)
            if issubclass(w.category, DeprecationWarning) and self.model in text:
                if text not in self._warned:
                    self._warned.add(text)
                    log.warning("%s", text.splitlines()[0])
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return message

    def _status_failure(self, exc: anthropic.APIStatusError) -> _Attempt:
        status = exc.status_code
        headers = exc.response.headers
        retryable = is_retryable_status(status)
        should = headers.get("x-should-retry")
        if should in ("true", "false"):
            retryable = should == "true"
        api_type = getattr(exc, "type", None) or "error"
        api_message = getattr(exc, "api_message", None) or exc.response.reason_phrase or ""
        detail = self._scrub(f"{status} {api_type}: {api_message}"[:300])
        return _Attempt(_status_outcome(status), status, retryable,
                        retry_after_from_headers(headers, self._clock()), detail)

    def _final_error(self, failure: _Attempt, attempts: int) -> LLMError:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        hint = " (check the API key)" if failure.status in (401, 403) else ""
        return LLMError(f"Messages API request failed{tries}: {failure.detail}{hint}",
                        status=failure.status, attempts=attempts)

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text
