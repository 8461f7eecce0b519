"""The lab's design and learning steps with the LLM planner, the real SDK and the scripted
Messages API: what the model is shown (read back from the recorded requests), duplicates,
faults and their categories, cut-offs, and every call booked at the server's usage × price."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from aivc.api.documents import LLMCall
from aivc.llm.accounting import PriceBook, TokenUsage
from aivc.llm.client import AnthropicClient
from aivc.llm.retrying import RetryPolicy
from aivc.research.llm_planner import LLMPlanner
from aivc.research.phases import Deferred, Designed, DesignFailed, Failure, RequestDesign
from aivc.research.planning import AUTH, BUDGET, UNAVAILABLE, Outcome, PlannerError
from aivc.settings import LLMSettings
from aivc.testing.messages import (
    FakeMessagesServer,
    Recorded,
    error,
    faulty,
    overloaded,
    tool_use,
)
from tests.fakes import lab_history
from tests.fakes.lab_history import CLIP, HELD, REJECTED, V1, experiments

KEY = "sk-ant-researcher-test-key"
MODEL = "claude-sonnet-4-6"
POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02, unavailable_wait_s=45.0)


@pytest.fixture
def server():
    with FakeMessagesServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def make_lab(server, tmp_path: Path):
    made: list[LLMPlanner] = []

    def make(key: str = KEY, **llm):
        spec = lab_history.campaign(**llm)
        settings = LLMSettings(api_key=key, base_url=server.url)
        client = AnthropicClient(settings, spec.llm.model, policy=POLICY, rng=random.Random(0))
        made.append(LLMPlanner(spec, settings, client=client))
        return lab_history.lab(tmp_path, made[-1], spec)

    yield make
    for planner in made:
        planner.close()


def design(lab):
    exps = experiments(lab.store)
    return lab.design(exps[-1], RequestDesign(), exps)


def edit(search: str, replace: str) -> dict:
    return {"hypothesis": "a coarser quantiser at low rates", "rationale": "r",
            "edits": [{"search": search, "replace": replace}]}


def test_the_design_request_carries_the_labs_evidence_within_the_budget(server, make_lab):
    server.push(tool_use("propose_codec", edit("LEVELS = 2", "LEVELS = 3")))
    work = design(make_lab())
    assert isinstance(work.event, Designed)
    sent: Recorded = server.requests[0]
    system = sent.body["system"][0]["text"]
    yardstick, parent, task = (b["text"] for b in sent.body["messages"][0]["content"])
    assert "at most -0.6 %" in system and "0.3 dB" in system and "75%" in system
    assert "+2 %" in system and HELD in system
    assert f"{CLIP}: 176x144, 8 frames, 30 fps (campaign clip)" in yardstick
    assert f"{HELD}: 640x272, 8 frames, 25 fps (held out)" in yardstick
    assert f"{CLIP}, x264 (PSNR-YUV 31.75–42.50 dB over 90.0–950.0 kbps)" in yardstick
    assert "120 s wall-clock" in yardstick and "within 1800 s" in yardstick
    assert "Local mode" in yardstick
    assert "## Parent codec: v1" in parent and "Q = 20" in parent  # this seed draws the best
    assert f"{CLIP}: score vs x264 +21.50%" in parent and f"{HELD} (held out): score vs x264 +40.50%" in parent
    assert "    0    762.5     41.25   40.75   43.75   44.50  0.9500" in parent
    assert "the best v1 scores bikes:8 +40.50%" in task
    shown = "### #0, diverse: adopted as v0" if "## Parent codec: v1" in parent else "### #1, best"
    assert shown in task
    assert "### #3, failed: failed in validation (import): NameError" in task
    assert "undefined" in task and "### #2, rejected" in task and "Q = 19" in task
    assert "#2 from v1 Rejected: a slightly finer one" in task
    tokens = sum(len(t) for t in (system, yardstick, parent, task)) / 3
    assert tokens < lab_history.campaign().llm.prompt_budget_tokens


def test_a_proposal_repeating_a_measured_program_is_not_evaluated_and_the_model_is_told(server, make_lab):
    server.push(tool_use("propose_codec", {"hypothesis": "h", "rationale": "r", "source": REJECTED}),
                tool_use("propose_codec", {"hypothesis": "h", "rationale": "r",
                                           "source": "# reformatted\n" + REJECTED.replace("= 19", "=  19")}))
    work = design(make_lab())
    assert isinstance(work.event, DesignFailed) and work.event.category == "duplicate"
    assert "experiment #2 (measured and rejected)" in work.event.message
    reask = server.requests[1].text()
    assert "the same program as experiment #2" in reask
    assert [c.outcome for c in work.status["llm_calls"]] == ["ok", "ok"]


def test_a_refused_key_holds_the_design_as_auth_at_once_with_its_call_booked(server, make_lab):
    work = design(make_lab(key="sk-ant-wrong"))  # held (no design retry used), not failed
    assert isinstance(work.event, Deferred) and work.event.category == AUTH
    assert work.status["hold"].category == AUTH
    assert "401 authentication_error" in work.event.message and len(server.requests) == 1
    assert [(c.role, c.outcome, c.cost_usd) for c in work.status["llm_calls"]] == [
        ("design", "client_error", 0.0)]


def test_a_long_overload_ends_as_unavailable_with_a_time_to_wait(server, make_lab):
    server.push(*[overloaded()] * 3)
    lab = make_lab()
    exps = experiments(lab.store)
    with pytest.raises(PlannerError) as info:
        lab.planner.propose(lab._request(exps[-1], RequestDesign(), exps))
    assert info.value.category == UNAVAILABLE and info.value.retry_after_s == 45.0
    assert [c.outcome for c in info.value.calls] == ["overloaded"] * 3


def test_a_200_that_is_not_a_message_is_retried_and_the_design_goes_on(server, make_lab):
    server.push(faulty("html"), tool_use("propose_codec", edit("LEVELS = 2", "LEVELS = 3")))
    work = design(make_lab())
    assert isinstance(work.event, Designed)
    assert [c.outcome for c in work.status["llm_calls"]] == ["malformed", "ok"]


def test_a_design_cut_off_at_max_tokens_is_asked_again_with_twice_the_limit(server, make_lab):
    server.push(tool_use("propose_codec", {}, stop_reason="max_tokens"),
                tool_use("propose_codec", edit("LEVELS = 2", "LEVELS = 3")))
    assert isinstance(design(make_lab()).event, Designed)
    assert [r.body["max_tokens"] for r in server.requests] == [2000, 4000]


def priced(call: LLMCall, server_usage: dict) -> float:
    usage = TokenUsage(server_usage["input_tokens"], server_usage["output_tokens"],
                       server_usage["cache_read_input_tokens"], server_usage["cache_creation_input_tokens"])
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens, call.cache_write_tokens) == \
        (usage.input, usage.output, usage.cache_read, usage.cache_write)
    return PriceBook().cost(call.model, usage)


def test_every_call_is_booked_at_the_servers_usage_times_the_price(server, make_lab):
    server.push(faulty("cut"), tool_use("propose_codec", edit("LEVELS = 2", "LEVELS = 3")), tool="propose_codec")
    server.push(error(500, "api_error", "boom"), tool_use("record_analysis", {"lesson": "l", "advice": "keep"}),
                tool="record_analysis")
    server.push(faulty("error_event", "review"), tool_use("review", {"on_track": False, "question": "q"}),
                tool="review")
    lab = make_lab(reviewEvery=1, models={"review": "claude-haiku-4-5"})
    work = design(lab)
    lesson = lab.planner.learn(Outcome(1, "a finer quantiser", "Adopted", parent_version=0, bd_rate=21.5))
    calls = [*work.status["llm_calls"], *lesson.calls]
    assert [(c.role, c.outcome) for c in calls] == [
        ("design", "malformed"), ("design", "ok"), ("analysis", "server_error"), ("analysis", "ok"),
        ("review", "overloaded"), ("review", "ok")]
    billed = [r.usage for r in server.requests if r.status == 200 or r.usage]
    assert len(billed) == 5  # the 500 reported nothing, so it is booked at zero
    paid = [c for c in calls if c.outcome != "server_error"]
    assert sum(c.cost_usd for c in calls) == pytest.approx(sum(priced(c, u) for c, u in zip(paid, billed, strict=True)))
    assert calls[-1].model == "claude-haiku-4-5" and calls[-1].cost_usd > 0
    assert lab.planner.spent_usd == pytest.approx(sum(c.cost_usd for c in calls))


def test_the_lesson_is_drawn_from_the_diff_and_rd_tables_the_lab_loads(server, make_lab):
    server.push(tool_use("record_analysis", {"lesson": "Q 20 beat Q 30 by 9 points.", "advice": "keep"}))
    lab = make_lab()
    exps = experiments(lab.store)
    outcome = lab.outcome_of(exps[1], exps)
    assert outcome is not None and outcome.evidence is not None
    assert outcome.evidence.source == V1 and outcome.evidence.best_version == 1
    assert lab.planner.learn(outcome).text == "[keep] Q 20 beat Q 30 by 9 points."
    prompt = server.requests[0].text()
    assert "-Q = 30" in prompt and "+Q = 20" in prompt
    assert "      0        812.5     41.25 |          762.5     41.25" in prompt


def test_a_repair_edits_the_failed_source_and_keeps_the_parent_it_started_from(server, make_lab):
    lab = make_lab()
    broken = lab_history.V0.replace("return b'v0'", "return bytes(missing)")
    lab.store.patch("Experiment", "lab-0004", {"spec": {"parentVersion": "v0", "hypothesis": "h",
                                                        "codec": {"sha256": "s4"}}})
    lab.store.put_source("lab-0004", broken)
    failure = Failure("validation", "crash", "NameError: name 'missing' is not defined")
    server.push(tool_use("propose_codec", edit("bytes(missing)", "b'fixed'")))
    exps = experiments(lab.store)
    work = lab.design(exps[-1], RequestDesign(repair=failure), exps)
    assert isinstance(work.event, Designed) and work.spec["parent_version"] == "v0"
    assert lab.store.get_source("lab-0004") == broken.replace("bytes(missing)", "b'fixed'")
    text = server.requests[0].text()
    assert "## Parent codec: v0" in text and "NameError: name 'missing'" in text
    assert [c.role for c in work.status["llm_calls"]] == ["repair"]


def test_the_budget_is_checked_before_every_call_not_only_before_an_experiment(server, make_lab):
    lab = make_lab()
    exps = experiments(lab.store)
    request = lab._request(exps[-1], RequestDesign(), exps)
    assert request.budget_left_usd == pytest.approx(lab.spec.budget.max_cost_usd)
    with pytest.raises(PlannerError) as spent:
        lab.planner.propose(replace(request, budget_left_usd=0.0))
    assert spent.value.category == BUDGET and not server.requests
    # enough for one call: the duplicate's re-ask is not made
    server.push(tool_use("propose_codec", {"hypothesis": "h", "rationale": "r", "source": REJECTED}),
                tool_use("propose_codec", edit("LEVELS = 2", "LEVELS = 3")))
    with pytest.raises(PlannerError) as short:
        lab.planner.propose(replace(request, budget_left_usd=1e-9))
    assert short.value.category == BUDGET and len(server.requests) == 1
    assert [c.role for c in short.value.calls] == ["design"]
    # lessons spend from what the last request left: none is asked for now
    lab.planner.learn(Outcome(sequence=5, verdict="Rejected", parent_version=1, hypothesis="h"))
    assert len(server.requests) == 1
