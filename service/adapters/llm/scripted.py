"""A scripted chat model: replays a list of replies and records every request it was sent.

A real implementation of :class:`service.ports.llm.LLM` for tests and demonstrations, not a mock: it checks
tool names like the providers do and fails like them (:class:`UpstreamFailed`) when it has nothing left to say.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from service.adapters.llm.toolnames import check_tools
from service.domain.llm import Message, ModelReply, ToolSpec
from service.errors import UpstreamFailed


@dataclass(frozen=True, slots=True)
class ScriptedRequest:
    """One call the scripted model received, as sent (the messages are a snapshot)."""

    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...]
    max_tokens: int
    temperature: float

    @property
    def last(self) -> Message:
        """The newest message of the conversation (what the model is answering)."""
        return self.messages[-1]


# A reply as is, or a function of the request that returns one (to answer what the conversation says).
ScriptStep = ModelReply | Callable[[ScriptedRequest], ModelReply]


class ScriptedLLM:
    """Answers call ``n`` with the ``n``-th step of ``script``; thread-safe.

    ``requests`` lists what every call was sent, in order. ``hosted`` is what the port reports (True makes the
    redaction gate treat it like a remote model).
    """

    def __init__(self, script: Iterable[ScriptStep], *, model_id: str = "scripted", hosted: bool = False) -> None:
        self._script = list(script)
        self._model_id = model_id
        self._hosted = hosted
        self._lock = threading.Lock()
        self.requests: list[ScriptedRequest] = []

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def hosted(self) -> bool:
        return self._hosted

    @property
    def remaining(self) -> int:
        """Steps of the script not yet played."""
        return len(self._script) - len(self.requests)

    def converse(
        self,
        *,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        max_tokens: int = 2048,
        temperature: float = 0.0,
    ) -> ModelReply:
        check_tools(tools)
        request = ScriptedRequest(
            system=system,
            messages=tuple(messages),
            tools=tuple(tools),
            max_tokens=max_tokens,
            temperature=temperature,
        )
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
        if index >= len(self._script):
            raise UpstreamFailed(
                f"the scripted model has no reply left (call {index + 1}, script of {len(self._script)})",
                hint="add a reply to the script",
            )
        step = self._script[index]
        return step if isinstance(step, ModelReply) else step(request)
