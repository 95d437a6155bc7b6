"""A chat model behind any OpenAI-compatible ``POST {base_url}/chat/completions`` endpoint (OpenAI, vLLM, Ollama,
llama.cpp server, LiteLLM), with tool use.

Request (OpenAI API reference, "Create chat completion"): ``{"model", "messages", "max_tokens", "temperature",
"tools"?}``; tools are ``{"type": "function", "function": {name, description, parameters}}``; the system prompt is
the first message (``role: system``); an assistant turn that called tools carries ``tool_calls[{id, type:
function, function{name, arguments}}]`` with the arguments as a JSON string, and each result is a ``role: tool``
message with its ``tool_call_id``. Response: ``choices[0].message{content, tool_calls}``, ``finish_reason``
(stop, tool_calls, length, content_filter), ``usage{prompt_tokens, completion_tokens}``.

Errors::

    429, 408, 409, 5xx, dropped connections     retried with jittered back-off (Retry-After honoured), then
                                                UpstreamFailed
    401, 403, 404                               ConfigurationError with a hint (key, model or base URL)
    other statuses, unreadable answers, read timeouts   UpstreamFailed

A tool call whose ``arguments`` are not a JSON object is not an error here: it comes back as a ToolUse with
``input_error`` set, so the loop can tell the model and let it try again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from service.adapters.embeddings.openai_compat import retry_after_seconds
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

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
CONFIGURATION_HINTS = {
    401: "check TICKETSMITH_LLM__API_KEY",
    403: "the API key may not use this model",
    404: "check TICKETSMITH_LLM__BASE_URL (it should end in /v1) and TICKETSMITH_LLM__MODEL",
}
FINISH_REASONS = {
    "stop": StopReason.END_TURN,
    "tool_calls": StopReason.TOOL_USE,
    "function_call": StopReason.TOOL_USE,
    "length": StopReason.MAX_TOKENS,
    "content_filter": StopReason.FILTERED,
}


def function_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """``tools`` in the chat-completions shape (checked against the tool-name rule)."""
    check_tools(tools)
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.input_schema}}
        for t in tools
    ]


def chat_messages(system: str, messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation as chat-completions messages: tool results become ``tool`` messages (before any text of
    the same turn), tool uses become the assistant's ``tool_calls``."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        if message.role == "assistant":
            entry: dict[str, Any] = {"role": "assistant", "content": message.text or None}
            if message.tool_uses:
                entry["tool_calls"] = [
                    {
                        "id": use.tool_use_id,
                        "type": "function",
                        "function": {"name": use.name, "arguments": json.dumps(use.input)},
                    }
                    for use in message.tool_uses
                ]
            out.append(entry)
            continue
        for block in message.content:
            if isinstance(block, ToolResult):
                content = block.content
                if block.is_error and "error" not in content:
                    content = {"error": content}
                out.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": json.dumps(content)})
        if message.text:
            out.append({"role": "user", "content": message.text})
    return out


def _tool_use(index: int, call: Mapping[str, Any]) -> ToolUse:
    function = call.get("function") or {}
    name = str(function.get("name", ""))
    call_id = str(call.get("id") or f"call_{index}")
    arguments = function.get("arguments")
    if isinstance(arguments, dict):  # a few servers send an object instead of its JSON text
        return ToolUse(tool_use_id=call_id, name=name, input=arguments)
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) and arguments.strip() else {}
    except ValueError as error:
        return ToolUse(
            tool_use_id=call_id,
            name=name,
            input={},
            input_error=f"the arguments of tool {name!r} are not valid JSON ({error}); send them as one JSON object",
        )
    if not isinstance(parsed, dict):
        return ToolUse(
            tool_use_id=call_id,
            name=name,
            input={},
            input_error=f"the arguments of tool {name!r} must be a JSON object, not {type(parsed).__name__}",
        )
    return ToolUse(tool_use_id=call_id, name=name, input=parsed)


def parse_completion(body: Any, *, latency_ms: float) -> ModelReply:
    """Our :class:`ModelReply` from a chat-completions answer. Raises :class:`UpstreamFailed` for an answer without
    a first choice."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError) as error:
        raise UpstreamFailed(
            f"the chat endpoint answered without choices[0].message ({type(error).__name__}: {error})",
            hint="the endpoint must follow the OpenAI /v1/chat/completions response format",
        ) from error
    blocks: list[ContentBlock] = []
    if isinstance(message.get("content"), str) and message["content"]:
        blocks.append(TextBlock(message["content"]))
    calls = message.get("tool_calls") or []
    blocks.extend(_tool_use(i, call) for i, call in enumerate(calls) if isinstance(call, Mapping))
    raw_stop = str(choice.get("finish_reason") or "")
    stop = FINISH_REASONS.get(raw_stop, StopReason.OTHER)
    if calls and stop is StopReason.END_TURN:  # Ollama and others say "stop" after calling tools
        stop = StopReason.TOOL_USE
    usage = body.get("usage") or {}
    return ModelReply(
        message=Message(role="assistant", content=tuple(blocks)),
        stop_reason=stop,
        usage=TokenUsage(
            input_tokens=int(usage.get("prompt_tokens") or 0), output_tokens=int(usage.get("completion_tokens") or 0)
        ),
        latency_ms=latency_ms,
        raw_stop_reason=raw_stop,
        metadata={"served_model": body.get("model")} if body.get("model") else {},
    )


