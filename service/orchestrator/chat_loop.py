"""The chat turn's tool-use loop, which can pause for a person's confirmation and resume later, elsewhere.

Like :func:`service.orchestrator.agent_loop.run_agent` (MODEL and TOOL spans, guardrail checks, a budget), but
the loop's whole state is plain JSON (:class:`LoopState`), so a turn that asks for a write stops, is saved in a
``PAUSED`` run, and is continued by whichever process receives the confirmation. Text the model writes is
handed to ``emit`` as it arrives, in small pieces, for streaming.

A tool whose action the policy allows only after a confirmation is never run before it: the loop returns
``paused`` with that tool use. Resumed with ``approved`` set to its id, the tool runs; resumed ``refused``,
the model is told the person refused (the tool does not run) and may answer once more, without tools.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from service.domain.llm import Message, StopReason, TextBlock, ToolResult, ToolSpec, ToolUse
from service.errors import TicketsmithError
from service.guardrails.policy import Decision
from service.guardrails.untrusted import as_data
from service.orchestrator.budget import BudgetMeter
from service.ports.llm import LLM
from service.traces.recorder import TraceRecorder

Emit = Callable[[str, dict[str, Any]], None]
"""``emit(event, data)``: ``delta`` ``{"text"}``, ``citation`` (a code location), ``confirmation`` (see
:func:`confirmation_event`), ``tool`` ``{"action", "status"}``."""

DELTA_CHARS = 24  # a streamed piece ends at the first space after this many characters
SPAN_TEXT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class ChatTool:
    """A tool the chat model may call: ``action`` is its policy name (``jira.createIssue``); ``run`` takes the
    model's input and returns the action's JSON answer (blocking), raising :class:`TicketsmithError`."""

    spec: ToolSpec
    action: str
    run: Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class LoopState:
    """A turn in progress: the conversation so far, the tool uses of the model's last message still to run and
    the results of those already run, the model calls made, the answer's text and citations so far."""

    messages: list[Message]
    pending: list[ToolUse] = field(default_factory=list)
    results: list[ToolResult] = field(default_factory=list)
    turns: int = 0
    text: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "messages": [message_json(m) for m in self.messages],
            "pending": [_block_json(u) for u in self.pending],
            "results": [_block_json(r) for r in self.results],
            "turns": self.turns,
            "text": self.text,
            "citations": self.citations,
        }

    @classmethod
    def of_json(cls, raw: Mapping[str, Any]) -> LoopState:
        return cls(
            messages=[message_of(m) for m in raw.get("messages", [])],
            pending=[u for u in map(_block_of, raw.get("pending", [])) if isinstance(u, ToolUse)],
            results=[r for r in map(_block_of, raw.get("results", [])) if isinstance(r, ToolResult)],
            turns=int(raw.get("turns", 0)),
            text=str(raw.get("text", "")),
            citations=[dict(c) for c in raw.get("citations", [])],
        )


@dataclass(frozen=True, slots=True)
class LoopEnd:
    """How the loop stopped: ``stop`` is ``end_turn``, ``paused`` (``waiting`` is the tool use, ``action`` its
    policy name, ``reason`` the policy's), ``max_turns``, ``refused`` or ``model_stopped:<reason>``."""

    stop: str
    waiting: ToolUse | None = None
    action: str = ""
    reason: str = ""


