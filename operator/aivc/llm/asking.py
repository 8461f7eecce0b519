"""One forced tool call with one chance to fix a malformed answer.

Models sometimes answer with a tool input that is missing a field, has the wrong type, or
carries an edit whose search text is not in the source. Rather than fail the experiment,
the validation error goes back as the tool's result (`is_error`) and the model gets exactly
one more try; a second unusable answer is a `ToolCallError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aivc.llm.client import LLMClient, LLMResponse
from aivc.llm.templates import render
from aivc.llm.tools import TOOLS, ToolInputError

log = logging.getLogger(__name__)
T = TypeVar("T")


class ToolCallError(Exception):
    """The model's tool call was unusable twice; the message says why (no secrets in it)."""


def tool_input(response: LLMResponse, tool: str) -> Any:
    """The input of the requested tool call, or a `ToolInputError` the model can act on."""
    calls = [c for c in response.tool_calls if c.name == tool]
    if response.stop_reason == "max_tokens":
        raise ToolInputError("the answer was cut off at max_tokens before the tool call was "
                             "complete; keep it shorter (prefer small `edits` to a full source)")
    if not calls:
        other = ", ".join(sorted({c.name for c in response.tool_calls})) or "no tool"
        raise ToolInputError(f"the answer called {other} instead of `{tool}`")
    return calls[0].input


def _correction(response: LLMResponse, tool: str, error: str) -> list[dict[str, Any]]:
    """Tool results for every call in the answer (the API requires them), then the re-ask."""
    note = render("reask", tool=tool, error=error)
    blocks: list[dict[str, Any]] = [
        {"type": "tool_result", "tool_use_id": c.id, "is_error": True,
         "content": error if c.name == tool else f"not used; call `{tool}`"}
        for c in response.tool_calls]
    blocks.append({"type": "text", "text": note})
    return blocks


def ask_tool(client: LLMClient, system: Sequence[dict[str, Any]], content: list[dict[str, Any]],
             tool: str, parse: Callable[[Any], T], max_tokens: int,
             record: Callable[[LLMResponse], None]) -> T:
    """Force `tool`, parse its input; re-ask once with the error; `record` sees every response."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    choice = {"type": "tool", "name": tool}
    response = client.call(system, messages, TOOLS, choice, max_tokens)
    record(response)
    try:
        return parse(tool_input(response, tool))
    except ToolInputError as exc:
        first = str(exc)
    log.info("the model's %s call was unusable (%s); asking once more", tool, first)
    echo = list(response.content) or [{"type": "text", "text": "(no answer)"}]
    messages += [{"role": "assistant", "content": echo},
                 {"role": "user", "content": _correction(response, tool, first)}]
    response = client.call(system, messages, TOOLS, choice, max_tokens)
    record(response)
    try:
        return parse(tool_input(response, tool))
    except ToolInputError as exc:
        raise ToolCallError(f"the model's {tool} call was unusable twice: {exc}") from None
