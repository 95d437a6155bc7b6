"""The Bedrock Converse adapter against a real boto3 client answered by botocore's Stubber.

The Stubber validates both our ``converse`` parameters and the recorded responses against botocore's own
bedrock-runtime model, so a field we name wrongly fails here, not in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from service.adapters.embeddings.retry import Backoff
from service.adapters.llm.bedrock_converse import BedrockConverseLLM, converse_message, tool_config
from service.domain.llm import Message, StopReason, TextBlock, ToolResult, ToolSpec, ToolUse
from service.errors import ConfigurationError, UpstreamFailed
from tests.conftest import load_fixture
from tests.llm_fakes import converse_response

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
TOP_SONG = ToolSpec(
    name="top_song",
    description="Get the most popular song played on a radio station.",
    input_schema=load_fixture("bedrock/converse_tool_config.json")["tools"][0]["toolSpec"]["inputSchema"]["json"],
)
QUESTION = Message(role="user", content=(TextBlock("What is the most popular song on WZPZ?"),))


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def client() -> Iterator[tuple[Any, Stubber]]:
    real = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(real) as stubber:
        yield real, stubber
        stubber.assert_no_pending_responses()


def make(real: Any, sleeps: Sleeps | None = None, attempts: int = 4) -> BedrockConverseLLM:
    backoff = Backoff(attempts=attempts, base_seconds=1.0, sleep=sleeps or Sleeps(), rng=lambda: 0.5)
    return BedrockConverseLLM(real, model=MODEL, backoff=backoff)


def test_tool_config_is_the_documented_one() -> None:
    assert tool_config([TOP_SONG]) == load_fixture("bedrock/converse_tool_config.json")


def test_a_tool_use_reply_is_mapped_and_the_request_is_the_documented_one(client: tuple[Any, Stubber]) -> None:
    real, stubber = client
    expected = {
        "modelId": MODEL,
        "messages": [{"role": "user", "content": [{"text": "What is the most popular song on WZPZ?"}]}],
        "system": [{"text": "You answer questions about radio stations."}],
        "inferenceConfig": {"maxTokens": 512, "temperature": 0.2},
        "toolConfig": load_fixture("bedrock/converse_tool_config.json"),
    }
    stubber.add_response(
        "converse", converse_response("tool_use", input_tokens=410, output_tokens=54, latency_ms=812), expected
    )
    reply = make(real).converse(
        system="You answer questions about radio stations.",
        messages=[QUESTION],
        tools=[TOP_SONG],
        max_tokens=512,
        temperature=0.2,
    )
    assert reply.stop_reason is StopReason.TOOL_USE
    assert reply.raw_stop_reason == "tool_use"
    assert reply.message.role == "assistant"
    assert reply.message.tool_uses == (
        ToolUse(tool_use_id="tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", name="top_song", input={"sign": "WZPZ"}),
    )
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.latency_ms) == (410, 54, 812.0)


def test_tool_results_are_sent_in_the_documented_shape() -> None:
    ok = Message(
        role="user",
        content=(
            ToolResult(
                tool_use_id="tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                content={"song": "Elemental Hotel", "artist": "8 Storey Hike"},
            ),
        ),
    )
    failed = Message(
        role="user",
        content=(
            ToolResult(
                tool_use_id="tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                content={"error": "Station WZPA not found."},
                is_error=True,
            ),
        ),
    )
    assert converse_message(ok) == load_fixture("bedrock/converse_message_tool_result.json")
    assert converse_message(failed) == load_fixture("bedrock/converse_message_tool_result_error.json")


def test_the_whole_documented_exchange_passes_botocore_validation(client: tuple[Any, Stubber]) -> None:
    real, stubber = client
    use = ToolUse(tool_use_id="tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", name="top_song", input={"sign": "WZPZ"})
    messages = [
        QUESTION,
        Message(role="assistant", content=(use,)),
        Message(
            role="user",
            content=(ToolResult(use.tool_use_id, {"song": "Elemental Hotel", "artist": "8 Storey Hike"}),),
        ),
    ]
    expected = {
        "modelId": MODEL,
        "messages": [
            {"role": "user", "content": [{"text": "What is the most popular song on WZPZ?"}]},
            load_fixture("bedrock/converse_response_tool_use.json")["output"]["message"],
            load_fixture("bedrock/converse_message_tool_result.json"),
        ],
        "inferenceConfig": {"maxTokens": 2048, "temperature": 0.0},
        "toolConfig": load_fixture("bedrock/converse_tool_config.json"),
    }
    stubber.add_response("converse", converse_response("end_turn"), expected)
    reply = make(real).converse(system="", messages=messages, tools=[TOP_SONG])
    assert reply.stop_reason is StopReason.END_TURN
    assert reply.message.text == "The most popular song on WZPZ is Elemental Hotel by 8 Storey Hike."
    assert reply.message.tool_uses == ()


@pytest.mark.parametrize(
    ("raw", "mapped"),
    [
        ("max_tokens", StopReason.MAX_TOKENS),
        ("stop_sequence", StopReason.STOP_SEQUENCE),
        ("guardrail_intervened", StopReason.FILTERED),
        ("content_filtered", StopReason.FILTERED),
        ("malformed_tool_use", StopReason.OTHER),
        ("model_context_window_exceeded", StopReason.OTHER),
    ],
)
def test_stop_reasons_are_mapped_and_the_raw_one_kept(
    client: tuple[Any, Stubber], raw: str, mapped: StopReason
) -> None:
    real, stubber = client
    response = converse_response("end_turn")
    response["stopReason"] = raw
    stubber.add_response("converse", response)
    reply = make(real).converse(system="s", messages=[QUESTION])
    assert (reply.stop_reason, reply.raw_stop_reason) == (mapped, raw)


def test_invalid_tool_names_are_refused_before_sending(client: tuple[Any, Stubber]) -> None:
    real, _ = client
    llm = make(real)
    for name in ("codebase.searchCode", "has space", "a:b", "", "x" * 65):
        with pytest.raises(ConfigurationError, match="invalid tool name") as caught:
            llm.converse(system="", messages=[QUESTION], tools=[ToolSpec(name, "d", {"type": "object"})])
        assert caught.value.hint
    with pytest.raises(ConfigurationError, match="twice"):
        llm.converse(system="", messages=[QUESTION], tools=[TOP_SONG, TOP_SONG])


def test_throttling_and_unavailability_are_retried_with_backoff(client: tuple[Any, Stubber]) -> None:
    real, stubber = client
    stubber.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
    stubber.add_client_error("converse", "ServiceUnavailableException", "busy", 503)
    stubber.add_client_error("converse", "ModelNotReadyException", "warming up", 429)
    stubber.add_response("converse", converse_response("end_turn"))
    sleeps = Sleeps()
    reply = make(real, sleeps).converse(system="", messages=[QUESTION])
    assert reply.stop_reason is StopReason.END_TURN
    assert sleeps.calls == [1.0, 2.0, 4.0]  # 0.5 * base * 2**n: exponential, with the jitter pinned


def test_retries_stop_at_the_limit_with_upstream_failed(client: tuple[Any, Stubber]) -> None:
    real, stubber = client
    for _ in range(2):
        stubber.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
    with pytest.raises(UpstreamFailed, match="ThrottlingException") as caught:
        make(real, attempts=2).converse(system="", messages=[QUESTION])
    assert caught.value.details["attempts"] == 2
    assert "gave up after 2 attempts" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("code", "hint_word"),
    [("AccessDeniedException", "bedrock:InvokeModel"), ("ValidationException", "inference profile"),
     ("ResourceNotFoundException", "REGION")],
)  # fmt: skip
def test_configuration_problems_are_not_retried(client: tuple[Any, Stubber], code: str, hint_word: str) -> None:
    real, stubber = client
    stubber.add_client_error("converse", code, "nope", 400)
    sleeps = Sleeps()
    with pytest.raises(ConfigurationError, match=code) as caught:
        make(real, sleeps).converse(system="", messages=[QUESTION])
    assert hint_word in (caught.value.hint or "")
    assert sleeps.calls == []


def test_other_errors_become_upstream_failed_at_once(client: tuple[Any, Stubber]) -> None:
    real, stubber = client
    stubber.add_client_error("converse", "ModelErrorException", "the model failed", 424)
    sleeps = Sleeps()
    with pytest.raises(UpstreamFailed, match="ModelErrorException"):
        make(real, sleeps).converse(system="", messages=[QUESTION])
    assert sleeps.calls == []


def test_a_non_object_tool_input_comes_back_as_an_input_error(client: tuple[Any, Stubber]) -> None:
    real, stubber = client
    response = converse_response("tool_use")
    response["output"]["message"]["content"][0]["toolUse"]["input"] = "WZPZ"
    stubber.add_response("converse", response)
    (use,) = make(real).converse(system="", messages=[QUESTION], tools=[TOP_SONG]).message.tool_uses
    assert use.input == {}
    assert use.input_error is not None
    assert "JSON object" in use.input_error


def test_a_model_id_is_required() -> None:
    with pytest.raises(ConfigurationError, match="model id"):
        BedrockConverseLLM(object(), model="")  # type: ignore[arg-type]
