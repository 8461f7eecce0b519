"""The whole local loop with the `llm` planner, the real SDK and the fake Messages API.

The fake model first proposes a codec that crashes in the sandbox, then repairs it from the
error excerpt the loop hands back, then proposes a real improvement (motion compensation).
Every candidate runs in the real sandbox on real (synthetic) frames and is scored against a
real x264 anchor; nothing here is a hard-coded metric.
"""

from __future__ import annotations

import random

import localcamp
import pytest
from localcamp import campaign

from aivc.codec.reference import reference_source
from aivc.llm.accounting import PriceBook, TokenUsage
from aivc.llm.client import AnthropicClient
from aivc.llm.retrying import RetryPolicy
from aivc.research.llm_planner import LLMPlanner
from aivc.research.local import run_campaign
from aivc.settings import LLMSettings, PathSettings, Settings
from aivc.store.local import LocalStore
from aivc.testing.messages import FakeMessagesServer, overloaded, tool_use

pytestmark = pytest.mark.slow
clips_dir, cache_dir = localcamp.clips_dir, localcamp.cache_dir

KEY = "sk-ant-campaign-test-key"
MODEL = "claude-sonnet-4-6"
SIGNATURE = "def encode(video, level):\n"
BUG = "    level = clamp_level(level)\n"
FIX = "    level = min(max(int(level), 0), LEVELS - 1)\n"
CHROMA, COARSER = "CHROMA_QP_OFFSET = 2 ", "CHROMA_QP_OFFSET = 5 "
LESSON_1 = "Coarser chroma saved bits but lost more in PSNR-YUV than it saved."
LESSON_2 = "Motion-compensated prediction cut the bitrate sharply on moving content."
QUESTION = "What does temporal prediction buy on the held-out clip?"


def script(server: FakeMessagesServer) -> None:
    # a real change (coarser chroma) with a bug; the repair fixes only the bug, so what is
    # measured differs from v0 (a no-op repair would be v0's very bits: a duplicate)
    broken = {"hypothesis": "Coarser chroma, with levels guarded in encode.", "rationale": "safety",
              "edits": [{"search": SIGNATURE, "replace": SIGNATURE + BUG},
                        {"search": CHROMA, "replace": COARSER}]}
    repair = {"hypothesis": "Coarser chroma, with levels guarded in encode.",
              "rationale": "clamp_level was never defined", "edits": [{"search": BUG, "replace": FIX}]}
    better = {"hypothesis": "Add motion-compensated inter prediction.",
              "rationale": "the clips move", "source": reference_source("inter-dct")}
    server.push(overloaded(retry_after="0.05"), tool_use("propose_codec", broken),
                tool_use("propose_codec", repair), tool_use("propose_codec", better),
                tool="propose_codec")
    server.push(tool_use("record_analysis", {"lesson": LESSON_1, "advice": "avoid"}),
                tool_use("record_analysis", {"lesson": LESSON_2, "advice": "keep"}),
                tool="record_analysis")
    server.always("review", lambda req: tool_use("review", {
        "on_track": True, "question": QUESTION, "new_idea": "larger motion search range"}))


def test_a_broken_codec_is_repaired_and_an_improvement_adopted_end_to_end(tmp_path, clips_dir,
                                                                          cache_dir):
    spec = campaign(clips_dir, name="llm", planner="llm", budget={"maxExperiments": 3},
                    llm={"model": MODEL, "reviewEvery": 2},
                    retries={"validation": 2}, finishUp={"report": False})
    with FakeMessagesServer(api_key=KEY) as server:
        script(server)
        llm = LLMSettings(api_key=KEY, base_url=server.url)
        client = AnthropicClient(llm, spec.llm.model, policy=RetryPolicy(base_delay_s=0.01),
                                 rng=random.Random(0))
        planner = LLMPlanner(spec, llm, client=client)
        try:
            summary = run_campaign(spec, tmp_path, planner=planner, progress=False,
                                   settings=Settings(paths=PathSettings(cache_dir=cache_dir), llm=llm))
        finally:
            planner.close()
        assert server.pending() == 0, "every scripted reply was used"

    store = LocalStore(tmp_path)
    base, fixed, better = (store.get("Experiment", f"llm-000{i}")["status"] for i in range(3))
    # 1: crashed in validation, repaired once from the error, then measured honestly
    assert fixed["phase"] == "Succeeded" and fixed["attempts"]["validation"] == 1
    assert fixed["lesson"].splitlines()[0] == f"[avoid] {LESSON_1}"  # then the review (every 2)
    repair_prompt = server.requests_for("propose_codec")[1].text()
    assert "clamp_level" in repair_prompt and "NameError" in repair_prompt
    assert "failed during validation" in repair_prompt
    # 2: the improvement is adopted on its measured BD-rate
    assert better["verdict"] == "Adopted" and better["version"] == 1
    assert better["metrics"]["bdRate"] < base["metrics"]["bdRate"]
    assert summary.best is not None
    # what the model was told: lessons and the reviewer's question reach the next proposal
    third = server.requests_for("propose_codec")[2].text()
    assert LESSON_1 in third and QUESTION in third
    assert [r.status for r in server.requests[:2]] == [529, 200]  # the overload was retried
    assert all(r.api_key == KEY for r in server.requests)
    assert fixed["costUSD"] > 0 and better["costUSD"] > 0
    # every call is booked to the experiment that made it (its design, repair, lesson, review),
    # and the campaign's total is the server's usage of every answered call times its price
    calls = [c for i in range(3) for c in store.get("Experiment", f"llm-000{i}")["status"].get("llmCalls") or []]
    billed = sum(PriceBook().cost(MODEL, TokenUsage(u["input_tokens"], u["output_tokens"],
                                                      u["cache_read_input_tokens"],
                                                      u["cache_creation_input_tokens"]))
                 for u in (r.usage for r in server.answered()) if u)
    assert sum(c["costUSD"] for c in calls) == pytest.approx(billed, rel=1e-4)
    assert planner.spent_usd == pytest.approx(billed)
    assert store.get("Campaign", "llm")["status"]["costUSD"] == pytest.approx(billed, rel=1e-4)
    assert {c["role"] for c in calls} >= {"design", "repair", "analysis", "review"}
