"""The LLM planner's logic against an in-process scripted client (the SDK path is integration)."""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections import deque
from typing import Any

import pytest

from aivc.api.documents import Metrics
from aivc.api.spec import CampaignSpec
from aivc.llm.accounting import TokenUsage, cost_usd
from aivc.llm.client import LLMError, LLMResponse
from aivc.research.llm_planner import LLMPlanner
from aivc.research.phases import Failure
from aivc.research.planning import DesignRequest, Outcome, ParentCodec, PlannerError
from aivc.settings import LLMSettings

MODEL = "claude-sonnet-4-6"
BASE = "LEVELS = 4\nSTEP = 8\n\n\ndef encode(video, level):\n    return b''\n\n\ndef decode(bits):\n    return None\n"
USAGE = TokenUsage(input=2000, output=800, cache_read=3000)


def spec(review_every: int = 0) -> CampaignSpec:
    return CampaignSpec.from_manifest({
        "apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": "t"},
        "spec": {"goal": {"anchor": "x264"}, "planner": "llm", "dataset": {"clips": ["carphone:8"]},
                 "llm": {"model": MODEL, "reviewEvery": review_every, "maxTokens": 4000}}})


def reply(tool: str, tool_input: Any, stop: str = "tool_use") -> LLMResponse:
    return LLMResponse(model=MODEL, stop_reason=stop, usage=USAGE, content=(
        {"type": "tool_use", "id": f"toolu_{tool}", "name": tool, "input": tool_input},))


class ScriptedClient:
    """Answers calls from a list; records what the planner sent."""

    def __init__(self, *replies: LLMResponse | Exception) -> None:
        self.replies: deque[LLMResponse | Exception] = deque(replies)
        self.calls: list[dict[str, Any]] = []

    def call(self, system_blocks, messages, tools, tool_choice, max_tokens) -> LLMResponse:
        self.calls.append({"system": list(system_blocks), "messages": copy.deepcopy(list(messages)),
                           "tools": list(tools), "tool_choice": tool_choice,
                           "max_tokens": max_tokens})
        item = self.replies.popleft()
        if isinstance(item, Exception):
            raise item
        return item

    def prompt(self, i: int = -1) -> str:
        """All text of the last user message of call i."""
        content = self.calls[i]["messages"][-1]["content"]
        return "\n".join(str(b.get("text") or b.get("content") or "") for b in content)


def request(seq: int = 1, **kw: Any) -> DesignRequest:
    parents = (ParentCodec(version=3, source=BASE, bd_rate=12.5, kbps=400.0),
               ParentCodec(version=1, source="LEVELS = 1\n", bd_rate=20.0, encode_fps=90.0))
    return DesignRequest(sequence=seq, parents=parents, **kw)


def edit(search: str, replace: str, hypothesis: str = "smaller step") -> dict[str, Any]:
    return {"hypothesis": hypothesis, "rationale": "because",
            "edits": [{"search": search, "replace": replace}]}


def planner(client: ScriptedClient, review_every: int = 0) -> LLMPlanner:
    return LLMPlanner(spec(review_every), LLMSettings(), client=client)


def test_a_proposal_edits_the_best_parent_and_carries_its_hypothesis_and_cost():
    client = ScriptedClient(reply("propose_codec", edit("STEP = 8", "STEP = 6")))
    p = planner(client)
    proposal = p.propose(request())
    assert proposal.source == BASE.replace("STEP = 8", "STEP = 6")
    assert (proposal.parent_version, proposal.hypothesis, proposal.rationale) == (3, "smaller step", "because")
    assert proposal.cost_usd == pytest.approx(cost_usd(MODEL, USAGE)) == pytest.approx(p.spent_usd)
    call = client.calls[0]
    assert call["tool_choice"] == {"type": "tool", "name": "propose_codec"}
    assert call["max_tokens"] == 4000
    assert call["system"][-1]["cache_control"] == {"type": "ephemeral"}
    parent_block = call["messages"][0]["content"][0]
    assert parent_block["cache_control"] == {"type": "ephemeral"} and "STEP = 8" in parent_block["text"]
    assert "v1: score_bd_rate_yuv_%=20" in client.prompt()  # the rest of the archive is summarised


def test_the_persons_note_reaches_the_prompt():
    client = ScriptedClient(reply("propose_codec", edit("STEP = 8", "STEP = 7")))
    planner(client).propose(request(note="try a larger transform"))
    assert "try a larger transform" in client.prompt()


def test_a_repair_shows_the_error_and_edits_the_failed_source_not_the_parent():
    failed = BASE.replace("return b''", "return undefined_name")
    client = ScriptedClient(reply("propose_codec", edit("STEP = 8", "STEP = 5", "first")),
                            reply("propose_codec", edit("return undefined_name", "return b'x'")))
    p = planner(client)
    p.propose(request(seq=7))
    fixed = p.propose(request(seq=7, repair=Failure("validation", "crash",
                                                    "NameError: name 'undefined_name' is not defined"),
                              failed_source=failed))
    assert fixed.source == failed.replace("return undefined_name", "return b'x'")
    text = client.prompt()
    assert "NameError: name 'undefined_name' is not defined" in text
    assert "return undefined_name" in text and "during validation" in text
    assert "Hypothesis it was testing: first" in text


def test_a_malformed_tool_call_is_asked_again_once_with_the_validation_error():
    client = ScriptedClient(reply("propose_codec", edit("STEP = 99", "STEP = 5")),
                            reply("propose_codec", edit("STEP = 8", "STEP = 5")))
    proposal = planner(client).propose(request())
    assert "STEP = 5" in proposal.source
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


