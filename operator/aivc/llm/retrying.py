"""When and how long to wait before retrying a Messages API request.

The SDK's own retries are switched off (`max_retries=0`) so that every attempt is counted
in the metrics, the waits are bounded by a policy the campaign controls, and the final
error says how many attempts were made. The waits inside one call are short (about half a
minute in all by default): a longer outage is the core's business, which pauses the design
and asks again after `unavailable_wait_s` without spending a design retry. Pure functions: the client passes the clock and
the random source in.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Mapping
from dataclasses import dataclass

RETRYABLE_STATUS = frozenset({408, 409, 429, 529})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    """Attempts in all, the first included; then the last error is raised."""
    base_delay_s: float = 1.0
    """The first backoff; doubled on every further retry."""
    max_delay_s: float = 30.0
    """The longest backoff when the server gives no retry-after."""
    max_retry_after_s: float = 120.0
    """A retry-after longer than this is cut to it, so a bad header cannot stall a campaign."""
    unavailable_wait_s: float = 60.0
    """How long the core is told to wait before asking again once every attempt failed and
    the server named no time (`PlannerError.retry_after_s` of an UNAVAILABLE error)."""


def is_retryable_status(status: int) -> bool:
    """429 rate limit, 529 overloaded, other 5xx, and the request-timeout/conflict codes."""
    return status in RETRYABLE_STATUS or 500 <= status < 600


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a retry-after header: delta-seconds or an HTTP date; None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        parsed = email.utils.parsedate_tz(text)
        if parsed is None:
            return None
        seconds = email.utils.mktime_tz(parsed) - now
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def retry_after_from_headers(headers: Mapping[str, str], now: float) -> float | None:
    """`retry-after-ms` (Anthropic sends it alongside) when valid, else `retry-after`."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = float("nan")
        if value == value:
            return max(0.0, value)
    return parse_retry_after(headers.get("retry-after"), now)


def backoff_delay(retry: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Exponential backoff with jitter for the `retry`-th retry (1-based): 50-100% of the step."""
    step = min(policy.max_delay_s, policy.base_delay_s * 2.0 ** (retry - 1))
    return step * (0.5 + 0.5 * rng.random())


def retry_delay(retry: int, retry_after: float | None, policy: RetryPolicy,
                rng: random.Random) -> float:
    """The server's retry-after when it gave one (capped), else the jittered backoff."""
    if retry_after is not None:
        return min(retry_after, policy.max_retry_after_s)
    return backoff_delay(retry, policy, rng)
