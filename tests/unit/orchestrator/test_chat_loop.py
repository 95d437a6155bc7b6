"""The chat loop: a write in a batch of tool uses pauses the loop after the reads before it, its state survives
a JSON round trip, and the approved or refused resume goes on from there."""

from __future__ import annotations

import json
from typing import Any

from service.adapters.llm.scripted import ScriptedLLM
from service.adapters.storage.memory_runs import InMemoryRunStore
from service.domain.llm import Message, TextBlock, ToolResult, ToolSpec
from service.domain.runs import Budget, SpanKind, Usage
from service.guardrails.policy import Decision
from service.orchestrator.budget import BudgetMeter
from service.orchestrator.chat_loop import ChatTool, LoopState, citations_of, pieces, run_loop
from service.traces.recorder import TraceRecorder
from tests.llm_fakes import text_reply, tool_reply

HIT = {"path": "lexer.py", "startLine": 1, "endLine": 3, "symbol": "tokenize"}


class Calls:
    def __init__(self, answer: dict[str, Any]) -> None:
        self.inputs: list[dict[str, Any]] = []
        self.answer = answer

    def __call__(self, values: dict[str, Any]) -> dict[str, Any]:
        self.inputs.append(values)
        return self.answer


def _decide(action: str) -> Decision:
    writes = action.startswith("jira.create")
    return Decision(True, "writes: confirm" if writes else "reads", needs_confirmation=writes)


def _spec(name: str) -> ToolSpec:
    return ToolSpec(name=name, description=name, input_schema={"type": "object"})


def test_a_write_pauses_after_the_reads_before_it_and_resumes_from_json() -> None:
    search, create = Calls({"commit": "c" * 40, "results": [HIT]}), Calls({"key": "OPS-1"})
    tools = {
        "codebase_searchCode": ChatTool(_spec("codebase_searchCode"), "codebase.searchCode", search),
        "jira_createIssue": ChatTool(_spec("jira_createIssue"), "jira.createIssue", create),
    }
    store = InMemoryRunStore()
    events: list[tuple[str, dict[str, Any]]] = []

    def loop(llm: ScriptedLLM, state: LoopState, **options: Any) -> Any:
        return run_loop(
            llm,
            state,
            system="s",
            tools=tools,
            decide=_decide,
            recorder=TraceRecorder(store, "r1"),
            meter=BudgetMeter(Budget(), Usage()),
            emit=lambda event, data: events.append((event, data)),
            prompt=("chat_system", "1"),
            **options,
        )

    batch = tool_reply(("codebase_searchCode", {"query": "tokens"}), ("jira_createIssue", {"summary": "x"}))
    state = LoopState(messages=[Message(role="user", content=(TextBlock("file it"),))])
    end = loop(ScriptedLLM([batch]), state)
    assert (end.stop, end.action, end.waiting and end.waiting.tool_use_id) == ("paused", "jira.createIssue", "t2")
    assert len(search.inputs) == 1
    assert create.inputs == []
    cited = {"path": "lexer.py", "start_line": 1, "end_line": 3, "symbol": "tokenize", "commit": "c" * 40}
    assert ("citation", cited) in events

    saved = LoopState.of_json(json.loads(json.dumps(state.as_json())))
    assert saved.as_json() == state.as_json()
    later = ScriptedLLM([text_reply("Filed OPS-1.")])
    end = loop(later, saved, approved="t2")
    assert end.stop == "end_turn"
    assert create.inputs == [{"summary": "x"}]
    (request,) = later.requests
    results = request.last.content
    assert [r.tool_use_id for r in results if isinstance(r, ToolResult)] == ["t1", "t2"]
    assert "untrusted-data" in str(results[0].content["result"]), "action results reach the model as data"

    refused = LoopState.of_json(state.as_json())
    told = ScriptedLLM([text_reply("Not filed.")])
    end = loop(told, refused, refused="ana")
    assert end.stop == "refused"
    assert create.inputs == [{"summary": "x"}], "a refused action never runs"
    last = told.requests[0].last.content[-1]
    assert isinstance(last, ToolResult)
    assert last.is_error
    assert "ana refused" in last.content["error"]
    kinds = [s.kind for s in store.spans("r1")]
    assert SpanKind.GUARDRAIL in kinds


def test_pieces_and_citations() -> None:
    text = "one two three four five six seven eight nine ten eleven twelve"
    assert "".join(pieces(text)) == text
    assert len(list(pieces(text))) >= 2
    assert list(pieces("")) == []
    assert citations_of({"commit": "c", "nested": [{"x": HIT}]}) == [
        {"path": "lexer.py", "start_line": 1, "end_line": 3, "symbol": "tokenize", "commit": "c"}
    ]
