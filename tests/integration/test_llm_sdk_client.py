"""The real Anthropic SDK against the local fake Messages API: streaming, retries, what a failure
means, malformed answers, accounting, secrecy."""

from __future__ import annotations

import logging
import random
import socket
import traceback

import pytest

from aivc.llm.client import AnthropicClient, LLMError
from aivc.llm.retrying import RetryPolicy
from aivc.observe.metrics import REGISTRY
from aivc.settings import LLMSettings
from aivc.testing.messages import (
    FAULTS,
    FakeMessagesServer,
    error,
    faulty,
    overloaded,
    rate_limited,
    server_error,
    thinking_then_tool,
    tool_use,
)

KEY = "sk-ant-api03-SECRET-do-not-leak-0123456789"
MODEL = "claude-sonnet-4-6"
SYSTEM = [{"type": "text", "text": "You design codecs.", "cache_control": {"type": "ephemeral"}}]
USER = [{"role": "user", "content": [{"type": "text", "text": "Review the campaign."}]}]
REVIEW_TOOL = {"name": "review", "description": "d", "input_schema": {"type": "object"}}
CHOICE = {"type": "tool", "name": "review"}
FAST = RetryPolicy(max_attempts=4, base_delay_s=0.05, max_delay_s=0.2, max_retry_after_s=2.0)


_open: list[AnthropicClient] = []


@pytest.fixture(autouse=True)
def close_clients():
    yield
    while _open:
        _open.pop().close()


@pytest.fixture
def server():
    with FakeMessagesServer(api_key=KEY) as srv:
        yield srv


def client_for(url: str, policy: RetryPolicy = FAST, model: str = MODEL, **kw) -> AnthropicClient:
    client = AnthropicClient(LLMSettings(api_key=KEY, base_url=url), model, policy=policy,
                             idle_timeout_s=10.0, rng=random.Random(0), **kw)
    _open.append(client)
    return client


def call(client: AnthropicClient):
    return client.call(SYSTEM, USER, [REVIEW_TOOL], CHOICE, 256)


def requests_total(outcome: str, model: str = MODEL) -> float:
    value = REGISTRY.get_sample_value("aivc_llm_requests_total", {"model": model, "outcome": outcome})
    return value or 0.0


def gaps(server: FakeMessagesServer) -> list[float]:
    times = [r.at for r in server.requests]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_overloaded_and_rate_limited_requests_are_retried_honouring_retry_after(server):
    server.push(overloaded(retry_after="0.4"), rate_limited(retry_after="0.6"),
                tool_use("review", {"on_track": True, "question": "q"}))
    before = {o: requests_total(o) for o in ("overloaded", "rate_limited", "ok")}
    response = call(client_for(server.url))
    assert response.tool_calls[0].input == {"on_track": True, "question": "q"}
    assert [r.status for r in server.requests] == [529, 429, 200]
    first, second = gaps(server)
    assert 0.4 <= first < 1.5 and 0.6 <= second < 1.7  # waited what the server asked, no more
    for outcome in ("overloaded", "rate_limited", "ok"):
        assert requests_total(outcome) == before[outcome] + 1


def test_server_errors_without_retry_after_back_off_exponentially(server):
    server.push(server_error(), server_error(), tool_use("review", {"on_track": False, "question": "q"}))
    call(client_for(server.url, RetryPolicy(max_attempts=3, base_delay_s=0.2, max_delay_s=5)))
    first, second = gaps(server)
    assert 0.1 <= first < 0.6  # 50-100% of 0.2 s, plus the request itself
    assert 0.2 <= second < 0.9  # 50-100% of 0.4 s


def test_retries_stop_after_the_last_attempt_with_a_clear_error(server):
    server.push(*[overloaded(retry_after="0")] * 4)
    with pytest.raises(LLMError) as info:
        call(client_for(server.url))
    assert str(info.value) == ("Messages API request failed after 4 attempts: "
                               "529 overloaded_error: Overloaded")
    assert (info.value.status, info.value.attempts) == (529, 4)
    assert len(server.requests) == 4
    assert info.value.kind == "unavailable" and info.value.retry_after_s == 0.0
    assert [f.outcome for f in info.value.failures] == ["overloaded"] * 4


def test_a_bad_request_fails_at_once(server):
    server.push(error(400, "invalid_request_error", "max_tokens: too large"))
    with pytest.raises(LLMError, match="failed: 400 invalid_request_error: max_tokens: too large") as info:
        call(client_for(server.url))
    assert len(server.requests) == 1 and info.value.kind == "request"


def test_the_server_may_forbid_a_retry_with_x_should_retry(server):
    server.push(error(529, "overloaded_error", "Overloaded", headers={"x-should-retry": "false"}))
    with pytest.raises(LLMError, match="failed: 529"):
        call(client_for(server.url))
    assert len(server.requests) == 1


def test_an_unreachable_endpoint_is_retried_then_reported():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits: list[float] = []
    client = client_for(f"http://127.0.0.1:{port}", RetryPolicy(max_attempts=3), sleep=waits.append)
    with pytest.raises(LLMError, match="after 3 attempts: connection failed"):
        call(client)
    assert len(waits) == 2 and 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0


