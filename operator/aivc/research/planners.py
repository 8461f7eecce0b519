"""Pick the planner a campaign asks for: `search` (default, no key) or `llm`."""

from __future__ import annotations

from aivc.errors import AivcError
from aivc.research.planner import Planner
from aivc.research.spec import CampaignSpec
from aivc.settings import Settings


def make_planner(spec: CampaignSpec, settings: Settings) -> Planner:
    if spec.planner == "search":
        from aivc.research.search_planner import SearchPlanner

        return SearchPlanner(spec)
    if spec.planner == "llm":
        if not settings.llm.api_key:
            raise AivcError(
                f"campaign {spec.name} uses the llm planner but no Anthropic API key is set: "
                "export ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY_FILE=path), or set "
                "`spec.planner: search` to use the built-in search planner, which needs no key")
        from aivc.research.llm_planner import LLMPlanner

        return LLMPlanner(spec, settings.llm)
    raise AivcError(f"spec.planner: unknown planner {spec.planner!r} (use search or llm)")
