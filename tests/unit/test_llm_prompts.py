"""What a design request tells the model: the evidence, the rule with the campaign's numbers,
other programs with code, the model's own mistakes (and never a machine's), within a budget."""

from __future__ import annotations

import dataclasses

from aivc.research import prompting
from aivc.research.evidence import Program
from aivc.research.llm_planner import LLMPlanner
from aivc.research.phases import Failure
from aivc.settings import LLMSettings
from tests.fakes.llm_script import BASE, PARENTS, ScriptedClient, edit, reply, request, spec


def design_prompt(**kw) -> tuple[ScriptedClient, str]:
    client = ScriptedClient(reply("propose_codec", edit("STEP = 8", "STEP = 6")))
    LLMPlanner(spec(**kw.pop("llm", {})), LLMSettings(), client=client).propose(request(**kw))
    return client, client.everything()


def test_the_system_prompt_states_the_score_and_adoption_rule_with_the_campaigns_numbers():
    _, text = design_prompt()
    for must in ("BD-rate (piecewise-cubic Bjøntegaard) on PSNR-YUV = (6·Y + U + V) / 8",
                 "against x264", "at least 85% of the narrower", "at most -0.7 %",
                 "more than 0.4 dB below the best", "bikes:8", "at most +1.5 %",
                 "above 10 % there", "LEVELS", "fresh process", "constriction"):
        assert must in text, must


def test_a_campaign_without_held_out_clips_is_not_told_it_has_one():
    one_clip = dataclasses.replace(spec(), held_out=())
    assert "no held-out clip" in prompting.rule_text(one_clip)
    assert "held-out clip guards" not in prompting.system_text(one_clip)


def test_the_yardstick_holds_clip_geometry_anchor_points_with_ranges_limits_and_hardware():
    client, _ = design_prompt()
    yardstick = client.calls[0]["messages"][0]["content"][0]["text"]
    for must in ("carphone:8: 176x144, 8 frames, 30 fps (campaign clip)",
                 "bikes:8: 640x272, 8 frames, 25 fps (held out)",
                 "carphone:8, x264 (PSNR-YUV 31.75–42.50 dB over 90.0–950.0 kbps)",
                 "   23    950.0     42.50   41.50   45.50   46.50  1.1300",
                 "carphone:8, x265", "120 s wall-clock", "240 s of CPU", "6.0 GiB of address space",
                 "256 MiB", "512 KiB", "within 300 s", "within 1800 s", "Local mode: CPU only"):
        assert must in yardstick, must


def test_the_parent_block_holds_its_rate_points_per_clip_and_its_score_there():
    client, _ = design_prompt()
    parent = client.calls[0]["messages"][0]["content"][1]["text"]
    assert "carphone:8: score vs x264 +12.50%, PSNR-YUV 37.50–41.25 dB over 402.0–812.5 kbps" in parent
    assert "bikes:8 (held out): score vs x264 n/a" not in parent  # its per-clip score is known
    assert "bikes:8 (held out): score vs x264 +30.25%" in parent
    assert "    0    812.5     41.25   40.25   44.25   45.25  0.9000" in parent
    assert BASE.strip() in parent


def test_the_task_tells_why_this_parent_the_held_out_standing_and_shows_other_programs_with_code():
    failed = Program("failed", 9, None, "a big transform", "failed in validation (crash): boom",
                     "LEVELS = 2\nBIG = 64\n")
    client, _ = design_prompt(parents=PARENTS, programs=(failed,), seq=2)
    task = client.prompt()
    assert "Why this parent:" in task and "drawn with probability" in task
    assert "the best v3 scores bikes:8 +30.25% against x264" in task
    assert "may not be worse than the best there by more than 1.5 %" in task
    assert "### #9, failed: failed in validation (crash): boom" in task and "BIG = 64" in task
    shown_parent = client.calls[0]["messages"][0]["content"][1]["text"]
    other = "LEVELS = 1\nFAST = True" if "STEP = 8" in shown_parent else "STEP = 8"
    assert other in task  # the elite that is not the parent is shown with its code


def test_the_models_mistakes_get_their_own_section_and_machine_errors_never_reach_it():
    client, _ = design_prompt(repair=Failure("design", "duplicate", "the same program as #4"),
                              mistakes=(Failure("validation", "infra", "image pull backoff 529"),
                                        Failure("validation", "crash", "IndexError in decode")),
                              note="try a larger transform")
    task = client.prompt()
    mistakes = task.split("## Mistakes in your previous attempt")[1].split("## Note from")[0]
    assert "IndexError in decode" in mistakes and "the same program as #4" in mistakes
    assert "image pull" not in task
    assert task.split("## Note from the person supervising the campaign")[1].strip().startswith(
        "try a larger transform")


def test_an_api_failure_of_the_previous_attempt_is_neither_a_mistake_nor_a_persons_note():
    client, _ = design_prompt(repair=Failure("design", "unavailable", "529 Overloaded"))
    task = client.prompt()
    assert "Overloaded" not in task and "529" not in task
    assert task.split("## Note from the person supervising the campaign")[1].strip().startswith("(none)")


def test_a_big_archive_is_trimmed_to_the_budget_programs_first_and_the_parent_never():
    huge = [Program("failed", 20 + i, None, f"idea {i}", "failed in execution (timeout): slow",
                    f"# program {i}\n" + "X = 1\n" * 6000) for i in range(4)]
    client, text = design_prompt(programs=tuple(huge), llm={"promptBudgetTokens": 20000})
    assert prompting.estimate_tokens(text) + prompting.TOOLS_TOKENS <= 20000
    assert BASE.strip() in text  # the parent is whole
    assert "# program 0" in text and "# program 3" not in text  # the oldest failure went first


def test_a_parent_larger_than_the_budget_is_still_sent_whole():
    big = dataclasses.replace(PARENTS[0], source=BASE + "# padding\n" * 12000)
    client, text = design_prompt(parents=(big,), llm={"promptBudgetTokens": 8000})
    assert big.source.strip() in text
    assert "## Other programs" in text and "(none shown)" in text


def test_a_candidate_found_to_repeat_earlier_bitstreams_is_designed_anew_not_repaired():
    client, _ = design_prompt(repair=Failure("validation", "duplicate", "identical bitstreams to lab-0007"),
                              failed_source=BASE.replace("STEP = 8", "STEP = 9"))
    task = client.prompt()
    assert "propose the next candidate" in task and "repair the candidate" not in task
    assert "failed in validation (duplicate): identical bitstreams to lab-0007" in task