def test_usage_comes_back_with_cache_writes_then_cache_reads(server):
    reply = tool_use("review", {"on_track": True, "question": "q"})
    server.push(reply, tool_use("review", {"on_track": True, "question": "q"}))
    client = client_for(server.url)
    first, second = call(client), call(client)
    assert first.usage.cache_write > 0 and first.usage.cache_read == 0
    assert second.usage.cache_read == first.usage.cache_write and second.usage.cache_write == 0
    assert first.usage.input > 0 and first.usage.output > 0
    sent = server.requests[0].body
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent["tool_choice"] == CHOICE and sent["max_tokens"] == 256 and sent["model"] == MODEL


def test_the_key_is_sent_but_never_logged_nor_put_in_errors(caplog):
    with FakeMessagesServer(api_key="sk-ant-some-other-key") as wrong:
        with caplog.at_level(logging.DEBUG), pytest.raises(LLMError) as info:
            call(client_for(wrong.url))
        assert wrong.requests[0].api_key == KEY  # it did travel, in the request header
    text = "".join(traceback.format_exception(info.value))
    assert "401 authentication_error" in str(info.value) and "check the API key" in str(info.value)
    assert info.value.kind == "auth" and len(wrong.requests) == 1  # refused at once, not retried
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert KEY not in text and KEY not in repr(info.value)
    assert "Sending HTTP Request" in caplog.text  # the SDK's own debug log was captured
    assert KEY not in caplog.text
    assert KEY not in repr(client_for("http://127.0.0.1:9"))
    assert KEY not in repr(LLMSettings(api_key=KEY))


def test_a_successful_call_logs_no_key_even_at_debug_level(server, caplog):
    server.push(overloaded(retry_after="0"), tool_use("review", {"on_track": True, "question": "q"}))
    with caplog.at_level(logging.DEBUG):
        call(client_for(server.url))
    assert "retry 1 of 3" in caplog.text
    assert KEY not in caplog.text


def test_a_deprecated_model_is_reported_once_in_the_log_not_as_a_warning_per_call(server, caplog):
    server.push(*[tool_use("review", {"on_track": True, "question": "q"})] * 2)
    client = client_for(server.url, model="claude-sonnet-4-5")  # deprecated in SDK 2.12
    with caplog.at_level(logging.WARNING, logger="aivc.llm.client"):
        call(client)
        call(client)
    notices = [r for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(notices) == 1 and "claude-sonnet-4-5" in notices[0].getMessage()


def test_every_request_streams_so_a_long_answer_meets_no_fixed_timeout(server):
    server.push(tool_use("review", {"on_track": True, "question": "q"}))
    response = call(client_for(server.url))
    assert server.requests[0].body["stream"] is True
    assert response.tool_calls[0].input == {"on_track": True, "question": "q"}
    assert response.usage.input == server.requests[0].usage["input_tokens"]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_200_that_is_not_a_message_is_a_clear_retried_failure_never_a_crash(server, fault):
    server.push(faulty(fault), tool_use("review", {"on_track": False, "question": "q"}))
    response = call(client_for(server.url))
    assert response.tool_calls[0].input["on_track"] is False
    (failed,) = response.failures
    assert failed.outcome in ("malformed", "overloaded", "connection_error")
    billed = server.requests[0].usage or {}
    assert failed.usage.input == billed.get("input_tokens", 0)


def test_malformed_answers_that_never_stop_end_as_unavailable_with_a_time_to_wait(server):
    server.push(faulty("html"), faulty("empty_json"), faulty("no_usage"), faulty("html"))
    with pytest.raises(LLMError, match="after 4 attempts: the API answered 200 without a Message") as info:
        call(client_for(server.url))
    assert info.value.kind == "unavailable" and info.value.retry_after_s == FAST.unavailable_wait_s
    assert "<html>" not in str(info.value)


@pytest.mark.parametrize("status, kind, text", [
    (401, "authentication_error", "invalid x-api-key"), (403, "permission_error", "no access"),
    (400, "invalid_request_error", "Your credit balance is too low to access the API")])
def test_a_refused_key_or_account_is_an_auth_failure_that_is_not_retried(server, status, kind, text):
    server.push(error(status, kind, text))
    with pytest.raises(LLMError) as info:
        call(client_for(server.url))
    assert info.value.kind == "auth" and len(server.requests) == 1


def test_a_long_overload_gives_up_after_the_bounded_retries_and_passes_the_servers_wait_on(server):
    server.push(*[overloaded(retry_after="0.05")] * 3, overloaded(retry_after="600"))
    waits: list[float] = []
    with pytest.raises(LLMError) as info:
        call(client_for(server.url, sleep=waits.append))
    assert info.value.kind == "unavailable" and info.value.retry_after_s == 600.0
    assert waits == [0.05, 0.05, 0.05] and len(server.requests) == 4


def test_a_model_that_thinks_by_default_comes_back_with_its_signed_thinking_block(server):
    server.push(thinking_then_tool("review", {"on_track": True, "question": "q"}))
    response = call(client_for(server.url, model="claude-sonnet-5-5"))
    assert response.content[0]["type"] == "thinking" and response.content[0]["signature"].startswith("sig")
    assert response.tool_calls[0].name == "review"
