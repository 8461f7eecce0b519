"""One streamed Messages API request, and what its failure means.

`read_stream` reads a `messages.stream` to the end and returns the assistant's content,
stop reason and usage, checked: a 200 whose body is not a stream of Message events (a
proxy's HTML page, `{}`), a message without `usage` or `content`, or a stream that breaks
off is a `StreamFailure` carrying the tokens already reported (a broken stream may still be
billed for them). `classify_status` turns an HTTP error into an `Attempt`: a metric label,
whether to retry, how long the server asked to wait, and the kind of trouble.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic

from aivc.llm.accounting import TokenUsage
from aivc.llm.retrying import is_retryable_status, retry_after_from_headers

log = logging.getLogger(__name__)

AUTH, UNAVAILABLE, REQUEST = "auth", "unavailable", "request"
_ERROR_OUTCOMES = {"overloaded_error": "overloaded", "rate_limit_error": "rate_limited",
                   "api_error": "server_error", "timeout_error": "server_error"}
"""Errors the API sends inside a 200 stream (`event: error`) and how they are counted."""


@dataclass(frozen=True)
class Attempt:
    """Why one attempt failed, in words safe to log."""

    outcome: str  # metric label: rate_limited | overloaded | server_error | connection_error | client_error | malformed
    status: int | None
    retryable: bool
    retry_after: float | None
    detail: str
    usage: TokenUsage = TokenUsage()
    auth: bool = False

    @property
    def kind(self) -> str:
        """auth (a person must act) | unavailable (try later) | request (the request is wrong)."""
        if self.auth:
            return AUTH
        if self.retryable or self.outcome in ("overloaded", "rate_limited", "server_error",
                                              "connection_error", "malformed"):
            return UNAVAILABLE
        return REQUEST


@dataclass(frozen=True)
class Received:
    content: tuple[dict[str, Any], ...]
    stop_reason: str | None
    usage: TokenUsage


class StreamFailure(Exception):
    """A 200 that did not deliver a usable Message."""

    def __init__(self, outcome: str, detail: str, usage: TokenUsage | None = None) -> None:
        super().__init__(detail)
        self.outcome, self.detail, self.usage = outcome, detail, usage or TokenUsage()

    def attempt(self, scrub: Callable[[str], str]) -> Attempt:
        return Attempt(self.outcome, 200, True, None, scrub(self.detail)[:300], self.usage)


def _block_dict(block: Any) -> dict[str, Any]:
    kind = getattr(block, "type", None)
    if kind == "text":
        return {"type": "text", "text": block.text}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return dict(block.model_dump(exclude_none=True))


def usage_of(message: Any) -> TokenUsage:
    """Tokens a (possibly partial) message reported; zeros where it reported none."""
    u = getattr(message, "usage", None)

    def count(name: str) -> int:
        value = getattr(u, name, None) if u is not None else None
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return TokenUsage(input=count("input_tokens"), output=count("output_tokens"),
                      cache_read=count("cache_read_input_tokens"),
                      cache_write=count("cache_creation_input_tokens"))


def _snapshot(stream: Any) -> Any:
    try:
        return stream.current_message_snapshot
    except (AssertionError, AttributeError):
        return None


def read_stream(sdk: anthropic.Anthropic, kwargs: dict[str, Any]) -> Received:
    """Stream one request to its end; `StreamFailure` unless a complete Message came."""
    with sdk.messages.stream(**kwargs) as stream:
        try:
            for _ in stream:
                pass
        except anthropic.APIStatusError as exc:  # an `error` event in the stream
            exc.usage = usage_of(_snapshot(stream))  # type: ignore[attr-defined]
            raise
        except anthropic.APIError:
            raise
        except Exception as exc:  # noqa: BLE001 - any broken body is the server's fault, retried
            raise _broken(stream, exc) from None
        message = _snapshot(stream)
        kind = stream.response.headers.get("content-type", "?")
    return _checked(message, kind)


def _broken(stream: Any, exc: Exception) -> StreamFailure:
    """A stream that raised while being read: the connection (httpx) or its content."""
    usage = usage_of(_snapshot(stream))
    what = f"{type(exc).__name__}: {str(exc)[:200]}"
    if type(exc).__module__.split(".")[0].startswith("httpx"):
        return StreamFailure("connection_error", f"the stream broke off ({what})", usage)
    kind = stream.response.headers.get("content-type", "?")
    return StreamFailure("malformed", f"the API answered 200 with a body that is not a Message "
                         f"stream ({kind}; {what})", usage)


def _checked(message: Any, content_type: str) -> Received:
    if message is None:
        raise StreamFailure("malformed", f"the API answered 200 without a Message "
                            f"(content-type {content_type}; a proxy's page or an empty body?)")
    usage = usage_of(message)
    if getattr(message, "usage", None) is None or not isinstance(
            getattr(message.usage, "input_tokens", None), int):
        raise StreamFailure("malformed", "the API answered 200 with a Message without `usage`",
                            usage)
    if getattr(message, "stop_reason", None) is None:
        raise StreamFailure("malformed", "the stream ended before the Message was complete "
                            "(no stop reason)", usage)
    content = getattr(message, "content", None)
    if not isinstance(content, list) or not content:
        raise StreamFailure("malformed", "the API answered 200 with a Message without content",
                            usage)
    return Received(tuple(_block_dict(b) for b in content), message.stop_reason, usage)


def classify_status(exc: anthropic.APIStatusError, now: float,
                    scrub: Callable[[str], str]) -> Attempt:
    """An HTTP error (or an `error` event inside a 200 stream) as an `Attempt`."""
    status = exc.status_code
    headers = exc.response.headers
    api_type = getattr(exc, "type", None) or "error"
    api_message = getattr(exc, "api_message", None) or exc.response.reason_phrase or ""
    detail = scrub(f"{status} {api_type}: {api_message}"[:300])
    usage = getattr(exc, "usage", None) or TokenUsage()
    if status == 200:  # the stream itself reported the error
        outcome = _ERROR_OUTCOMES.get(str(api_type), "malformed")
        return Attempt(outcome, status, True, None, f"stream {detail}", usage)
    retryable = is_retryable_status(status)
    should = headers.get("x-should-retry")
    if should in ("true", "false"):
        retryable = should == "true"
    auth = status in (401, 402, 403) or api_type in ("authentication_error", "permission_error",
                                                     "billing_error") \
        or (status == 400 and "credit balance" in str(api_message).lower())
    return Attempt(_status_outcome(status), status, retryable and not auth,
                   retry_after_from_headers(headers, now), detail, usage, auth)


def _status_outcome(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status == 529:
        return "overloaded"
    return "server_error" if status >= 500 else "client_error"
