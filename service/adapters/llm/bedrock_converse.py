"""A chat model on Amazon Bedrock through the Converse API (``converse`` on an injected boto3 ``bedrock-runtime``
client), with tool use; any model id or inference profile id that Converse serves.

Request (botocore bedrock-runtime model, ``ConverseRequest``): ``modelId``, ``messages[{role, content[
{text} | {toolUse{toolUseId, name, input}} | {toolResult{toolUseId, content[{json} | {text}], status}}]}]``,
``system[{text}]``, ``inferenceConfig{maxTokens, temperature}``, ``toolConfig{tools[{toolSpec{name, description,
inputSchema{json}}}]}``. Response: ``output.message.content`` (text and toolUse blocks), ``stopReason``,
``usage{inputTokens, outputTokens}``, ``metrics{latencyMs}``. The tool-use loop is described in
https://docs.aws.amazon.com/bedrock/latest/userguide/tool-use-inference-call.html.

Errors::

    ThrottlingException, ServiceUnavailable(Exception), ModelNotReadyException,
    InternalServerException, connection failures           retried with jittered back-off, then UpstreamFailed
    AccessDeniedException, ValidationException,
    ResourceNotFoundException, bad or missing credentials   ConfigurationError with a hint (never retried)
    anything else (ModelTimeoutException, ModelErrorException, read timeouts, ...)   UpstreamFailed

Build the client with botocore's own retries off (:func:`service.adapters.llm.build_llm` does) so the two retry
loops do not multiply.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
)

from service.adapters.embeddings.retry import Backoff
from service.adapters.llm.toolnames import check_tools
from service.domain.llm import (
    ContentBlock,
    Message,
    ModelReply,
    StopReason,
    TextBlock,
    TokenUsage,
    ToolResult,
    ToolSpec,
    ToolUse,
)
from service.errors import ConfigurationError, UpstreamFailed

log = logging.getLogger(__name__)

RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "ModelNotReadyException",
        "InternalServerException",
    }
)
CONFIGURATION_HINTS = {
    "AccessDeniedException": "grant bedrock:InvokeModel on this model (or inference profile) and enable model "
    "access in the Bedrock console",
    "ValidationException": "check TICKETSMITH_LLM__MODEL (some models need an inference profile id such as "
    "us.<model id>) and that the model supports tool use in Converse",
    "ResourceNotFoundException": "check TICKETSMITH_LLM__MODEL and that the model is offered in "
    "TICKETSMITH_LLM__REGION",
    "UnrecognizedClientException": "check the AWS credentials",
    "ExpiredTokenException": "refresh the AWS credentials",
}
STOP_REASONS = {
    "end_turn": StopReason.END_TURN,
    "tool_use": StopReason.TOOL_USE,
    "max_tokens": StopReason.MAX_TOKENS,
    "stop_sequence": StopReason.STOP_SEQUENCE,
    "guardrail_intervened": StopReason.FILTERED,
    "content_filtered": StopReason.FILTERED,
}


class ConverseRuntime(Protocol):
    """The one method of a boto3 ``bedrock-runtime`` client we call."""

    def converse(self, **kwargs: Any) -> Mapping[str, Any]: ...


def tool_config(tools: Sequence[ToolSpec]) -> dict[str, Any]:
    """``toolConfig`` for ``tools`` (checked against the tool-name rule)."""
    check_tools(tools)
    return {
        "tools": [
            {"toolSpec": {"name": t.name, "description": t.description, "inputSchema": {"json": t.input_schema}}}
            for t in tools
        ]
    }


def _tool_result(block: ToolResult) -> dict[str, Any]:
    # An error goes back as text with status error, as in the Converse documentation's example; a bare
    # {"error": message} is sent as that message.
    if block.is_error:
        error = block.content.get("error")
        text = error if isinstance(error, str) and len(block.content) == 1 else json.dumps(block.content)
        return {"toolUseId": block.tool_use_id, "content": [{"text": text}], "status": "error"}
    return {"toolUseId": block.tool_use_id, "content": [{"json": block.content}]}


def content_block(block: ContentBlock) -> dict[str, Any]:
    """One of our content blocks as a Converse ``ContentBlock``."""
    if isinstance(block, TextBlock):
        return {"text": block.text}
    if isinstance(block, ToolUse):
        return {"toolUse": {"toolUseId": block.tool_use_id, "name": block.name, "input": block.input}}
    return {"toolResult": _tool_result(block)}


def converse_message(message: Message) -> dict[str, Any]:
    """A message as Converse sends it; empty text blocks are left out (Converse refuses blank text)."""
    blocks = [content_block(b) for b in message.content if not (isinstance(b, TextBlock) and not b.text)]
    return {"role": message.role, "content": blocks}


def _reply_block(raw: Mapping[str, Any]) -> ContentBlock | None:
    if "text" in raw:
        return TextBlock(str(raw["text"]))
    if "toolUse" in raw:
        use = raw["toolUse"]
        arguments = use.get("input")
        if isinstance(arguments, dict):
            return ToolUse(tool_use_id=str(use["toolUseId"]), name=str(use["name"]), input=arguments)
        return ToolUse(
            tool_use_id=str(use["toolUseId"]),
            name=str(use["name"]),
            input={},
            input_error=f"the input of tool {use.get('name')!r} must be a JSON object, not {arguments!r}",
        )
    return None  # reasoning, citations, images: nothing the loop acts on


def parse_response(response: Mapping[str, Any]) -> ModelReply:
    """Our :class:`ModelReply` from a Converse response. Raises :class:`UpstreamFailed` for a response without an
    output message."""
    try:
        raw_blocks = response["output"]["message"]["content"]
    except (KeyError, TypeError) as error:
        raise UpstreamFailed(f"Bedrock Converse answered without an output message: missing {error}") from error
    blocks = tuple(b for b in (_reply_block(raw) for raw in raw_blocks) if b is not None)
    raw_stop = str(response.get("stopReason", ""))
    usage = response.get("usage") or {}
    metrics = response.get("metrics") or {}
    return ModelReply(
        message=Message(role="assistant", content=blocks),
        stop_reason=STOP_REASONS.get(raw_stop, StopReason.OTHER),
        usage=TokenUsage(
            input_tokens=int(usage.get("inputTokens", 0)), output_tokens=int(usage.get("outputTokens", 0))
        ),
        latency_ms=float(metrics.get("latencyMs", 0)),
        raw_stop_reason=raw_stop,
    )


class BedrockConverseLLM:
    """:class:`service.ports.llm.LLM` over Bedrock Converse. Thread-safe (boto3 clients are).

    ``backoff.attempts`` is the number of tries in all (one plus the retries).
    """

    def __init__(self, client: ConverseRuntime, *, model: str, backoff: Backoff | None = None) -> None:
        if not model:
            raise ConfigurationError("the bedrock LLM provider needs a model id", hint="set TICKETSMITH_LLM__MODEL")
        self._client = client
        self._model = model
        self._backoff = backoff or Backoff(attempts=4)

    @property
    def model_id(self) -> str:
        return self._model

    @property
    def hosted(self) -> bool:
        return True

    def request(
        self,
        *,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        max_tokens: int = 2048,
        temperature: float = 0.0,
    ) -> dict[str, Any]:
        """The ``converse`` keyword arguments for this conversation."""
        request: dict[str, Any] = {
            "modelId": self._model,
            "messages": [converse_message(m) for m in messages],
            "inferenceConfig": {"maxTokens": max_tokens, "temperature": temperature},
        }
        if system:
            request["system"] = [{"text": system}]
        if tools:
            request["toolConfig"] = tool_config(tools)
        return request

    def converse(
        self,
        *,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        max_tokens: int = 2048,
        temperature: float = 0.0,
    ) -> ModelReply:
        request = self.request(
            system=system, messages=messages, tools=tools, max_tokens=max_tokens, temperature=temperature
        )
        return parse_response(self._call(request))

    def _call(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        attempts = self._backoff.attempts
        for attempt in range(1, attempts + 1):
            try:
                return self._client.converse(**request)
            except ClientError as error:
                code = str(error.response.get("Error", {}).get("Code", ""))
                message = str(error.response.get("Error", {}).get("Message", "")) or str(error)
                if code in CONFIGURATION_HINTS:
                    raise ConfigurationError(
                        f"Bedrock Converse refused model {self._model}: {code}: {message}",
                        hint=CONFIGURATION_HINTS[code],
                        details={"model": self._model, "code": code},
                    ) from error
                if code not in RETRYABLE_CODES or attempt == attempts:
                    raise self._failed(code, message, attempt) from error
                log.warning("bedrock converse retry model=%s code=%s attempt=%d", self._model, code, attempt)
            except NoCredentialsError as error:
                raise ConfigurationError(
                    "no AWS credentials for Bedrock", hint="configure AWS credentials (profile, environment or role)"
                ) from error
            except ParamValidationError as error:
                raise ConfigurationError(
                    f"botocore refused the Converse request for {self._model}: {error}",
                    hint="upgrade boto3 if the request uses a newer Converse field",
                ) from error
            except EndpointConnectionError as error:
                if attempt == attempts:
                    raise self._failed("Unreachable", str(error), attempt) from error
                log.warning("bedrock converse retry model=%s error=unreachable attempt=%d", self._model, attempt)
            except BotoCoreError as error:
                # Read timeouts land here: a reply that took the whole timeout is not worth waiting for again.
                raise self._failed(type(error).__name__, str(error), attempt) from error
            self._backoff.wait(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _failed(self, code: str, message: str, attempts: int) -> UpstreamFailed:
        hint = "retry later; if it persists check the Bedrock service health and quotas"
        if attempts > 1:
            hint = f"{hint} (gave up after {attempts} attempts)"
        return UpstreamFailed(
            f"Bedrock Converse with {self._model} failed: {code or 'error'}: {message}",
            hint=hint,
            details={"model": self._model, "code": code, "attempts": attempts},
        )
