"""The LLM planner's design logic against an in-process scripted client: proposals, re-asks,
cut-offs, duplicates, fault categories and the calls each step books."""

from __future__ import annotations

import dataclasses

import pytest

from aivc.llm.accounting import TokenUsage, cost_usd
from aivc.llm.client import FailedAttempt, LLMError, LLMResponse
from aivc.research.duplicates import fingerprint
from aivc.research.evidence import KnownProgram
from aivc.research.llm_planner import LLMPlanner
from aivc.research.phases import Failure
from aivc.research.planning import AUTH, UNAVAILABLE, DesignRequest, PlannerError
from aivc.settings import LLMSettings
from tests.fakes.llm_script import (
    BASE,
    MODEL,
    PARENTS,
    USAGE,
    ScriptedClient,
    edit,
    reply,
    request,
    spec,
)


def planner(client: ScriptedClient, review_every: int = 0, **llm) -> LLMPlanner:
    return LLMPlanner(spec(review_every, **llm), LLMSettings(), client=client)


def test_a_proposal_edits_its_parent_and_books_the_call_with_its_tokens_and_cost():
    client = ScriptedClient(reply("propose_codec", edit("STEP = 8", "STEP = 6")))
    p = planner(client)
    proposal = p.propose(request())
    assert proposal.source == BASE.replace("STEP = 8", "STEP = 6")
    assert (proposal.parent_version, proposal.hypothesis, proposal.rationale) == (3, "smaller step", "because")
    (call,) = proposal.calls
    assert (call.role, call.model, call.outcome) == ("design", MODEL, "ok")
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens) == (2000, 800, 3000)
    assert call.cost_usd == pytest.approx(cost_usd(MODEL, USAGE)) == pytest.approx(p.spent_usd)
    sent = client.calls[0]
    assert sent["tool_choice"] == {"type": "tool", "name": "propose_codec"} and sent["model"] == MODEL
    assert sent["max_tokens"] == 4000
    assert sent["system"][-1]["cache_control"] == {"type": "ephemeral"}
    yardstick, parent, task = sent["messages"][0]["content"]
    assert yardstick["cache_control"] == parent["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in task
    assert "## Parent codec: v3" in parent["text"] and "STEP = 8" in parent["text"]


def test_a_malformed_tool_call_is_asked_again_once_with_the_validation_error():
    client = ScriptedClient(reply("propose_codec", edit("STEP = 99", "STEP = 5")),
                            reply("propose_codec", edit("STEP = 8", "STEP = 5")))
    proposal = planner(client).propose(request())
    assert "STEP = 5" in proposal.source and [c.outcome for c in proposal.calls] == ["ok", "ok"]
    second = client.calls[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    result = second[2]["content"][0]
    assert result["type"] == "tool_result" and result["is_error"] is True
    assert result["tool_use_id"] == "toolu_propose_codec"
    assert "'STEP = 99' does not occur" in result["content"]


def test_an_answer_without_the_tool_call_is_asked_again():
    text = LLMResponse(MODEL, ({"type": "text", "text": "Here is my idea..."},), "end_turn", USAGE)
    client = ScriptedClient(text, reply("propose_codec", edit("STEP = 8", "STEP = 4")))
    assert "STEP = 4" in planner(client).propose(request()).source
    assert "instead of `propose_codec`" in client.prompt()


def test_two_malformed_answers_become_a_planner_error_that_carries_both_calls():
    client = ScriptedClient(reply("propose_codec", {"hypothesis": "h"}),
                            reply("propose_codec", {"rationale": "no hypothesis", "source": BASE}))
    with pytest.raises(PlannerError, match="unusable twice: `hypothesis`") as info:
        planner(client).propose(request())
    assert info.value.category == "planner"
    assert len(info.value.calls) == 2 and info.value.cost_usd == pytest.approx(2 * cost_usd(MODEL, USAGE))


def test_an_answer_cut_off_at_max_tokens_is_asked_again_with_twice_the_limit_not_blamed_on_the_model():
    client = ScriptedClient(reply("propose_codec", {}, stop="max_tokens"),
                            reply("propose_codec", {}, stop="max_tokens"),
                            reply("propose_codec", edit("STEP = 8", "STEP = 4")))
    proposal = planner(client).propose(request())
    assert [c["max_tokens"] for c in client.calls] == [4000, 8000, 16000]
    assert all(len(c["messages"]) == 1 for c in client.calls)  # the same request, no re-ask
    assert "STEP = 4" in proposal.source and len(proposal.calls) == 3


def test_a_cut_off_at_the_models_own_maximum_asks_for_smaller_edits():
    client = ScriptedClient(reply("propose_codec", {}, stop="max_tokens"),
                            reply("propose_codec", edit("STEP = 8", "STEP = 4")))
    planner(client, maxTokens=64000).propose(request())  # claude-sonnet-4-6 writes at most 64 000
    assert [c["max_tokens"] for c in client.calls] == [64000, 64000]
    assert "cut off at max_tokens" in client.prompt() and "prefer small `edits`" in client.prompt()


def test_a_model_that_refuses_forced_tools_is_asked_with_auto_and_told_the_tool():
    client = ScriptedClient(reply("propose_codec", edit("STEP = 8", "STEP = 4"), model="claude-sonnet-5-5"))
    planner(client, model="claude-sonnet-5-5").propose(request())
    assert client.calls[0]["tool_choice"] == {"type": "auto"}
    assert client.calls[0]["model"] == "claude-sonnet-5-5"
    assert "Call `propose_codec`" in client.prompt()


@pytest.mark.parametrize("kind, category, wait", [("auth", AUTH, None), ("unavailable", UNAVAILABLE, 90.0),
                                                  ("request", "llm", None)])
def test_an_api_failure_is_classified_and_its_failed_attempts_are_booked(kind, category, wait):
    failures = (FailedAttempt("overloaded", "529"), FailedAttempt("malformed", "html", TokenUsage(input=50)))
    client = ScriptedClient(LLMError("Messages API request failed after 2 attempts", kind=kind,
                                     retry_after_s=wait, failures=failures, model=MODEL))
    with pytest.raises(PlannerError, match="after 2 attempts") as info:
        planner(client).propose(request())
    assert info.value.category == category and info.value.retry_after_s == wait
    assert [c.outcome for c in info.value.calls] == ["overloaded", "malformed"]
    assert info.value.calls[1].cost_usd == pytest.approx(50 * 3 / 1e6)


def test_a_proposal_that_repeats_the_parent_is_not_accepted_and_the_model_is_told_why():
    reformatted = BASE.replace("STEP = 8", "STEP = 8  # the same step")
    client = ScriptedClient(reply("propose_codec", edit("STEP = 8", "STEP = 8  # the same step")),
                            reply("propose_codec", edit("STEP = 8", "STEP = 7")))
    proposal = planner(client).propose(request())
    assert proposal.source != reformatted and "STEP = 7" in proposal.source
    assert "the same program as the parent v3" in client.prompt()


def test_a_proposal_that_repeats_a_known_program_twice_fails_as_a_duplicate():
    earlier = BASE.replace("STEP = 8", "STEP = 6")
    known = (KnownProgram(fingerprint(earlier), "experiment #4 (measured and rejected)"),)
    client = ScriptedClient(reply("propose_codec", edit("STEP = 8", "STEP   =   6")),
                            reply("propose_codec", edit("STEP = 8", "STEP = (6)")))
    with pytest.raises(PlannerError, match="experiment #4") as info:
        planner(client).propose(request(known=known))
    assert info.value.category == "duplicate" and len(info.value.calls) == 2


def test_a_repair_edits_the_failed_source_keeps_the_parent_and_shows_the_error():
    failed = BASE.replace("return b''", "return undefined_name")
    client = ScriptedClient(reply("propose_codec", edit("STEP = 8", "STEP = 5", "first")),
                            reply("propose_codec", edit("return undefined_name", "return b'x'")))
    p = planner(client)
    p.propose(request(seq=7))
    fixed = p.propose(request(seq=7, repair=Failure("validation", "crash",
                                                    "NameError: name 'undefined_name' is not defined"),
                              failed_source=failed, previous_parent=PARENTS[1]))
    assert fixed.source == failed.replace("return undefined_name", "return b'x'")
    assert fixed.parent_version == 1 and fixed.calls[0].role == "repair"  # kept, not the elite
    text = client.prompt()
    assert "NameError: name 'undefined_name' is not defined" in text
    assert "return undefined_name" in text and "during validation" in text
    assert "Hypothesis it was testing: first" in text


def test_with_no_parents_the_campaigns_base_codec_is_the_starting_point():
    client = ScriptedClient(reply("propose_codec", edit("QSTEP = 6.5", "QSTEP = 6.0")))
    proposal = planner(client).propose(DesignRequest(sequence=1, parents=()))
    assert proposal.parent_version == 0
    assert "QSTEP = 6.0" in proposal.source and "intra" in proposal.source.lower()


def test_an_unknown_base_codec_with_no_parents_is_a_clear_planner_error():
    odd = dataclasses.replace(spec(), base_codec="no-such-codec")
    with pytest.raises(PlannerError, match="no parent codec to start from .*no-such-codec"):
        LLMPlanner(odd, LLMSettings(), client=ScriptedClient()).propose(
            DesignRequest(sequence=1, parents=()))
