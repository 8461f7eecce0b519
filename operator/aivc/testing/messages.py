"""A local stand-in for the Anthropic Messages API, for tests that use the real SDK.

`FakeMessagesServer` listens on 127.0.0.1 (a random port) in a thread and answers
`POST /v1/messages` from a script: a queue of replies, optionally one queue per tool name,
plus standing replies for tools a test does not care to script one by one. The tool a request
wants is the one it forces (`tool_choice`), or for `auto` the last one its prompt asks for
("Call `name`"), as a model reading the prompt would. It checks what a real server would
reject (the API key, in `x-api-key` or as a Bearer token as SDK 2.x sends it; message order;
tool results for every tool call) and records every request so tests can assert on what the
client sent. A request with `"stream": true` is answered as Server-Sent Events, the way the
API streams; `Reply.fault` scripts what a broken proxy or a failing stream sends instead.

    with FakeMessagesServer(api_key="sk-test") as server:
        server.push(overloaded(), tool_use("propose_codec", {...}))
        client = anthropic.Anthropic(api_key="sk-test", base_url=server.url, max_retries=0)
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ids = itertools.count(1)


FAULTS = ("html", "empty_json", "no_usage", "no_content", "cut", "error_event")
"""What a 200 may carry instead of a Message: a proxy's HTML page, `{}`, a message without
`usage` or without `content`, a stream cut after its first event, an `error` event mid-stream."""


@dataclass
class Reply:
    """One scripted HTTP answer."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    fault: str | None = None


@dataclass
class Recorded:
    """One request as the server saw it."""

    headers: dict[str, str]
    body: dict[str, Any]
    at: float
    status: int = 0
    usage: dict[str, int] | None = None
    """The usage the server reported to the client (what it bills), or None."""
    fault: str | None = None

    @property
    def api_key(self) -> str | None:
        """The key as sent: `x-api-key`, or `Authorization: Bearer` (what SDK 2.x sends)."""
        if "x-api-key" in self.headers:
            return self.headers["x-api-key"]
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    @property
    def forced_tool(self) -> str | None:
        choice = self.body.get("tool_choice") or {}
        return choice.get("name") if choice.get("type") == "tool" else None

    @property
    def wanted_tool(self) -> str | None:
        """The forced tool, or the last tool the last user message asks for by name."""
        if self.forced_tool or not self.body.get("messages"):
            return self.forced_tool
        last = self.body["messages"][-1]
        text = "\n".join(b.get("text", "") for b in _blocks(last.get("content")))
        found = re.findall(r"Call `(\w+)`", text)
        return found[-1] if found else None

    def text(self) -> str:
        """Every text the request carried (system, messages, tool results), joined."""
        parts: list[str] = [b.get("text", "") for b in _blocks(self.body.get("system"))]
        for message in self.body.get("messages", []):
            for block in _blocks(message.get("content")):
                if block.get("type") == "tool_result":
                    parts.extend(b.get("text", "") for b in _blocks(block.get("content")))
                parts.append(block.get("text", ""))
        return "\n".join(parts)


def _blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)]


# ---- replies -------------------------------------------------------------------------------


def message(content: list[dict[str, Any]], *, stop_reason: str = "end_turn",
            usage: dict[str, int] | None = None, model: str = "") -> Reply:
    """A successful Messages API answer; usage is filled in from the request when not given."""
    body = {"id": f"msg_fake{next(_ids):04d}", "type": "message", "role": "assistant",
            "model": model, "content": content, "stop_reason": stop_reason,
            "stop_sequence": None, "usage": usage}
    return Reply(200, body)


def tool_use(name: str, tool_input: Any, *, stop_reason: str = "tool_use",
             usage: dict[str, int] | None = None, text: str | None = None) -> Reply:
    """The model calling `name` with `tool_input` (which may be deliberately malformed)."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    blocks.append({"type": "tool_use", "id": f"toolu_fake{next(_ids):04d}", "name": name,
                   "input": tool_input})
    return message(blocks, stop_reason=stop_reason, usage=usage)


def text_only(text: str) -> Reply:
    """An answer that ignores the tools (a malformed answer for a forced tool call)."""
    return message([{"type": "text", "text": text}])


def error(status: int, kind: str, text: str, *, retry_after: str | None = None,
          headers: dict[str, str] | None = None) -> Reply:
    """An error in Anthropic's JSON shape (`{"type": "error", "error": {...}}`)."""
    hdrs = dict(headers or {})
    if retry_after is not None:
        hdrs["retry-after"] = retry_after
    body = {"type": "error", "error": {"type": kind, "message": text},
            "request_id": f"req_fake{next(_ids):04d}"}
    return Reply(status, body, hdrs)


