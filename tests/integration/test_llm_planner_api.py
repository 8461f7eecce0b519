"""The LLM planner through the real SDK against the fake Messages API: what goes over the wire."""

from __future__ import annotations

import random

import pytest

from aivc.api.spec import CampaignSpec
from aivc.llm.client import AnthropicClient
from aivc.llm.retrying import RetryPolicy
from aivc.observe.metrics import REGISTRY
from aivc.research.llm_planner import LLMPlanner
from aivc.research.phases import Failure
from aivc.research.planning import DesignRequest, Outcome, ParentCodec, PlannerError
from aivc.settings import LLMSettings
from aivc.testing.messages import FakeMessagesServer, overloaded, text_only, tool_use

KEY = "sk-ant-planner-test-key"
MODEL = "claude-sonnet-4-6"
BASE = "LEVELS = 4\nSTEP = 8\n\n\ndef encode(video, level):\n    return b''\n\n\ndef decode(bits):\n    return None\n"


def spec(review_every: int = 0) -> CampaignSpec:
    return CampaignSpec.from_manifest({
        "apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": "wire"},
        "spec": {"goal": {"anchor": "x264"}, "planner": "llm", "dataset": {"clips": ["carphone:8"]},
                 "llm": {"model": MODEL, "reviewEvery": review_every}}})


@pytest.fixture
def server():
    with FakeMessagesServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def make_planner(server):
    made: list[LLMPlanner] = []

    def make(review_every: int = 0) -> LLMPlanner:
        settings = LLMSettings(api_key=KEY, base_url=server.url)
        client = AnthropicClient(settings, MODEL, policy=RetryPolicy(base_delay_s=0.01),
                                 rng=random.Random(0))
        made.append(LLMPlanner(spec(review_every), settings, client=client))
        return made[-1]

    yield make
    for planner in made:
        planner.close()


def request(seq: int, **kw) -> DesignRequest:
    return DesignRequest(sequence=seq, parents=(ParentCodec(3, BASE, bd_rate=12.0),), **kw)


def edit(search: str, replace: str, hypothesis: str = "h") -> dict:
    return {"hypothesis": hypothesis, "rationale": "r", "edits": [{"search": search, "replace": replace}]}


def test_every_request_carries_the_key_and_a_cached_prefix_of_tools_and_system(server, make_planner):
    server.push(tool_use("propose_codec", edit("STEP = 8", "STEP = 6")))
    make_planner().propose(request(1))
    sent = server.requests[0]
    assert sent.api_key == KEY
    body = sent.body
    assert [t["name"] for t in body["tools"]] == ["propose_codec", "record_analysis", "review"]
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "The codec contract" in body["system"][0]["text"]
    yardstick, parent, task = body["messages"][0]["content"]
    assert yardstick["cache_control"] == parent["cache_control"] == {"type": "ephemeral"}
    assert "STEP = 8" in parent["text"] and "cache_control" not in task
    assert body["stream"] is True


def test_the_prefix_is_written_to_the_cache_once_and_read_after(server, make_planner):
    server.always("propose_codec", lambda req: tool_use("propose_codec", edit("STEP = 8", "STEP = 6")))
    planner = make_planner()
    before = REGISTRY.get_sample_value("aivc_llm_tokens_total", {"model": MODEL, "kind": "cache_read"}) or 0
    planner.propose(request(1))
    planner.propose(request(2))
    usage = planner.token_totals()[MODEL].usage
    assert usage.cache_write > 0 and usage.cache_read == usage.cache_write
    after = REGISTRY.get_sample_value("aivc_llm_tokens_total", {"model": MODEL, "kind": "cache_read"})
    assert after == before + usage.cache_read
    assert planner.spent_usd > 0


def test_an_overload_during_design_is_retried_and_the_design_goes_on(server, make_planner):
    server.push(overloaded(retry_after="0.1"), tool_use("propose_codec", edit("STEP = 8", "STEP = 7")))
    proposal = make_planner().propose(request(1))
    assert "STEP = 7" in proposal.source
    assert [r.status for r in server.requests] == [529, 200]


def test_a_malformed_tool_call_is_answered_with_a_tool_result_the_api_accepts(server, make_planner):
    server.push(tool_use("propose_codec", {"hypothesis": "h", "rationale": "r", "edits": [
                    {"search": "STEP = 9", "replace": "STEP = 1"}]}),
                tool_use("propose_codec", edit("STEP = 8", "STEP = 1")))
    assert "STEP = 1" in make_planner().propose(request(1)).source
    assert [r.status for r in server.requests] == [200, 200]  # the fake checks tool_result pairing
    reask = server.requests[1]
    assert "'STEP = 9' does not occur" in reask.text()
    assert [m["role"] for m in reask.body["messages"]] == ["user", "assistant", "user"]


def test_two_answers_without_a_tool_call_fail_the_design_as_a_planner_error(server, make_planner):
    server.push(text_only("I think we should..."), text_only("As I said..."))
    with pytest.raises(PlannerError, match="unusable twice") as info:
        make_planner().propose(request(1))
    assert info.value.category == "planner"


def test_the_repair_prompt_carries_the_error_excerpt_and_the_failed_source(server, make_planner):
    failed = BASE.replace("return b''", "return bytes(undefined)")
    server.push(tool_use("propose_codec", edit("return bytes(undefined)", "return b'ok'")))
    proposal = make_planner().propose(request(4, repair=Failure("execution", "crash",
                                                                "NameError: name 'undefined' is not defined"),
                                              failed_source=failed))
    assert proposal.source == failed.replace("return bytes(undefined)", "return b'ok'")
    text = server.requests[0].text()
    assert "NameError: name 'undefined' is not defined" in text and "return bytes(undefined)" in text


def test_lessons_and_the_review_reach_later_prompts(server, make_planner):
    server.push(tool_use("record_analysis", {"lesson": "Step 6 beat step 8 by 3% BD-rate.", "advice": "keep"}),
                tool_use("review", {"on_track": False, "question": "Is quantisation the bottleneck?",
                                    "new_idea": "add inter prediction"}),
                tool_use("propose_codec", edit("STEP = 8", "STEP = 5")))
    planner = make_planner(review_every=1)
    learned = planner.learn(Outcome(1, "step 6", "Adopted", parent_version=3, bd_rate=9.0))
    lesson, review = (learned.text or "").splitlines()
    assert lesson == "[keep] Step 6 beat step 8 by 3% BD-rate."
    assert review == "[review] off track: Is quantisation the bottleneck? | idea: add inter prediction"
    assert [c.role for c in learned.calls] == ["analysis", "review"]
    planner.propose(request(2))
    assert [r.forced_tool for r in server.requests] == ["record_analysis", "review", "propose_codec"]
    prompt = server.requests[-1].text()
    assert lesson in prompt and "Is quantisation the bottleneck?" in prompt and "add inter prediction" in prompt
