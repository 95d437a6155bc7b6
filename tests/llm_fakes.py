"""Helpers for the chat-model tests: replies to script, the recorded Converse payloads made complete, and a real
OpenAI-compatible ``/v1/chat/completions`` server on loopback.

The Converse documentation's examples (``tests/fixtures/bedrock/converse_response_*.json``) leave out ``usage``
and ``metrics``, which botocore's model requires of a response; :func:`converse_response` adds them.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from service.domain.llm import Message, ModelReply, StopReason, TextBlock, TokenUsage, ToolUse
from tests.conftest import load_fixture


def text_reply(text: str, *, input_tokens: int = 10, output_tokens: int = 5) -> ModelReply:
    """The model ends its turn with ``text``."""
    return ModelReply(
        message=Message(role="assistant", content=(TextBlock(text),)),
        stop_reason=StopReason.END_TURN,
        usage=TokenUsage(input_tokens=input_tokens, output_tokens=output_tokens),
        latency_ms=1.0,
        raw_stop_reason="end_turn",
    )


def tool_reply(
    *calls: tuple[str, dict[str, Any]] | ToolUse, text: str = "", input_tokens: int = 10, output_tokens: int = 5
) -> ModelReply:
    """The model asks for tools: ``(name, input)`` pairs (ids ``t1``, ``t2``, ...) or whole :class:`ToolUse`s."""
    uses = tuple(
        call if isinstance(call, ToolUse) else ToolUse(tool_use_id=f"t{i + 1}", name=call[0], input=call[1])
        for i, call in enumerate(calls)
    )
    blocks = ((TextBlock(text),) if text else ()) + uses
    return ModelReply(
        message=Message(role="assistant", content=blocks),
        stop_reason=StopReason.TOOL_USE,
        usage=TokenUsage(input_tokens=input_tokens, output_tokens=output_tokens),
        latency_ms=1.0,
        raw_stop_reason="tool_use",
    )


def converse_response(
    name: str, *, input_tokens: int = 100, output_tokens: int = 20, latency_ms: int = 350
) -> dict[str, Any]:
    """``tests/fixtures/bedrock/converse_response_<name>.json`` with the ``usage`` and ``metrics`` it lacks."""
    response = copy.deepcopy(load_fixture(f"bedrock/converse_response_{name}.json"))
    response["usage"] = {
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": input_tokens + output_tokens,
    }
    response["metrics"] = {"latencyMs": latency_ms}
    return response


def completion(
    *,
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str = "stop",
    prompt_tokens: int = 12,
    completion_tokens: int = 7,
    model: str = "llama3.1",
) -> dict[str, Any]:
    """A chat-completions answer in the documented ``ChatCompletion`` shape."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def function_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """One entry of ``message.tool_calls`` (``arguments`` is the JSON string the server sends)."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


@dataclass
class ChatServer:
    """What the loopback server answers (in order) and every request it received.

    ``answer(body)`` queues a 200 with that JSON body; ``fail(status, headers)`` a failure; with nothing queued
    it answers 500. Requests to any path but ``/v1/chat/completions`` get 404.
    """

    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.answers.append((200, {"Content-Type": "application/json"}, json.dumps(body).encode()))

    def fail(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        payload = body or json.dumps({"error": {"message": "scripted failure"}}).encode()
        with self.lock:
            self.answers.append((status, {"Content-Type": "application/json", **(headers or {})}, payload))


def _handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with server.lock:
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                queued = server.answers.pop(0) if server.answers else None
            if self.path != "/v1/chat/completions":
                status, headers, data = 404, {"Content-Type": "application/json"}, b'{"error": "not found"}'
            elif queued is None:
                status, headers, data = 500, {"Content-Type": "application/json"}, b'{"error": "nothing queued"}'
            else:
                status, headers, data = queued
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextlib.contextmanager
def serve_chat() -> Iterator[ChatServer]:
    """A running chat-completions server on 127.0.0.1 (a free port); its API root is ``server.base_url``."""
    holder = ChatServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    holder.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
