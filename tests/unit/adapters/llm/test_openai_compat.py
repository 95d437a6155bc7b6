"""The OpenAI-compatible chat adapter over real HTTP, against the loopback server in ``tests/llm_fakes.py``."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from service.adapters.embeddings.retry import Backoff
from service.adapters.llm.openai_compat import OpenAICompatibleLLM
from service.domain.llm import Message, StopReason, TextBlock, ToolResult, ToolSpec, ToolUse
from service.errors import ConfigurationError, UpstreamFailed
from tests.llm_fakes import ChatServer, completion, function_call, serve_chat

SEARCH = ToolSpec(
    name="codebase_searchCode",
    description="Search the indexed code.",
    input_schema={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)
QUESTION = Message(role="user", content=(TextBlock("Where is the token parsed?"),))


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    with serve_chat() as server:
        yield server


def make(server: ChatServer, sleeps: Sleeps | None = None, attempts: int = 4, **options: object) -> OpenAICompatibleLLM:
    backoff = Backoff(attempts=attempts, base_seconds=1.0, sleep=sleeps or Sleeps(), rng=lambda: 0.5)
    return OpenAICompatibleLLM(base_url=server.base_url, model="llama3.1", backoff=backoff, **options)  # type: ignore[arg-type]


def test_tools_go_out_as_functions_and_tool_calls_come_back_as_tool_uses(chat_server: ChatServer) -> None:
    chat_server.answer(
        completion(
            content="Let me search.",
            tool_calls=[function_call("call_1", "codebase_searchCode", '{"query": "parse token"}')],
            finish_reason="tool_calls",
            prompt_tokens=321,
            completion_tokens=17,
        )
    )
    llm = make(chat_server, api_key=SecretStr("sk-local-1"))
    reply = llm.converse(system="You inspect code.", messages=[QUESTION], tools=[SEARCH], max_tokens=300)
    (request,) = chat_server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-local-1"
    assert request["body"] == {
        "model": "llama3.1",
        "messages": [
            {"role": "system", "content": "You inspect code."},
            {"role": "user", "content": "Where is the token parsed?"},
        ],
        "max_tokens": 300,
        "temperature": 0.0,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "codebase_searchCode",
                    "description": "Search the indexed code.",
                    "parameters": SEARCH.input_schema,
                },
            }
        ],
    }
    assert reply.stop_reason is StopReason.TOOL_USE
    assert reply.message.text == "Let me search."
    assert reply.message.tool_uses == (
        ToolUse(tool_use_id="call_1", name="codebase_searchCode", input={"query": "parse token"}),
    )
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (321, 17)
    assert reply.latency_ms > 0
    assert llm.hosted is False  # loopback


def test_tool_uses_and_results_are_sent_back_in_the_chat_shape(chat_server: ChatServer) -> None:
    chat_server.answer(completion(content="It is in lexer.py."))
    use = ToolUse(tool_use_id="call_1", name="codebase_searchCode", input={"query": "parse token"})
    other = ToolUse(tool_use_id="call_2", name="codebase_searchCode", input={"query": "tokenise"})
    messages = [
        QUESTION,
        Message(role="assistant", content=(TextBlock("Let me search."), use, other)),
        Message(
            role="user",
            content=(
                ToolResult("call_1", {"hits": [{"path": "lexer.py", "line": 3}]}),
                ToolResult("call_2", {"error": "index busy"}, is_error=True),
            ),
        ),
    ]
    reply = make(chat_server).converse(system="", messages=messages, tools=[SEARCH])
    sent = chat_server.requests[0]["body"]["messages"]
    assert sent == [
        {"role": "user", "content": "Where is the token parsed?"},
        {
            "role": "assistant",
            "content": "Let me search.",
            "tool_calls": [
                function_call("call_1", "codebase_searchCode", json.dumps({"query": "parse token"})),
                function_call("call_2", "codebase_searchCode", json.dumps({"query": "tokenise"})),
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"hits": [{"path": "lexer.py", "line": 3}]})},
        {"role": "tool", "tool_call_id": "call_2", "content": json.dumps({"error": "index busy"})},
    ]
    assert reply.stop_reason is StopReason.END_TURN
    assert reply.message.text == "It is in lexer.py."


@pytest.mark.parametrize(
    ("finish", "mapped"),
    [("stop", StopReason.END_TURN), ("length", StopReason.MAX_TOKENS), ("content_filter", StopReason.FILTERED),
     ("eos", StopReason.OTHER)],
)  # fmt: skip
def test_finish_reasons_are_mapped(chat_server: ChatServer, finish: str, mapped: StopReason) -> None:
    chat_server.answer(completion(content="done", finish_reason=finish))
    reply = make(chat_server).converse(system="", messages=[QUESTION])
    assert (reply.stop_reason, reply.raw_stop_reason) == (mapped, finish)


def test_tool_calls_with_finish_reason_stop_are_tool_use(chat_server: ChatServer) -> None:
    # Ollama answers tool calls with finish_reason "stop".
    chat_server.answer(
        completion(tool_calls=[function_call("c1", "codebase_searchCode", '{"query": "x"}')], finish_reason="stop")
    )
    assert make(chat_server).converse(system="", messages=[QUESTION], tools=[SEARCH]).stop_reason is StopReason.TOOL_USE


@pytest.mark.parametrize("arguments", ['{"query": "unterminated', '["a list"]', "42"])
def test_malformed_arguments_become_an_input_error_for_the_loop(chat_server: ChatServer, arguments: str) -> None:
    chat_server.answer(
        completion(tool_calls=[function_call("c1", "codebase_searchCode", arguments)], finish_reason="tool_calls")
    )
    (use,) = make(chat_server).converse(system="", messages=[QUESTION], tools=[SEARCH]).message.tool_uses
    assert use.input == {}
    assert use.input_error is not None
    assert "codebase_searchCode" in use.input_error
    assert "JSON" in use.input_error


def test_429_and_5xx_are_retried_honouring_retry_after(chat_server: ChatServer) -> None:
    chat_server.fail(429, {"Retry-After": "3"})
    chat_server.fail(503)
    chat_server.answer(completion(content="ok"))
    sleeps = Sleeps()
    reply = make(chat_server, sleeps).converse(system="", messages=[QUESTION])
    assert reply.message.text == "ok"
    assert sleeps.calls == [3.0, 2.0]
    assert len(chat_server.requests) == 3


def test_retries_stop_at_the_limit(chat_server: ChatServer) -> None:
    for _ in range(2):
        chat_server.fail(502)
    with pytest.raises(UpstreamFailed, match="502") as caught:
        make(chat_server, attempts=2).converse(system="", messages=[QUESTION])
    assert caught.value.details == {"status": 502, "attempts": 2}


@pytest.mark.parametrize(("status", "hint_word"), [(401, "API_KEY"), (403, "API key"), (404, "BASE_URL")])
def test_auth_and_missing_models_are_configuration_errors(chat_server: ChatServer, status: int, hint_word: str) -> None:
    chat_server.fail(status)
    sleeps = Sleeps()
    with pytest.raises(ConfigurationError) as caught:
        make(chat_server, sleeps).converse(system="", messages=[QUESTION])
    assert hint_word in (caught.value.hint or "")
    assert sleeps.calls == []


def test_a_bad_request_is_upstream_failed_without_retry(chat_server: ChatServer) -> None:
    chat_server.fail(400, body=b'{"error": {"message": "context length exceeded"}}')
    with pytest.raises(UpstreamFailed, match="context length exceeded"):
        make(chat_server).converse(system="", messages=[QUESTION])
    assert len(chat_server.requests) == 1


@pytest.mark.parametrize("body", [b"not json", b'{"choices": []}', b'{"object": "error"}'])
def test_unreadable_answers_are_upstream_failed(chat_server: ChatServer, body: bytes) -> None:
    chat_server.answers.append((200, {"Content-Type": "application/json"}, body))
    with pytest.raises(UpstreamFailed):
        make(chat_server).converse(system="", messages=[QUESTION])


def test_an_unreachable_server_is_retried_then_upstream_failed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    llm = OpenAICompatibleLLM(
        base_url=f"http://127.0.0.1:{port}/v1",
        model="m",
        backoff=Backoff(attempts=3, sleep=sleeps, rng=lambda: 0.0),
    )
    with pytest.raises(UpstreamFailed, match="unreachable after 3 attempts"):
        llm.converse(system="", messages=[QUESTION])
    assert len(sleeps.calls) == 2
    llm.close()


def test_invalid_tool_names_are_refused(chat_server: ChatServer) -> None:
    with pytest.raises(ConfigurationError, match="invalid tool name"):
        make(chat_server).converse(system="", messages=[QUESTION], tools=[ToolSpec("codebase.search", "d", {})])
    assert chat_server.requests == []


def test_remote_endpoints_count_as_hosted_and_settings_are_checked() -> None:
    assert OpenAICompatibleLLM(base_url="https://api.openai.com/v1", model="gpt-4o").hosted is True
    assert OpenAICompatibleLLM(base_url="http://localhost:11434/v1", model="m").hosted is False
    assert OpenAICompatibleLLM(base_url="http://10.0.0.5/v1", model="m", hosted=False).hosted is False
    with pytest.raises(ConfigurationError, match="base URL"):
        OpenAICompatibleLLM(base_url="", model="m")
    with pytest.raises(ConfigurationError, match="model name"):
        OpenAICompatibleLLM(base_url="http://localhost/v1", model="")