def overloaded(retry_after: str | None = None) -> Reply:
    return error(529, "overloaded_error", "Overloaded", retry_after=retry_after)


def rate_limited(retry_after: str | None = "1") -> Reply:
    return error(429, "rate_limit_error", "Number of requests has exceeded your rate limit",
                 retry_after=retry_after)


def server_error() -> Reply:
    return error(500, "api_error", "Internal server error")


def faulty(fault: str, tool: str = "review", tool_input: Any = None) -> Reply:
    """A 200 that is not a usable Message (see `FAULTS`)."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}")
    reply = tool_use(tool, tool_input if tool_input is not None else {"on_track": True, "question": "q"})
    reply.fault = fault
    return reply


def thinking_then_tool(name: str, tool_input: Any, thought: str = "Let me think.") -> Reply:
    """What a model that thinks by default answers: a signed thinking block, then the call."""
    blocks = [{"type": "thinking", "thinking": thought, "signature": f"sig{next(_ids):04d}"},
              {"type": "tool_use", "id": f"toolu_fake{next(_ids):04d}", "name": name,
               "input": tool_input}]
    return message(blocks, stop_reason="tool_use")


# ---- request checks ------------------------------------------------------------------------


def _check_messages(body: dict[str, Any]) -> str | None:
    """What the real API would reject with 400, in its words (roughly)."""
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            return f"{key}: Field required"
    messages = body["messages"]
    if not messages or messages[0].get("role") != "user":
        return "messages: the first message must use the user role"
    pending: set[str] = set()
    for i, msg in enumerate(messages):
        want = "user" if i % 2 == 0 else "assistant"
        if msg.get("role") != want:
            return f"messages.{i}: roles must alternate between user and assistant"
        blocks = _blocks(msg.get("content"))
        if not blocks:
            return f"messages.{i}: content must not be empty"
        if want == "user":
            answered = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
            if pending - answered:
                return f"messages.{i}: tool_use ids without tool_result: {sorted(pending - answered)}"
            pending = set()
        else:
            pending = {b["id"] for b in blocks if b.get("type") == "tool_use"}
    return None


def _approx_tokens(obj: Any) -> int:
    return max(1, len(json.dumps(obj)) // 4)


class FakeMessagesServer:
    """Scripted Messages API on 127.0.0.1; a context manager that starts and stops it."""

    def __init__(self, api_key: str | None = "sk-ant-test-key") -> None:
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self._queues: dict[str | None, deque[Reply]] = {None: deque()}
        self._standing: dict[str, Callable[[Recorded], Reply]] = {}
        self._cached_prefixes: set[str] = set()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeMessagesServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # ---- scripting ----

    def push(self, *replies: Reply, tool: str | None = None) -> None:
        """Queue replies, for any request or only for requests forcing `tool`."""
        with self._lock:
            self._queues.setdefault(tool, deque()).extend(replies)

    def always(self, tool: str, reply: Callable[[Recorded], Reply]) -> None:
        """Answer requests forcing `tool` with `reply(request)` once their queue is empty."""
        with self._lock:
            self._standing[tool] = reply

    def pending(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def requests_for(self, tool: str) -> list[Recorded]:
        return [r for r in self.requests if r.wanted_tool == tool and r.status == 200]

    def answered(self) -> list[Recorded]:
        """Requests that reported usage to the client: every usable Message, a Message without
        content, and the streams that failed after their first event (whose start already
        told the usage): what the client must book."""
        return [r for r in self.requests if r.status == 200 and r.usage is not None]

    # ---- serving ----

    def _next_reply(self, req: Recorded) -> Reply:
        with self._lock:
            tool = req.wanted_tool
            for key in (tool, None):
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
            standing = self._standing.get(tool) if tool else None
        if standing is not None:
            return standing(req)
        return error(400, "invalid_request_error", f"fake server: no scripted reply for {tool!r}")

    def _usage(self, req: Recorded, reply: Reply) -> dict[str, int]:
        """Plausible usage: the cached prefix is written once, then read."""
        body = req.body
        cached = any("cache_control" in b for b in _blocks(body.get("system")))
        prefix = json.dumps([body.get("tools"), body.get("system")], sort_keys=True)
        total = _approx_tokens(body.get("messages")) + _approx_tokens(body.get("tools") or [])
        usage = {"input_tokens": total, "output_tokens": _approx_tokens(reply.body["content"]),
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if cached:
            n = _approx_tokens(prefix)
            with self._lock:
                hit = prefix in self._cached_prefixes
                self._cached_prefixes.add(prefix)
            usage["cache_read_input_tokens" if hit else "cache_creation_input_tokens"] = n
        return usage

    def answer(self, headers: dict[str, str], raw: bytes) -> Reply:
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return error(400, "invalid_request_error", "request body is not JSON")
        req = Recorded(headers={k.lower(): v for k, v in headers.items()}, body=body,
                       at=time.monotonic())
        with self._lock:
            self.requests.append(req)
        if self.api_key is not None and req.api_key != self.api_key:
            reply = error(401, "authentication_error", "invalid x-api-key")
        elif (problem := _check_messages(body)) is not None:
            reply = error(400, "invalid_request_error", problem)
        else:
            reply = self._next_reply(req)
        reply = Reply(reply.status, dict(reply.body), dict(reply.headers), reply.delay_s,
                      reply.fault)
        if reply.status == 200:  # a copy: one scripted Reply may be queued many times
            reply.body["model"] = reply.body.get("model") or body.get("model")
            if reply.body.get("usage") is None:
                reply.body["usage"] = self._usage(req, reply)
            if reply.fault in (None, "no_content"):
                req.usage = dict(reply.body["usage"])
            elif reply.fault in ("cut", "error_event"):  # the stream's start told its usage
                req.usage = {**reply.body["usage"], "output_tokens": 1}
        req.status = reply.status
        req.fault = reply.fault
        return reply

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path.split("?")[0] != "/v1/messages":
                    reply = error(404, "not_found_error", f"no route {self.path}")
                else:
                    reply = server.answer(dict(self.headers.items()), raw)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                streamed = reply.status == 200 and _wants_stream(raw)
                kind, data = _render(reply, streamed)
                self.send_response(reply.status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.send_header("request-id", str(reply.body.get("request_id") or reply.body.get("id")))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        return Handler


# ---- rendering ------------------------------------------------------------------------------


def _wants_stream(raw: bytes) -> bool:
    try:
        return bool(json.loads(raw or b"{}").get("stream"))
    except (json.JSONDecodeError, AttributeError):
        return False


def _render(reply: Reply, streamed: bool) -> tuple[str, bytes]:
    """Content type and body: JSON, Server-Sent Events, or what a fault sends instead."""
    if reply.fault == "html":
        return "text/html", b"<html><body><h1>502 Bad Gateway</h1>proxy error</body></html>"
    if reply.fault == "empty_json":
        return "application/json", b"{}"
    body = dict(reply.body)
    if reply.fault == "no_usage":
        body.pop("usage", None)
    if reply.fault == "no_content":
        body.pop("content", None)
    if not streamed or reply.status != 200:
        return "application/json", json.dumps(body).encode()
    return "text/event-stream", "".join(_events(body, reply.fault)).encode()


def _sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


def _events(body: dict[str, Any], fault: str | None) -> list[str]:
    """A message as the API streams it: start, each block with its deltas, delta, stop."""
    usage = body.get("usage")
    start = {k: v for k, v in body.items() if k not in ("content", "usage")}
    start.update(content=[], stop_reason=None)
    if usage is not None:
        start["usage"] = {**usage, "output_tokens": 1}
    events = [_sse("message_start", {"type": "message_start", "message": start}), _sse("ping", {"type": "ping"})]
    if fault == "cut":
        return events
    for i, block in enumerate(body.get("content") or []):
        events += _block_events(i, block)
    if fault == "error_event":
        return events + [_sse("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                   "message": "Overloaded"}})]
    delta: dict[str, Any] = {"type": "message_delta",
                             "delta": {"stop_reason": body.get("stop_reason"), "stop_sequence": None}}
    if usage is not None:
        delta["usage"] = {"output_tokens": usage.get("output_tokens", 0)}
    return events + [_sse("message_delta", delta), _sse("message_stop", {"type": "message_stop"})]


def _block_events(i: int, block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "tool_use":
        first, deltas = {**block, "input": {}}, [{"type": "input_json_delta",
                                                  "partial_json": json.dumps(block.get("input"))}]
    elif kind == "text":
        first, deltas = {**block, "text": ""}, [{"type": "text_delta", "text": block.get("text", "")}]
    elif kind == "thinking":
        first = {**block, "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": block.get("thinking", "")},
                  {"type": "signature_delta", "signature": block.get("signature", "")}]
    else:
        first, deltas = block, []
    out = [_sse("content_block_start", {"type": "content_block_start", "index": i, "content_block": first})]
    out += [_sse("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d}) for d in deltas]
    return out + [_sse("content_block_stop", {"type": "content_block_stop", "index": i})]
