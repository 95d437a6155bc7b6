"""The conversation with a language model, independent of any provider's wire format."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call. ``name`` matches ``[a-zA-Z0-9_-]{1,64}`` (Bedrock Converse's rule);
    ``input_schema`` is a JSON Schema object for the tool's input."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TextBlock:
    text: str


@dataclass(frozen=True, slots=True)
class ToolUse:
    """The model asks for ``name`` to be run with ``input``; ``tool_use_id`` pairs it with its result.

    ``input_error`` is set (and ``input`` empty) when the provider's arguments could not be read, e.g. a
    malformed JSON string: the tool is then not run and the error goes back to the model as its result.
    """

    tool_use_id: str
    name: str
    input: dict[str, Any]
    input_error: str | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool returned (``content`` as JSON), or its error (``is_error``) for the model to read."""

    tool_use_id: str
    content: dict[str, Any]
    is_error: bool = False


ContentBlock = TextBlock | ToolUse | ToolResult


@dataclass(frozen=True, slots=True)
class Message:
    role: Literal["user", "assistant"]
    content: tuple[ContentBlock, ...]

    @property
    def text(self) -> str:
        """The text blocks joined, without tool blocks."""
        return "".join(block.text for block in self.content if isinstance(block, TextBlock))

    @property
    def tool_uses(self) -> tuple[ToolUse, ...]:
        return tuple(block for block in self.content if isinstance(block, ToolUse))


class StopReason(StrEnum):
    """Why the model stopped: the provider's reason mapped onto these (the raw one is kept in the reply)."""

    END_TURN = "end_turn"
    TOOL_USE = "tool_use"
    MAX_TOKENS = "max_tokens"
    STOP_SEQUENCE = "stop_sequence"
    FILTERED = "filtered"  # a guardrail or content filter intervened
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ModelReply:
    """One model call's answer: the assistant message, why it stopped, tokens and time."""

    message: Message
    stop_reason: StopReason
    usage: TokenUsage
    latency_ms: float
    raw_stop_reason: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