def run_loop(
    llm: LLM,
    state: LoopState,
    *,
    system: str,
    tools: Mapping[str, ChatTool],
    decide: Callable[[str], Decision],
    recorder: TraceRecorder,
    meter: BudgetMeter,
    emit: Emit,
    prompt: tuple[str, str],
    max_turns: int = 8,
    approved: str | None = None,
    refused: str | None = None,
    max_tokens: int = 2048,
    temperature: float = 0.0,
) -> LoopEnd:
    """Continue ``state`` (changed in place) until the model ends its turn, a tool needs a confirmation, or a
    limit is reached. ``approved`` / ``refused`` name the tool use a person decided on. Raises
    :class:`service.orchestrator.budget.BudgetSpent` when the budget is spent and what the model raises."""
    specs = [tool.spec for tool in tools.values()]
    while True:
        if state.pending:
            use = state.pending[0]
            if refused is not None:
                state.results.append(_refused(use, refused))
            else:
                tool = tools.get(use.name)
                result = _check(use, tool, decide, recorder)
                if result is None and tool is not None:
                    decision = decide(tool.action)
                    if decision.needs_confirmation and use.tool_use_id != approved:
                        recorder.guardrail(decision="confirm", action=tool.action, reason=decision.reason)
                        return LoopEnd("paused", waiting=use, action=tool.action, reason=decision.reason)
                    result = _run(use, tool, state, recorder, emit)
                    meter.charge(steps=1)
                state.results.append(result if result is not None else _error(use, "not run"))
            state.pending.pop(0)
            if not state.pending:
                state.messages.append(Message(role="user", content=tuple(state.results)))
                state.results = []
            continue
        if state.turns >= max_turns:
            return LoopEnd("max_turns")
        meter.ensure()
        message, stop = _call_model(llm, state, system, specs, recorder, meter, prompt, max_tokens, temperature)
        said = message.text
        if said and state.text:
            said = "\n\n" + said  # each model call's text is a paragraph of the answer
        for piece in pieces(said):
            emit("delta", {"text": piece})
        state.text += said
        if stop is StopReason.TOOL_USE and message.tool_uses:
            if refused is not None:
                # One answer after the refusal, no more actions: the person said no.
                state.messages.pop()
                return LoopEnd("refused")
            state.pending = list(message.tool_uses)
            continue
        if refused is not None:
            return LoopEnd("refused")
        return LoopEnd("end_turn" if stop is StopReason.END_TURN else f"model_stopped:{stop.value}")


def pieces(text: str) -> Iterator[str]:
    """``text`` in pieces of about :data:`DELTA_CHARS` characters, each ending after a space (joined: ``text``)."""
    start = 0
    while start < len(text):
        cut = text.find(" ", start + DELTA_CHARS)
        end = len(text) if cut < 0 else cut + 1
        yield text[start:end]
        start = end