def test_two_malformed_answers_become_a_planner_error():
    client = ScriptedClient(reply("propose_codec", {"hypothesis": "h"}),
                            reply("propose_codec", {"rationale": "no hypothesis", "source": BASE}))
    with pytest.raises(PlannerError, match="unusable twice: `hypothesis`") as info:
        planner(client).propose(request())
    assert info.value.category == "planner"


def test_an_answer_cut_off_at_max_tokens_is_explained_to_the_model():
    client = ScriptedClient(reply("propose_codec", {}, stop="max_tokens"),
                            reply("propose_codec", edit("STEP = 8", "STEP = 4")))
    planner(client).propose(request())
    assert "cut off at max_tokens" in client.prompt()


def test_an_api_failure_becomes_a_planner_error_of_category_llm():
    client = ScriptedClient(LLMError("Messages API request failed after 6 attempts: 529"))
    with pytest.raises(PlannerError, match="after 6 attempts") as info:
        planner(client).propose(request())
    assert info.value.category == "llm"


def measured(seq: int, verdict: str = "Rejected", bd: float = 11.0) -> Outcome:
    return Outcome(sequence=seq, hypothesis=f"idea {seq}", verdict=verdict, parent_version=3,
                   bd_rate=bd, bd_rate_vs_best=bd - 12.5, metrics=Metrics(kbps=380.0))


def test_a_measured_outcome_becomes_a_lesson_that_later_prompts_show():
    client = ScriptedClient(
        reply("record_analysis", {"lesson": "A step of 6 saved 3% over 8.", "advice": "keep"}),
        reply("propose_codec", edit("STEP = 8", "STEP = 6")))
    p = planner(client)
    assert p.learn(measured(1)).text == "[keep] A step of 6 saved 3% over 8."
    analysis = client.prompt(0)
    assert "idea 1" in analysis and "score_bd_rate_yuv_%=11" in analysis and "Rejected" in analysis
    assert client.calls[0]["tool_choice"]["name"] == "record_analysis"
    proposal = p.propose(request(seq=2))
    assert "[keep] A step of 6 saved 3% over 8." in client.prompt()
    assert proposal.cost_usd == pytest.approx(2 * cost_usd(MODEL, USAGE))  # the analysis is billed too


def test_failed_experiments_teach_no_lesson_and_cost_nothing():
    client = ScriptedClient()
    out = Outcome(sequence=1, hypothesis="h", verdict="Failed",
                  error=Failure("validation", "crash", "boom"))
    assert planner(client).learn(out).text is None
    assert client.calls == []


def test_the_baseline_changed_nothing_so_it_is_not_analysed():
    client = ScriptedClient()
    baseline = Outcome(sequence=0, hypothesis="Baseline", verdict="Adopted", bd_rate=30.0)
    assert planner(client).learn(baseline).text is None
    assert client.calls == []


def test_a_failed_analysis_is_logged_and_skipped(caplog):
    client = ScriptedClient(LLMError("Messages API request failed: 500"))
    with caplog.at_level(logging.WARNING):
        assert planner(client).learn(measured(1)).text is None
    assert "analysis of experiment 1 skipped" in caplog.text


def test_every_review_every_experiments_a_reviewer_challenges_the_direction():
    client = ScriptedClient(
        reply("record_analysis", {"lesson": "lesson one about steps", "advice": "keep"}),
        reply("record_analysis", {"lesson": "lesson two about filters", "advice": "avoid"}),
        reply("review", {"on_track": False, "question": "Why only quantiser tweaks?",
                         "new_idea": "motion-compensated prediction"}),
        reply("propose_codec", edit("STEP = 8", "STEP = 6")))
    p = planner(client, review_every=2)
    p.learn(measured(1, "Adopted", 10.0))
    p.learn(measured(2))
    assert [c["tool_choice"]["name"] for c in client.calls] == ["record_analysis", "record_analysis", "review"]
    review_prompt = client.prompt(2)
    assert "idea 1" in review_prompt and "idea 2" in review_prompt and "lesson two" in review_prompt
    assert "Best version so far: #1 Adopted" in review_prompt
    p.propose(request(seq=3))
    text = client.prompt()
    assert "OFF TRACK" in text and "Why only quantiser tweaks?" in text
    assert "motion-compensated prediction" in text


def test_replay_rebuilds_deduplicated_lessons_without_calling_the_api():
    client = ScriptedClient(reply("propose_codec", edit("STEP = 8", "STEP = 6")))
    p = planner(client)
    p.replay([Outcome(2, "b", "Rejected", lesson="[avoid] Strong deblocking blurred texture."),
              Outcome(1, "a", "Adopted", bd_rate=10.0, lesson="[keep] A step of 6 helps."),
              Outcome(3, "c", "Rejected", lesson="[avoid] strong deblocking blurred the texture"),
              Outcome(4, "d", "Failed")])
    assert client.calls == [] and p.spent_usd == 0.0
    assert [les.line() for les in p.lessons.lessons] == [  # in sequence order, merged
        "[keep] A step of 6 helps.", "[avoid] strong deblocking blurred the texture"]
    p.propose(request(seq=5, history=()))
    text = client.prompt()
    assert "strong deblocking blurred the texture (seen 2x)" in text
    assert "#4 Failed: d" in text  # replayed history stands in when the request has none


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