class OpenAICompatibleLLM:
    """:class:`service.ports.llm.LLM` over an OpenAI-compatible chat-completions endpoint; thread-safe.

    ``base_url`` is the API root (``https://api.openai.com/v1``, ``http://127.0.0.1:11434/v1``). ``hosted`` says
    whether prompts leave this machine; by default it is False only for a loopback base URL. ``http_client`` may be
    injected (its base URL and headers are left alone; we send absolute URLs).
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: SecretStr | None = None,
        timeout_seconds: float = 120.0,
        hosted: bool | None = None,
        http_client: httpx.Client | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if not base_url:
            raise ConfigurationError(
                "the openai LLM provider needs a base URL",
                hint="set TICKETSMITH_LLM__BASE_URL, e.g. http://localhost:11434/v1",
            )
        if not model:
            raise ConfigurationError("the openai LLM provider needs a model name", hint="set TICKETSMITH_LLM__MODEL")
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key.get_secret_value()}"} if api_key else {}
        self._hosted = hosted if hosted is not None else not _is_loopback(base_url)
        self._client = http_client or httpx.Client(timeout=timeout_seconds)
        self._owns_client = http_client is None
        self._backoff = backoff or Backoff(attempts=4)

    @property
    def model_id(self) -> str:
        return self._model

    @property
    def hosted(self) -> bool:
        return self._hosted

    def close(self) -> None:
        """Close the HTTP client if this adapter made it."""
        if self._owns_client:
            self._client.close()

    def request(
        self,
        *,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        max_tokens: int = 2048,
        temperature: float = 0.0,
    ) -> dict[str, Any]:
        """The JSON body sent for this conversation."""
        body: dict[str, Any] = {
            "model": self._model,
            "messages": chat_messages(system, messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if tools:
            body["tools"] = function_tools(tools)
        return body

    def converse(
        self,
        *,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        max_tokens: int = 2048,
        temperature: float = 0.0,
    ) -> ModelReply:
        body = self.request(
            system=system, messages=messages, tools=tools, max_tokens=max_tokens, temperature=temperature
        )
        began = time.perf_counter()
        response = self._post(body)
        latency_ms = (time.perf_counter() - began) * 1000
        try:
            decoded = response.json()
        except ValueError as error:
            raise UpstreamFailed(f"the chat endpoint {self._url} answered with a body that is not JSON") from error
        return parse_completion(decoded, latency_ms=latency_ms)

    def _post(self, body: Mapping[str, Any]) -> httpx.Response:
        attempts = self._backoff.attempts
        for attempt in range(1, attempts + 1):
            try:
                response = self._client.post(self._url, json=body, headers=self._headers)
            except httpx.ReadTimeout as error:
                # A reply that took the whole timeout is not worth waiting for again.
                raise UpstreamFailed(
                    f"the chat endpoint {self._url} did not answer in time",
                    hint="raise TICKETSMITH_LLM__TIMEOUT_SECONDS or use a faster model",
                ) from error
            except httpx.TransportError as error:
                if attempt == attempts:
                    raise UpstreamFailed(
                        f"the chat endpoint {self._url} is unreachable after {attempt} attempts: {error}",
                        hint="check TICKETSMITH_LLM__BASE_URL and that the server is up",
                    ) from error
                log.warning("chat retry url=%s error=%s attempt=%d", self._url, type(error).__name__, attempt)
                self._backoff.wait(attempt)
                continue
            status = response.status_code
            if status == 200:
                return response
            if status in CONFIGURATION_HINTS:
                raise ConfigurationError(
                    f"the chat endpoint {self._url} refused model {self._model}: {status} {response.text[:300]}",
                    hint=CONFIGURATION_HINTS[status],
                    details={"status": status},
                )
            if status not in RETRYABLE_STATUS or attempt == attempts:
                raise UpstreamFailed(
                    f"the chat endpoint {self._url} answered {status}: {response.text[:300]}",
                    hint="retry later; if it persists check the model server"
                    + (f" (gave up after {attempt} attempts)" if attempt > 1 else ""),
                    details={"status": status, "attempts": attempt},
                )
            log.warning("chat retry url=%s status=%d attempt=%d", self._url, status, attempt)
            self._backoff.wait(attempt, retry_after_seconds(response.headers))
        raise AssertionError("unreachable")  # pragma: no cover


def _is_loopback(base_url: str) -> bool:
    host = httpx.URL(base_url).host
    return host in ("localhost", "::1") or host.startswith("127.")