def confirmation_event(run_id: str, action: str, tool_input: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """The ``confirmation`` event's data, which is also the answer's ``confirmation`` field."""
    return {"runId": run_id, "action": action, "input": dict(tool_input), "reason": reason}


def _check(
    use: ToolUse, tool: ChatTool | None, decide: Callable[[str], Decision], recorder: TraceRecorder
) -> ToolResult | None:
    """The error result of a tool use that cannot run (unknown tool, bad input, refused by policy), or None."""
    if tool is None:
        recorder.failure(error=f"the model asked for an unknown tool {use.name!r}", where=f"tool {use.name}")
        return _error(use, f"there is no tool named {use.name!r}; use one of the tools you were given")
    if use.input_error is not None:
        recorder.failure(error=use.input_error, where=tool.action)
        return _error(use, use.input_error)
    decision = decide(tool.action)
    if not decision.allowed:
        recorder.guardrail(decision="deny", action=tool.action, reason=decision.reason)
        return _error(use, f"{tool.action} is not allowed here ({decision.reason}); do not call it again")
    return None


def _run(use: ToolUse, tool: ChatTool, state: LoopState, recorder: TraceRecorder, emit: Emit) -> ToolResult:
    with recorder.tool(tool.action, use.input) as call:
        try:
            observation = tool.run(dict(use.input))
        except TicketsmithError as error:
            message = f"{error.message} ({error.hint})" if error.hint else error.message
            call.status, call.observation = "error", {"error": message}
            emit("tool", {"action": tool.action, "status": "error"})
            return _error(use, message)
        call.observation = observation
    emit("tool", {"action": tool.action, "status": "ok"})
    for citation in citations_of(observation):
        if citation not in state.citations:
            state.citations.append(citation)
            emit("citation", citation)
    # What an action returns holds code and Jira text: the model reads it as data, never as instructions.
    data = as_data(f"result of {tool.action}", json.dumps(observation, default=str))
    return ToolResult(tool_use_id=use.tool_use_id, content={"result": data})


def citations_of(observation: Any) -> list[dict[str, Any]]:
    """The code locations in an action's answer: every object with ``path``, ``startLine`` and ``endLine``
    (``commit`` from itself or the answer's top level)."""
    commit = observation.get("commit") if isinstance(observation, dict) else None
    found: list[dict[str, Any]] = []
    stack = [observation]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(reversed(value))
        elif isinstance(value, dict):
            if isinstance(value.get("path"), str) and "startLine" in value and "endLine" in value:
                found.append(
                    {
                        "path": value["path"],
                        "start_line": value["startLine"],
                        "end_line": value["endLine"],
                        "symbol": value.get("symbol") or "",
                        "commit": value.get("commit") or commit,
                    }
                )
            else:
                stack.extend(reversed(list(value.values())))
    return found


def _call_model(
    llm: LLM,
    state: LoopState,
    system: str,
    specs: list[ToolSpec],
    recorder: TraceRecorder,
    meter: BudgetMeter,
    prompt: tuple[str, str],
    max_tokens: int,
    temperature: float,
) -> tuple[Message, StopReason]:
    started, began = datetime.now(UTC), time.perf_counter()
    reply = llm.converse(
        system=system, messages=state.messages, tools=specs, max_tokens=max_tokens, temperature=temperature
    )
    usage = reply.usage
    stop = reply.raw_stop_reason if reply.stop_reason is StopReason.OTHER and reply.raw_stop_reason else None
    recorder.model(
        model_id=llm.model_id,
        prompt=prompt[0],
        prompt_version=prompt[1],
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        stop_reason=stop or reply.stop_reason.value,
        duration_ms=(time.perf_counter() - began) * 1000,
        input_text=_clip(json.dumps(message_json(state.messages[-1]), default=str)),
        output_text=_clip(json.dumps(message_json(reply.message), default=str)),
        started_at=started,
    )
    meter.charge(steps=1, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    state.turns += 1
    state.messages.append(reply.message)
    return reply.message, reply.stop_reason


def _refused(use: ToolUse, by: str) -> ToolResult:
    return _error(use, f"{by} refused this action: it was not run. Do not try it again; say so in your answer.")


def _error(use: ToolUse, message: str) -> ToolResult:
    return ToolResult(tool_use_id=use.tool_use_id, content={"error": message}, is_error=True)


def _clip(text: str) -> str:
    return text if len(text) <= SPAN_TEXT_CHARS else text[:SPAN_TEXT_CHARS] + "..."


def message_json(message: Message) -> dict[str, Any]:
    """``message`` as JSON (for a run's checkpoint)."""
    return {"role": message.role, "content": [_block_json(block) for block in message.content]}


def message_of(raw: Mapping[str, Any]) -> Message:
    """The message :func:`message_json` wrote."""
    role: Literal["user", "assistant"] = "assistant" if raw.get("role") == "assistant" else "user"
    return Message(role=role, content=tuple(_block_of(block) for block in raw.get("content", [])))


def _block_json(block: TextBlock | ToolUse | ToolResult) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"text": block.text}
    if isinstance(block, ToolUse):
        return {"tool_use": {"id": block.tool_use_id, "name": block.name, "input": block.input}}
    return {"tool_result": {"id": block.tool_use_id, "content": block.content, "is_error": block.is_error}}


def _block_of(raw: Mapping[str, Any]) -> TextBlock | ToolUse | ToolResult:
    if "tool_use" in raw:
        use = raw["tool_use"]
        return ToolUse(tool_use_id=str(use["id"]), name=str(use["name"]), input=dict(use["input"]))
    if "tool_result" in raw:
        result = raw["tool_result"]
        return ToolResult(
            tool_use_id=str(result["id"]), content=dict(result["content"]), is_error=bool(result["is_error"])
        )
    return TextBlock(str(raw.get("text", "")))
