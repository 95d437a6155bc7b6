"""The tool-use loop with the scripted model, and with the recorded Converse exchange through the Bedrock adapter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from service.adapters.embeddings.retry import Backoff
from service.adapters.llm.bedrock_converse import BedrockConverseLLM
from service.adapters.llm.scripted import ScriptedLLM
from service.adapters.storage.memory_runs import InMemoryRunStore
from service.domain.llm import Message, ModelReply, StopReason, TextBlock, TokenUsage, ToolResult, ToolSpec, ToolUse
from service.domain.runs import Budget, Span, SpanKind, Usage
from service.errors import ConfigurationError, NotFound, UpstreamFailed
from service.orchestrator.agent_loop import AgentOutcome, Tool, run_agent
from service.orchestrator.budget import BudgetMeter
from service.traces.recorder import TraceRecorder
from tests.conftest import load_fixture
from tests.llm_fakes import converse_response, text_reply, tool_reply

SEARCH_SPEC = ToolSpec(
    name="codebase_searchCode",
    description="Search the indexed code.",
    input_schema={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)
CLOSE_SPEC = ToolSpec(name="jira_closeIssue", description="Close a ticket.", input_schema={"type": "object"})


class Calls:
    """A tool function that records its inputs and answers from a table (or raises what it is given)."""

    def __init__(self, answer: dict[str, Any] | BaseException | None = None) -> None:
        self.inputs: list[dict[str, Any]] = []
        self.answer = answer

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        self.inputs.append(params)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer if self.answer is not None else {"hits": [{"path": "lexer.py", "line": 3}]}


class Harness:
    def __init__(self, budget: Budget | None = None) -> None:
        self.store = InMemoryRunStore()
        self.recorder = TraceRecorder(self.store, "run1")
        self.meter = BudgetMeter(budget or Budget(), Usage())
        self.search = Calls()
        self.close = Calls({"closed": True})
        self.tools = {
            "codebase_searchCode": Tool(SEARCH_SPEC, self.search, action="codebase.searchCode"),
            "jira_closeIssue": Tool(CLOSE_SPEC, self.close, action="jira.closeIssue"),
        }

    def run(self, llm: Any, **options: Any) -> AgentOutcome:
        arguments: dict[str, Any] = {
            "system": "You inspect code.",
            "user_text": "Where is the token parsed?",
            "tools": self.tools,
            "recorder": self.recorder,
            "meter": self.meter,
            "prompt_name": "inspect",
            "prompt_version": "3",
            "max_turns": 6,
        }
        arguments.update(options)
        return run_agent(llm, **arguments)

    def spans(self, kind: SpanKind | None = None) -> list[Span]:
        return [s for s in self.store.spans("run1") if kind is None or s.kind is kind]


def results_sent(llm: ScriptedLLM, call: int) -> tuple[ToolResult, ...]:
    """The tool results the model was sent in call number ``call`` (from 0)."""
    last = llm.requests[call].last
    assert last.role == "user"
    return tuple(block for block in last.content if isinstance(block, ToolResult))


def test_a_tool_call_then_an_answer() -> None:
    h = Harness()
    llm = ScriptedLLM(
        [
            tool_reply(("codebase_searchCode", {"query": "parse token"}), text="Searching.", input_tokens=100),
            text_reply("It is parsed in lexer.py line 3.", input_tokens=150, output_tokens=12),
        ],
        model_id="scripted-model",
    )
    outcome = h.run(llm)
    assert outcome == AgentOutcome(
        final_text="It is parsed in lexer.py line 3.",
        stop="end_turn",
        tool_calls=1,
        turns=2,
        usage=TokenUsage(input_tokens=250, output_tokens=17),
        messages=outcome.messages,
    )
    assert outcome.finished
    assert h.search.inputs == [{"query": "parse token"}]
    assert results_sent(llm, 1) == (ToolResult("t1", {"hits": [{"path": "lexer.py", "line": 3}]}),)
    assert [r.tools for r in llm.requests] == [(SEARCH_SPEC, CLOSE_SPEC)] * 2
    assert llm.requests[0].system == "You inspect code."
    assert llm.requests[0].messages == (Message(role="user", content=(TextBlock("Where is the token parsed?"),)),)
    assert [m.role for m in outcome.messages] == ["user", "assistant", "user", "assistant"]

    assert [s.kind for s in h.spans()] == [SpanKind.MODEL, SpanKind.TOOL, SpanKind.MODEL]
    first, tool, second = h.spans()
    assert first.attributes | {"input_text": "", "output_text": ""} == {
        "model_id": "scripted-model",
        "prompt": "inspect",
        "prompt_version": "3",
        "input_tokens": 100,
        "output_tokens": 5,
        "stop_reason": "tool_use",
        "input_text": "",
        "output_text": "",
    }
    assert first.attributes["input_text"] == "Where is the token parsed?"
    assert "codebase_searchCode" in first.attributes["output_text"]
    assert second.attributes["stop_reason"] == "end_turn"
    assert "lexer.py" in second.attributes["input_text"]
    assert tool.name == "codebase.searchCode"
    assert tool.status == "ok"
    assert tool.attributes["input"] == {"query": "parse token"}
    assert tool.attributes["observation"] == {"hits": [{"path": "lexer.py", "line": 3}]}
    usage = h.meter.usage
    assert (usage.steps, usage.input_tokens, usage.output_tokens) == (3, 250, 17)


def test_a_tool_that_raises_becomes_an_error_result_and_the_loop_goes_on() -> None:
    h = Harness()
    h.search.answer = RuntimeError("index is locked")
    llm = ScriptedLLM(
        [
            tool_reply(("codebase_searchCode", {"query": "a"})),
            tool_reply(("jira_closeIssue", {"key": "T-1"})),
            text_reply("done"),
        ]
    )
    h.close.answer = NotFound("no ticket T-1", hint="list the tickets first")
    outcome = h.run(llm)
    assert (outcome.stop, outcome.tool_calls, outcome.final_text) == ("end_turn", 2, "done")
    assert results_sent(llm, 1) == (ToolResult("t1", {"error": "RuntimeError: index is locked"}, is_error=True),)
    assert results_sent(llm, 2) == (
        ToolResult("t1", {"error": "no ticket T-1 (list the tickets first)"}, is_error=True),
    )
    tools = h.spans(SpanKind.TOOL)
    assert [(s.name, s.status) for s in tools] == [("codebase.searchCode", "error"), ("jira.closeIssue", "error")]
    assert tools[0].attributes["observation"] == {"error": "RuntimeError: index is locked"}


def test_an_unknown_tool_gets_an_error_result_and_nothing_runs() -> None:
    h = Harness()
    llm = ScriptedLLM([tool_reply(("shell_exec", {"cmd": "rm -rf /"})), text_reply("sorry")])
    outcome = h.run(llm)
    assert outcome.stop == "end_turn"
    (result,) = results_sent(llm, 1)
    assert result.is_error
    assert "no tool named 'shell_exec'" in result.content["error"]
    assert h.spans(SpanKind.TOOL) == []
    (failure,) = h.spans(SpanKind.FAILURE)
    assert "shell_exec" in failure.attributes["error"]


def test_a_denied_tool_is_never_run_and_the_denial_is_traced() -> None:
    h = Harness()
    decisions: list[str] = []

    def allow(action: str) -> tuple[bool, str]:
        decisions.append(action)
        return (action != "jira.closeIssue", "jira.closeIssue is not allowed for trigger jira")

    llm = ScriptedLLM(
        [
            tool_reply(("jira_closeIssue", {"key": "T-1"}), ("codebase_searchCode", {"query": "x"})),
            text_reply("I may not close tickets."),
        ]
    )
    outcome = h.run(llm, allow=allow)
    assert outcome.stop == "end_turn"
    assert outcome.tool_calls == 2
    assert decisions == ["jira.closeIssue", "codebase.searchCode"]
    assert h.close.inputs == []
    assert h.search.inputs == [{"query": "x"}]
    denied, searched = results_sent(llm, 1)
    assert denied.is_error
    assert "not allowed" in denied.content["error"]
    assert not searched.is_error
    (guard,) = h.spans(SpanKind.GUARDRAIL)
    assert guard.attributes == {
        "decision": "deny",
        "action": "jira.closeIssue",
        "reason": "jira.closeIssue is not allowed for trigger jira",
    }
    assert guard.status == "error"
    assert [s.name for s in h.spans(SpanKind.TOOL)] == ["codebase.searchCode"]


def test_unreadable_tool_arguments_go_back_to_the_model_without_running_the_tool() -> None:
    h = Harness()
    bad = ToolUse(tool_use_id="c1", name="codebase_searchCode", input={}, input_error="not valid JSON")
    llm = ScriptedLLM([tool_reply(bad), tool_reply(("codebase_searchCode", {"query": "x"})), text_reply("ok")])
    outcome = h.run(llm)
    assert (outcome.stop, outcome.tool_calls) == ("end_turn", 2)
    assert results_sent(llm, 1) == (ToolResult("c1", {"error": "not valid JSON"}, is_error=True),)
    assert h.search.inputs == [{"query": "x"}]


def test_token_budget_exhaustion_stops_cleanly_with_what_was_done() -> None:
    h = Harness(Budget(max_tokens=40))
    llm = ScriptedLLM([tool_reply(("codebase_searchCode", {"query": str(i)}), input_tokens=15) for i in range(5)])
    outcome = h.run(llm)
    # 20 tokens a call: after two calls (40) nothing more is spent, not even the second call's tool (its result
    # could only be read by a third call).
    assert outcome.stop == "budget:tokens"
    assert (outcome.turns, outcome.tool_calls) == (2, 1)
    assert len(llm.requests) == 2
    assert h.search.inputs == [{"query": "0"}]
    assert h.meter.usage.tokens == 40


def test_step_budget_exhaustion_stops_between_tools() -> None:
    h = Harness(Budget(max_steps=2))
    llm = ScriptedLLM(
        [tool_reply(("codebase_searchCode", {"query": "a"}), ("jira_closeIssue", {"key": "T-1"})), text_reply("x")]
    )
    outcome = h.run(llm)
    assert outcome.stop == "budget:steps"
    assert (outcome.turns, outcome.tool_calls) == (1, 1)
    assert h.close.inputs == []
    assert llm.remaining == 1
    # The conversation keeps the result that was produced before the budget ran out.
    assert outcome.messages[-1] == Message(
        role="user", content=(ToolResult("t1", {"hits": [{"path": "lexer.py", "line": 3}]}),)
    )


def test_a_budget_spent_before_the_loop_makes_no_call() -> None:
    h = Harness(Budget(max_steps=1))
    h.meter.charge(steps=1)
    llm = ScriptedLLM([text_reply("never")])
    outcome = h.run(llm)
    assert (outcome.stop, outcome.turns, outcome.final_text) == ("budget:steps", 0, "")
    assert llm.requests == []


def test_max_turns_ends_a_model_that_keeps_calling_tools() -> None:
    h = Harness()
    llm = ScriptedLLM([tool_reply(("codebase_searchCode", {"query": str(i)})) for i in range(5)])
    outcome = h.run(llm, max_turns=2)
    assert outcome.stop == "max_turns"
    assert (outcome.turns, outcome.tool_calls) == (2, 1)  # the last turn's tools would never be read
    assert h.search.inputs == [{"query": "0"}]


@pytest.mark.parametrize(
    ("stop", "raw", "expected"),
    [
        (StopReason.MAX_TOKENS, "length", "model_stopped:max_tokens"),
        (StopReason.FILTERED, "guardrail_intervened", "model_stopped:filtered"),
        (StopReason.OTHER, "malformed_tool_use", "model_stopped:malformed_tool_use"),
    ],
)
def test_other_stops_of_the_model_end_the_loop(stop: StopReason, raw: str, expected: str) -> None:
    h = Harness()
    reply = ModelReply(
        message=Message(role="assistant", content=(TextBlock("partial"),)),
        stop_reason=stop,
        usage=TokenUsage(1, 1),
        latency_ms=1.0,
        raw_stop_reason=raw,
    )
    outcome = h.run(ScriptedLLM([reply]))
    assert (outcome.stop, outcome.final_text) == (expected, "partial")
    assert h.spans(SpanKind.MODEL)[0].attributes["stop_reason"] == expected.split(":", 1)[1]


def test_model_failures_propagate_to_the_caller() -> None:
    h = Harness()
    with pytest.raises(UpstreamFailed):
        h.run(ScriptedLLM([]))


def test_tools_must_be_keyed_by_their_names() -> None:
    h = Harness()
    with pytest.raises(ConfigurationError, match="named"):
        h.run(ScriptedLLM([]), tools={"search": Tool(SEARCH_SPEC, h.search)})
    with pytest.raises(ConfigurationError, match="max_turns"):
        h.run(ScriptedLLM([]), max_turns=0)


# --- the documented Converse exchange, through the Bedrock adapter ----------------------------------------

TOP_SONG = ToolSpec(
    name="top_song",
    description="Get the most popular song played on a radio station.",
    input_schema=load_fixture("bedrock/converse_tool_config.json")["tools"][0]["toolSpec"]["inputSchema"]["json"],
)
QUESTION = "What is the most popular song on WZPZ?"


@pytest.fixture
def bedrock() -> Iterator[tuple[BedrockConverseLLM, Stubber]]:
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield BedrockConverseLLM(client, model="anthropic.claude-3-haiku-20240307-v1:0", backoff=Backoff()), stubber
        stubber.assert_no_pending_responses()


def second_request(result_fixture: str) -> dict[str, Any]:
    return {
        "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "messages": [
            {"role": "user", "content": [{"text": QUESTION}]},
            load_fixture("bedrock/converse_response_tool_use.json")["output"]["message"],
            load_fixture(f"bedrock/{result_fixture}"),
        ],
        "system": [{"text": "You are a radio assistant."}],
        "inferenceConfig": {"maxTokens": 2048, "temperature": 0.0},
        "toolConfig": load_fixture("bedrock/converse_tool_config.json"),
    }


def run_songs(llm: BedrockConverseLLM, tool: Calls) -> tuple[AgentOutcome, Harness]:
    h = Harness()
    outcome = h.run(
        llm,
        system="You are a radio assistant.",
        user_text=QUESTION,
        tools={"top_song": Tool(TOP_SONG, tool, action="radio.topSong")},
        prompt_name="radio",
        prompt_version="1",
    )
    return outcome, h


def test_converse_tool_use_then_end_turn_sends_the_documented_tool_result(
    bedrock: tuple[BedrockConverseLLM, Stubber],
) -> None:
    llm, stubber = bedrock
    stubber.add_response("converse", converse_response("tool_use", input_tokens=410, output_tokens=54))
    stubber.add_response(
        "converse",
        converse_response("end_turn", input_tokens=480, output_tokens=20),
        second_request("converse_message_tool_result.json"),
    )
    song = Calls({"song": "Elemental Hotel", "artist": "8 Storey Hike"})
    outcome, h = run_songs(llm, song)
    assert outcome.stop == "end_turn"
    assert outcome.final_text == "The most popular song on WZPZ is Elemental Hotel by 8 Storey Hike."
    assert (outcome.turns, outcome.tool_calls, outcome.usage) == (2, 1, TokenUsage(890, 74))
    assert song.inputs == [{"sign": "WZPZ"}]
    model_spans = h.spans(SpanKind.MODEL)
    assert [s.attributes["model_id"] for s in model_spans] == ["anthropic.claude-3-haiku-20240307-v1:0"] * 2
    assert [s.attributes["stop_reason"] for s in model_spans] == ["tool_use", "end_turn"]
    assert [s.name for s in h.spans(SpanKind.TOOL)] == ["radio.topSong"]


def test_converse_tool_error_is_sent_as_the_documented_error_result(
    bedrock: tuple[BedrockConverseLLM, Stubber],
) -> None:
    llm, stubber = bedrock
    stubber.add_response("converse", converse_response("tool_use"))
    stubber.add_response(
        "converse", converse_response("end_turn"), second_request("converse_message_tool_result_error.json")
    )
    outcome, h = run_songs(llm, Calls(NotFound("Station WZPA not found.")))
    assert outcome.stop == "end_turn"
    assert h.spans(SpanKind.TOOL)[0].status == "error"
