"""What the LLM planner learns: lessons from the change and both RD tables, reviews that see
the best code and the trend, an off-track verdict that changes the next designs, and a memory
that `replay` rebuilds without calling the API."""

from __future__ import annotations

import logging

import pytest

from aivc.api.documents import Metrics
from aivc.llm.accounting import cost_usd
from aivc.llm.client import FailedAttempt, LLMError
from aivc.research.evidence import ChangeEvidence
from aivc.research.llm_planner import LLMPlanner
from aivc.research.phases import Failure
from aivc.research.planning import Outcome
from aivc.settings import LLMSettings
from tests.fakes.llm_script import (
    BASE,
    MODEL,
    PARENTS,
    USAGE,
    ScriptedClient,
    edit,
    point,
    reply,
    request,
    spec,
)

CANDIDATE = BASE.replace("STEP = 8", "STEP = 6")
EVIDENCE = ChangeEvidence(source=CANDIDATE, parent_source=BASE,
                          rd={"carphone:8": (point(0, 700.0, 41.0), point(1, 350.0, 37.25))},
                          parent_rd={"carphone:8": (point(0, 812.5, 41.25), point(1, 402.0, 37.5))},
                          best_source=BASE + "# the best so far\n", best_version=3)


def planner(client: ScriptedClient, review_every: int = 0, **llm) -> LLMPlanner:
    return LLMPlanner(spec(review_every, **llm), LLMSettings(), client=client)


def measured(seq: int, verdict: str = "Rejected", bd: float = 11.0, parent: int = 3,
             evidence: ChangeEvidence | None = EVIDENCE) -> Outcome:
    return Outcome(sequence=seq, hypothesis=f"idea {seq}", verdict=verdict, parent_version=parent,
                   bd_rate=bd, bd_rate_vs_best=bd - 12.5, metrics=Metrics(kbps=380.0),
                   reason="its BD-rate against the best is -1.5 %", evidence=evidence)


def test_a_lesson_is_drawn_from_the_diff_and_both_rd_tables_and_its_call_is_the_lessons():
    client = ScriptedClient(
        reply("record_analysis", {"lesson": "A step of 6 saved 14% at level 0 on carphone.", "advice": "keep"}))
    p = planner(client)
    lesson = p.learn(measured(1))
    assert lesson.text == "[keep] A step of 6 saved 14% at level 0 on carphone."
    assert [c.role for c in lesson.calls] == ["analysis"]
    assert lesson.calls[0].cost_usd == pytest.approx(cost_usd(MODEL, USAGE))
    prompt = client.prompt(0)
    assert "-STEP = 8" in prompt and "+STEP = 6" in prompt
    assert "      0        812.5     41.25 |          700.0     41.00" in prompt
    assert "its BD-rate against the best is -1.5 %" in prompt and "idea 1" in prompt
    assert client.calls[0]["tool_choice"]["name"] == "record_analysis"


def test_the_lesson_appears_in_later_prompts_and_is_not_billed_to_the_next_design():
    client = ScriptedClient(reply("record_analysis", {"lesson": "Step 6 helps.", "advice": "keep"}),
                            reply("propose_codec", edit("STEP = 8", "STEP = 5")))
    p = planner(client)
    p.learn(measured(1))
    proposal = p.propose(request(seq=2))
    assert "[keep] Step 6 helps." in client.prompt()
    assert proposal.cost_usd == pytest.approx(cost_usd(MODEL, USAGE))  # its own call only
    assert p.spent_usd == pytest.approx(2 * cost_usd(MODEL, USAGE))


def test_failed_experiments_teach_no_lesson_and_cost_nothing():
    client = ScriptedClient()
    out = Outcome(sequence=1, hypothesis="h", verdict="Failed", error=Failure("validation", "crash", "boom"))
    lesson = planner(client).learn(out)
    assert (lesson.text, lesson.calls, client.calls) == (None, (), [])


def test_the_baseline_changed_nothing_so_it_is_not_analysed():
    client = ScriptedClient()
    baseline = Outcome(sequence=0, hypothesis="Baseline", verdict="Adopted", bd_rate=30.0)
    assert planner(client).learn(baseline).text is None and client.calls == []


def test_a_failed_analysis_is_logged_skipped_and_its_attempts_still_booked(caplog):
    client = ScriptedClient(LLMError("Messages API request failed after 2 attempts: 500", kind="unavailable",
                                     failures=(FailedAttempt("server_error", "500"),) * 2, model=MODEL))
    with caplog.at_level(logging.WARNING):
        lesson = planner(client).learn(measured(1))
    assert lesson.text is None and [c.outcome for c in lesson.calls] == ["server_error"] * 2
    assert "analysis of experiment 1 skipped" in caplog.text


