"""The tool-use loop: ask the model, run the tools it asks for, send back their results, until it is done.

Every model call is a MODEL span and a step; every tool call is a guardrail check, a TOOL span and a step. The
loop ends on the model's ``end_turn``, on any other stop of the model, after ``max_turns`` model calls, or when
the budget is spent -- always with an :class:`AgentOutcome`, never with :class:`BudgetSpent`. What a tool raises
goes back to the model as an error result and the loop goes on; what the model raises (``UpstreamFailed``,
``ConfigurationError``) propagates to the caller, which records the failure in its step.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from service.domain.llm import (
    Message,
    ModelReply,
    StopReason,
    TextBlock,
    TokenUsage,
    ToolResult,
    ToolSpec,
    ToolUse,
)
from service.errors import ConfigurationError, TicketsmithError
from service.orchestrator.budget import BudgetMeter, BudgetSpent
from service.ports.llm import LLM
from service.traces.recorder import TraceRecorder

log = logging.getLogger(__name__)

# How much of a model call's input and output the MODEL span keeps (the whole conversation is not a trace).
SPAN_TEXT_CHARS = 2000

Allow = Callable[[str], tuple[bool, str]]


def allow_all(action: str) -> tuple[bool, str]:
    """The guard that allows everything (for callers whose trigger policy was checked already)."""
    return True, "no policy"


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool the model may call: its spec (what the model sees) and the function that runs it.

    ``run`` takes the model's input object and returns a JSON object; what it raises goes back to the model as
    an error. ``action`` names it in traces and policies (``codebase.searchCode``); empty means the spec's name.
    """

    spec: ToolSpec
    run: Callable[[dict[str, Any]], dict[str, Any]]
    action: str = ""

    @property
    def action_name(self) -> str:
        return self.action or self.spec.name


@dataclass(frozen=True, slots=True)
class AgentOutcome:
    """How the loop ended.

    ``stop`` is ``end_turn`` (the model finished), ``budget:<limit>`` (steps, tokens, seconds or tickets spent),
    ``max_turns`` (the model still wanted tools after the last allowed call) or ``model_stopped:<reason>`` (e.g.
    ``max_tokens``, ``filtered``, or the provider's own reason). ``final_text`` is the text of the model's last
    message (empty when it ended on tool calls); ``messages`` the whole conversation, the user's text first.
    """

    final_text: str
    stop: str
    tool_calls: int
    turns: int
    usage: TokenUsage
    messages: tuple[Message, ...] = field(default=())

    @property
    def finished(self) -> bool:
        return self.stop == "end_turn"


@dataclass
class _Progress:
    messages: list[Message]
    turns: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    final_text: str = ""

    def outcome(self, stop: str) -> AgentOutcome:
        return AgentOutcome(
            final_text=self.final_text,
            stop=stop,
            tool_calls=self.tool_calls,
            turns=self.turns,
            usage=TokenUsage(input_tokens=self.input_tokens, output_tokens=self.output_tokens),
            messages=tuple(self.messages),
        )


def run_agent(
    llm: LLM,
    *,
    system: str,
    user_text: str,
    tools: Mapping[str, Tool],
    recorder: TraceRecorder,
    meter: BudgetMeter,
    prompt_name: str,
    prompt_version: str,
    max_turns: int = 8,
    allow: Allow = allow_all,
    max_tokens: int = 2048,
    temperature: float = 0.0,
) -> AgentOutcome:
    """Run the conversation that starts with ``user_text`` under ``system`` until it ends (see the module).

    ``tools`` maps each tool's name (its spec's name) to it; ``allow(action)`` says whether a tool may run and
    why not (a denied tool is never run: the model is told, and a GUARDRAIL span records it). Raises
    :class:`ConfigurationError` when a key of ``tools`` is not its spec's name or ``max_turns`` is below 1.
    """
    for name, tool in tools.items():
        if tool.spec.name != name:
            raise ConfigurationError(
                f"tool registered as {name!r} is named {tool.spec.name!r}", hint="key tools by their spec's name"
            )
    if max_turns < 1:
        raise ConfigurationError(f"max_turns must be at least 1, not {max_turns}")
    specs = [tool.spec for tool in tools.values()]
    progress = _Progress(messages=[Message(role="user", content=(TextBlock(user_text),))])
    try:
        while True:
            meter.ensure()
            reply = _call_model(
                llm,
                progress,
                recorder=recorder,
                meter=meter,
                system=system,
                specs=specs,
                prompt=(prompt_name, prompt_version),
                max_tokens=max_tokens,
                temperature=temperature,
            )
            uses = reply.message.tool_uses
            if reply.stop_reason is StopReason.TOOL_USE and uses:
                if progress.turns >= max_turns:
                    return progress.outcome("max_turns")
                _run_tools(uses, tools, progress, recorder=recorder, meter=meter, allow=allow)
            elif reply.stop_reason is StopReason.END_TURN:
                return progress.outcome("end_turn")
            else:
                return progress.outcome(f"model_stopped:{_reason(reply)}")
    except BudgetSpent as spent:
        log.info("agent loop stopped run=%s limit=%s turns=%d", recorder.run_id, spent.limit, progress.turns)
        return progress.outcome(f"budget:{spent.limit}")


