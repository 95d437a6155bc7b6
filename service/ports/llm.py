"""Port: a chat model with tool use (Bedrock Converse, an OpenAI-compatible endpoint, or a scripted fake)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from service.domain.llm import Message, ModelReply, ToolSpec


class LLM(Protocol):
    """One model behind one provider. Calls are blocking; callers run them in a worker thread.

    Raises :class:`service.errors.UpstreamFailed` when the provider fails after the adapter's own retries
    (throttling is retried with back-off inside the adapter), :class:`service.errors.ConfigurationError` for
    credentials or a model id the provider rejects.
    """

    @property
    def model_id(self) -> str:
        """The model's id as the provider names it; recorded in traces."""
        ...

    @property
    def hosted(self) -> bool:
        """True when prompts leave this machine (every prompt then passes the redaction gate)."""
        ...

    def converse(
        self,
        *,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        max_tokens: int = 2048,
        temperature: float = 0.0,
    ) -> ModelReply:
        """Send the conversation and return the model's next message."""
        ...