def test_analysis_and_review_may_use_their_own_models():
    client = ScriptedClient(reply("record_analysis", {"lesson": "l", "advice": "keep"}, model="claude-haiku-4-5"),
                            reply("review", {"on_track": True, "question": "q"}, model="claude-opus-4-6"))
    lesson = planner(client, 1, models={"analysis": "claude-haiku-4-5", "review": "claude-opus-4-6"}) \
        .learn(measured(1))
    assert [c["model"] for c in client.calls] == ["claude-haiku-4-5", "claude-opus-4-6"]
    assert [(c.role, c.model) for c in lesson.calls] == [("analysis", "claude-haiku-4-5"),
                                                         ("review", "claude-opus-4-6")]
    assert lesson.calls[1].cost_usd == pytest.approx(cost_usd("claude-opus-4-6", USAGE))


def test_the_reviewer_sees_the_best_code_and_the_trend():
    client = ScriptedClient(
        reply("record_analysis", {"lesson": "lesson one about steps", "advice": "keep"}),
        reply("record_analysis", {"lesson": "lesson two about filters", "advice": "avoid"}),
        reply("review", {"on_track": True, "question": "Why only quantiser tweaks?", "new_idea": None}))
    p = planner(client, review_every=2)
    p.learn(measured(1, "Adopted", 10.0))
    lesson = p.learn(measured(2))
    assert [c["tool_choice"]["name"] for c in client.calls] == ["record_analysis", "record_analysis", "review"]
    review = client.prompt(2)
    assert "# the best so far" in review and "STEP = 8" in review
    assert "#1 from v3 Adopted: idea 1" in review and "#2 from v3 Rejected: idea 2" in review
    assert "best so far +10.00%" in review and "lesson two" in review
    assert lesson.text.splitlines() == ["[avoid] lesson two about filters",
                                        "[review] on track: Why only quantiser tweaks?"]
    assert [c.role for c in lesson.calls] == ["analysis", "review"]


def off_track(seq: int = 4) -> Outcome:
    return Outcome(seq, "idea", "Rejected", parent_version=3, bd_rate=14.0,
                   lesson="[avoid] idea did not help\n[review] off track: Is the transform the limit? "
                          "| idea: motion-compensated prediction")


def test_an_off_track_review_makes_the_next_designs_explore_from_another_elite():
    client = ScriptedClient(*[reply("propose_codec", edit("FAST = True", "FAST = False"))] * 2,
                            reply("propose_codec", edit("STEP = 8", "STEP = 7")))
    p = planner(client)
    p.replay([off_track(4)])
    first = p.propose(request(seq=5, parents=PARENTS))
    second = p.propose(request(seq=6, parents=PARENTS))
    assert first.parent_version == second.parent_version == 1  # not the best, v3
    for i in (0, 1):
        text = client.prompt(i)
        assert "EXPLORE: the reviewer judged the campaign off track" in text
        assert "motion-compensated prediction" in text and "OFF TRACK" in text
    later = p.propose(request(seq=7, parents=PARENTS[:1]))
    assert later.parent_version == 3 and "EXPLORE" not in client.prompt()


def test_replay_rebuilds_lessons_and_the_last_review_without_calling_the_api():
    client = ScriptedClient(reply("propose_codec", edit("STEP = 8", "STEP = 6")))
    p = planner(client)
    p.replay([Outcome(2, "b", "Rejected", lesson="[avoid] Strong deblocking blurred texture."),
              Outcome(1, "a", "Adopted", bd_rate=10.0, lesson="[keep] A step of 6 helps."),
              Outcome(3, "c", "Rejected", lesson="[avoid] strong deblocking blurred the texture"),
              off_track(4), Outcome(5, "d", "Failed", error=Failure("validation", "crash", "x"))])
    assert client.calls == [] and p.spent_usd == 0.0
    assert [les.line() for les in p.lessons.lessons][:2] == [
        "[keep] A step of 6 helps.", "[avoid] strong deblocking blurred the texture"]
    assert p.review is not None and not p.review.on_track
    assert p.review.new_idea == "motion-compensated prediction"
    p.propose(request(seq=9, history=()))
    text = client.prompt()
    assert "strong deblocking blurred the texture (seen 2x)" in text
    assert "#5 Failed: d — failed in validation: crash" in text  # replayed history stands in