def _call_model(
    llm: LLM,
    progress: _Progress,
    *,
    recorder: TraceRecorder,
    meter: BudgetMeter,
    system: str,
    specs: list[ToolSpec],
    prompt: tuple[str, str],
    max_tokens: int,
    temperature: float,
) -> ModelReply:
    started, began = datetime.now(UTC), time.perf_counter()
    reply = llm.converse(
        system=system, messages=progress.messages, tools=specs, max_tokens=max_tokens, temperature=temperature
    )
    duration_ms = (time.perf_counter() - began) * 1000
    usage = reply.usage
    recorder.model(
        model_id=llm.model_id,
        prompt=prompt[0],
        prompt_version=prompt[1],
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        stop_reason=_reason(reply),
        duration_ms=duration_ms,
        input_text=_render(progress.messages[-1]),
        output_text=_render(reply.message),
        started_at=started,
    )
    meter.charge(steps=1, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    progress.turns += 1
    progress.input_tokens += usage.input_tokens
    progress.output_tokens += usage.output_tokens
    progress.messages.append(reply.message)
    progress.final_text = reply.message.text
    return reply


def _run_tools(
    uses: tuple[ToolUse, ...],
    tools: Mapping[str, Tool],
    progress: _Progress,
    *,
    recorder: TraceRecorder,
    meter: BudgetMeter,
    allow: Allow,
) -> None:
    results: list[ToolResult] = []
    try:
        for use in uses:
            meter.ensure()
            results.append(_run_tool(use, tools.get(use.name), recorder=recorder, allow=allow))
            meter.charge(steps=1)
            progress.tool_calls += 1
    finally:
        # Even when the budget ends the batch, the conversation keeps the results the model would have read.
        if results:
            progress.messages.append(Message(role="user", content=tuple(results)))


def _run_tool(use: ToolUse, tool: Tool | None, *, recorder: TraceRecorder, allow: Allow) -> ToolResult:
    if tool is None:
        recorder.failure(error=f"the model asked for an unknown tool {use.name!r}", where=f"tool {use.name}")
        return _error(use, f"there is no tool named {use.name!r}; use one of the tools you were given")
    action = tool.action_name
    if use.input_error is not None:
        recorder.failure(error=use.input_error, where=action)
        return _error(use, use.input_error)
    allowed, reason = allow(action)
    if not allowed:
        recorder.guardrail(decision="deny", action=action, reason=reason)
        return _error(use, f"{action} is not allowed here ({reason}); do not call it again")
    with recorder.tool(action, use.input) as call:
        try:
            observation = tool.run(dict(use.input))
        except BudgetSpent:
            raise
        except TicketsmithError as error:
            message = f"{error.message} ({error.hint})" if error.hint else error.message
            call.status, call.observation = "error", {"error": message}
            return _error(use, message)
        except Exception as error:  # a tool's bug becomes a result the model can read; the run goes on
            log.warning("tool failed action=%s error=%s", action, type(error).__name__)
            message = f"{type(error).__name__}: {error}"
            call.status, call.observation = "error", {"error": message}
            return _error(use, message)
        content = observation if isinstance(observation, dict) else {"result": observation}
        call.observation = content
    return ToolResult(tool_use_id=use.tool_use_id, content=content)


def _error(use: ToolUse, message: str) -> ToolResult:
    return ToolResult(tool_use_id=use.tool_use_id, content={"error": message}, is_error=True)


def _reason(reply: ModelReply) -> str:
    if reply.stop_reason is StopReason.OTHER:
        return reply.raw_stop_reason or StopReason.OTHER.value
    return reply.stop_reason.value


def _render(message: Message) -> str:
    parts: list[str] = []
    for block in message.content:
        if isinstance(block, TextBlock):
            parts.append(block.text)
        elif isinstance(block, ToolUse):
            parts.append(f"[tool_use {block.name} {json.dumps(block.input, default=str)}]")
        else:
            kind = "tool_error" if block.is_error else "tool_result"
            parts.append(f"[{kind} {json.dumps(block.content, default=str)}]")
    text = "\n".join(parts)
    return text if len(text) <= SPAN_TEXT_CHARS else text[:SPAN_TEXT_CHARS] + "..."
