"""Retry waits: the server's retry-after wins (capped); otherwise jittered exponential backoff."""

from __future__ import annotations

import email.utils
import random

import pytest

from aivc.llm.retrying import (
    RetryPolicy,
    backoff_delay,
    is_retryable_status,
    parse_retry_after,
    retry_after_from_headers,
    retry_delay,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize("value, seconds", [
    ("3", 3.0), (" 0.25 ", 0.25), ("0", 0.0), ("-5", 0.0),
    (email.utils.formatdate(NOW + 42, usegmt=True), 42.0),
    (email.utils.formatdate(NOW - 10, usegmt=True), 0.0),
])
def test_retry_after_is_read_as_seconds_or_an_http_date(value, seconds):
    assert parse_retry_after(value, NOW) == pytest.approx(seconds, abs=1.0)


@pytest.mark.parametrize("value", [None, "", "soon", "nan"])
def test_an_unusable_retry_after_is_ignored(value):
    assert parse_retry_after(value, NOW) is None


def test_retry_after_ms_is_preferred_when_present():
    assert retry_after_from_headers({"retry-after-ms": "250", "retry-after": "9"}, NOW) == 0.25
    assert retry_after_from_headers({"retry-after-ms": "x", "retry-after": "9"}, NOW) == 9.0
    assert retry_after_from_headers({}, NOW) is None


def test_a_huge_retry_after_is_capped_by_the_policy():
    policy = RetryPolicy(max_retry_after_s=30)
    assert retry_delay(1, 3600.0, policy, random.Random(0)) == 30


def test_backoff_doubles_with_jitter_and_stops_growing_at_the_maximum():
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=8.0)
    rng = random.Random(1)
    for retry, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [backoff_delay(retry, policy, rng) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in delays)
        assert max(delays) - min(delays) > step / 4  # jittered, not constant


@pytest.mark.parametrize("status, retryable", [
    (429, True), (529, True), (500, True), (503, True), (408, True),
    (400, False), (401, False), (403, False), (404, False), (413, False),
])
def test_rate_limits_overloads_and_server_errors_are_retryable_client_errors_are_not(status, retryable):
    assert is_retryable_status(status) is retryable
