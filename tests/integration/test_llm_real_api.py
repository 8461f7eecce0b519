"""Opt-in: one proposal, one analysis and one review from the real Anthropic API.

Runs only with ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY_FILE) set AND AIVC_REAL_LLM=1, since it
costs money (a few cents with the default model). AIVC_REAL_LLM_MODEL picks the model.
"""

from __future__ import annotations

import os

import pytest

from aivc import settings as settings_mod
from aivc.api.spec import CampaignSpec
from aivc.llm.tools import check_source
from aivc.research.llm_planner import LLMPlanner
from aivc.research.planning import DesignRequest, Outcome, ParentCodec

SETTINGS = settings_mod.load()
ENABLED = bool(SETTINGS.llm.api_key) and os.environ.get("AIVC_REAL_LLM") == "1"
MODEL = os.environ.get("AIVC_REAL_LLM_MODEL", "claude-haiku-4-5")

pytestmark = pytest.mark.skipif(
    not ENABLED, reason="REAL ANTHROPIC API TEST SKIPPED: set ANTHROPIC_API_KEY and AIVC_REAL_LLM=1")

BASE = '''"""A lossless baseline: zlib over the raw planes."""
import struct
import zlib

import numpy as np

LEVELS = 4


def encode(video, level):
    y, u, v, fps = video
    t, h, w = y.shape
    head = struct.pack("<IIIf", t, h, w, fps)
    return head + zlib.compress(np.concatenate([y.ravel(), u.ravel(), v.ravel()]).tobytes(), 9 - level)


def decode(bitstream):
    t, h, w, fps = struct.unpack("<IIIf", bitstream[:16])
    raw = np.frombuffer(zlib.decompress(bitstream[16:]), dtype=np.uint8)
    n, c = t * h * w, t * (h // 2) * (w // 2)
    y = raw[:n].reshape(t, h, w)
    u = raw[n:n + c].reshape(t, h // 2, w // 2)
    v = raw[n + c:].reshape(t, h // 2, w // 2)
    return y, u, v, fps
'''


def test_the_real_api_proposes_a_parsable_codec_and_analyses_and_reviews_it():
    spec = CampaignSpec.from_manifest({
        "apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": "real"},
        "spec": {"goal": {"anchor": "x264"}, "planner": "llm", "dataset": {"clips": ["carphone:8"]},
                 "llm": {"model": MODEL, "maxTokens": 8000, "reviewEvery": 1}}})
    planner = LLMPlanner(spec, SETTINGS.llm)
    try:
        proposal = planner.propose(DesignRequest(sequence=1, parents=(ParentCodec(0, BASE, bd_rate=400.0),)))
        check_source(proposal.source)
        assert proposal.hypothesis and proposal.cost_usd > 0
        lesson = planner.learn(Outcome(1, proposal.hypothesis, "Rejected", parent_version=0,
                                       bd_rate=380.0, bd_rate_vs_best=-20.0)).text
        assert lesson and lesson.startswith(("[keep]", "[avoid]"))
        assert planner.review is not None and planner.review.question
        totals = planner.token_totals()[MODEL]
        assert totals.requests == 3 and totals.usage.output > 0
    finally:
        planner.close()
