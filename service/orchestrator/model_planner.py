"""The model planner: a language model writes each ticket, looking at the code with read-only tools.

It implements :class:`service.orchestrator.planner.Planner`. The system prompt is ``scan_system`` plus the
untrusted-data rule; the user prompt is ``ticket_writer`` with every piece of repository or analyser text (the
finding's message, code snippets, and whatever the tools read) wrapped by
:func:`service.guardrails.untrusted.as_data`. The conversation runs through :func:`run_agent` with two tools,
``codebase.searchCode`` and ``codebase.readFile`` (both read-only, both checked by the ``allow`` guard), so its
model calls, tool calls and knowledge-base lookups are all in the trace.

An answer that cannot be used (the model stopped early, ran out of turns or ignored the ``SUMMARY:`` shape)
is replaced by the deterministic planner's ticket, and a rationale span says so. A spent budget raises
:class:`BudgetSpent`, as the protocol allows; model failures (``UpstreamFailed``, ``ConfigurationError``)
propagate to the engine. The run summary is written from its template (there is nothing for a model to add to
counts), so its MODEL span says no model was used.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from service.domain.llm import ToolSpec
from service.errors import InvalidInput
from service.guardrails.untrusted import UNTRUSTED_DATA_RULE, as_data
from service.knowledge_base.library import KnowledgeBase
from service.knowledge_base.navigation import Navigator
from service.orchestrator.agent_loop import Allow, Tool, allow_all, run_agent
from service.orchestrator.budget import BudgetMeter, BudgetSpent
from service.orchestrator.planner import (
    DeterministicPlanner,
    TicketContext,
    WrittenText,
    WrittenTicket,
    template_variables,
)
from service.orchestrator.prompts import PromptLibrary
from service.ports.llm import LLM
from service.tickets.limits import cut_summary
from service.traces.recorder import TraceRecorder

SYSTEM_PROMPT = "scan_system"
TICKET_PROMPT = "ticket_writer"
SEARCH_K = 5

SEARCH_SPEC = ToolSpec(
    name="codebase_searchCode",
    description="Search the repository's indexed code and documents (hybrid lexical and semantic search). Returns "
    "the best chunks with their path, lines, enclosing symbol and text.",
    input_schema={
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "What to look for: words, identifiers or a question."},
            "k": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10,
                "description": f"How many results (default {SEARCH_K}).",
            },
        },
        "required": ["query"],
    },
)
READ_SPEC = ToolSpec(
    name="codebase_readFile",
    description="Read lines of an indexed file at the indexed commit (at most 500 lines at once).",
    input_schema={
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "File path relative to the repository root."},
            "startLine": {"type": "integer", "minimum": 1, "description": "First line (default 1)."},
            "endLine": {"type": "integer", "minimum": 1, "description": "Last line, inclusive (default: the end)."},
        },
        "required": ["path"],
    },
)

_SUMMARY = re.compile(
    r"^[ \t]*[*_#]*[ \t]*summary[ \t]*[*_]*[ \t]*:[ \t]*(?P<summary>.*)$", re.IGNORECASE | re.MULTILINE
)
_FENCE = re.compile(r"\A```[a-zA-Z]*\n(?P<inner>.*)\n```\Z", re.DOTALL)


def parse_ticket(text: str) -> tuple[str, str] | None:
    """``(summary, body)`` from an answer shaped ``SUMMARY: ...`` then the Markdown body, or None when the
    answer has no summary line or no body. A fence around the whole answer is removed."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group("inner").strip()
    match = _SUMMARY.search(stripped)
    if match is None:
        return None
    summary = match.group("summary").strip().strip("*_").strip()
    body = stripped[match.end() :].strip()
    if not summary or not body:
        return None
    return summary, body


def _text(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"'{key}' must be a non-empty string", hint=f"call again with a '{key}' string")
    return value


def _number(params: Mapping[str, Any], key: str, default: int | None, low: int, high: int) -> int | None:
    value = params.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"'{key}' must be a whole number from {low} to {high}", hint=f"correct '{key}'")
    return value


class CodebaseTools:
    """The read-only tools over one repository of the knowledge base, recording each search as a RETRIEVAL span.

    Everything they return from the repository is wrapped as untrusted data.
    """

    def __init__(self, knowledge: KnowledgeBase, repository: str, recorder: TraceRecorder) -> None:
        self._knowledge = knowledge
        self._navigator = Navigator(knowledge)
        self._repository = repository
        self._recorder = recorder

    def tools(self) -> dict[str, Tool]:
        return {
            SEARCH_SPEC.name: Tool(SEARCH_SPEC, self.search, action="codebase.searchCode"),
            READ_SPEC.name: Tool(READ_SPEC, self.read, action="codebase.readFile"),
        }

    def search(self, params: dict[str, Any]) -> dict[str, Any]:
        query = _text(params, "query")
        k = _number(params, "k", SEARCH_K, 1, 10) or SEARCH_K
        began = time.perf_counter()
        found = self._knowledge.search(query, repository=self._repository, k=k)
        commit = found.repository.commit or ""
        citations = [
            {
                "path": hit.chunk.path,
                "start_line": hit.chunk.start_line,
                "end_line": hit.chunk.end_line,
                "symbol": hit.chunk.symbol,
                "commit": commit or None,
                "score": round(hit.score, 6),
            }
            for hit in found.hits
        ]
        self._recorder.retrieval(
            query=query,
            citations=citations,
            duration_ms=(time.perf_counter() - began) * 1000,
            repository=self._repository,
        )
        return {
            "commit": commit,
            "mode": found.mode,
            "results": [
                {
                    "path": hit.chunk.path,
                    "startLine": hit.chunk.start_line,
                    "endLine": hit.chunk.end_line,
                    "symbol": hit.chunk.symbol,
                    "text": as_data(f"code from {hit.chunk.path}:{hit.chunk.start_line}", hit.chunk.text),
                }
                for hit in found.hits
            ],
        }

    def read(self, params: dict[str, Any]) -> dict[str, Any]:
        path = _text(params, "path")
        start = _number(params, "startLine", 1, 1, 10_000_000) or 1
        end = _number(params, "endLine", None, 1, 10_000_000)
        found = self._navigator.read_file(self._repository, path, start, end)
        return {
            "path": found.path,
            "commit": found.commit,
            "startLine": found.start_line,
            "endLine": found.end_line,
            "totalLines": found.total_lines,
            "truncated": found.truncated,
            "text": as_data(f"code from {found.path}:{found.start_line}-{found.end_line}", found.text),
        }


def writer_variables(context: TicketContext) -> dict[str, Any]:
    """The ``ticket_writer`` variables: the template's own, with the analyser's message and every snippet
    wrapped as untrusted data."""
    variables = template_variables(context)
    variables["message"] = as_data("the analyser's message", context.message)
    variables["locations"] = [
        {
            **location,
            "snippet_data": as_data(
                f"code at {location['path']}:{location['start_line']}-{location['end_line']}", location["snippet"]
            ),
        }
        for location in variables["locations"]
    ]
    return variables


class ModelPlanner:
    """Writes tickets with ``llm`` (see the module). ``knowledge`` gives the model its code tools (none without
    it); ``allow`` guards every tool call (e.g. the run's trigger policy)."""

    def __init__(
        self,
        llm: LLM,
        *,
        knowledge: KnowledgeBase | None = None,
        prompts: PromptLibrary | None = None,
        allow: Allow = allow_all,
        max_turns: int = 6,
        max_tokens: int = 2048,
        temperature: float = 0.0,
    ) -> None:
        self._llm = llm
        self._knowledge = knowledge
        self.prompts = prompts or PromptLibrary()
        self._allow = allow
        self._max_turns = max_turns
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._templates = DeterministicPlanner(self.prompts)

    @property
    def model_id(self) -> str:
        return self._llm.model_id

    def write_ticket(self, context: TicketContext, *, recorder: TraceRecorder, budget: BudgetMeter) -> WrittenTicket:
        system_prompt, system = self.prompts.render(
            SYSTEM_PROMPT, {"repository": context.repository, "commit": context.commit}
        )
        writer, user_text = self.prompts.render(TICKET_PROMPT, writer_variables(context))
        tools = CodebaseTools(self._knowledge, context.repository, recorder).tools() if self._knowledge else {}
        recorder.rationale(
            f"{self.model_id} writes the ticket for finding group {context.fingerprint} "
            f"({system_prompt.ref}, {writer.ref}; tools: {', '.join(t.action_name for t in tools.values()) or 'none'})"
        )
        outcome = run_agent(
            self._llm,
            system=f"{system.strip()}\n\n{UNTRUSTED_DATA_RULE}",
            user_text=user_text,
            tools=tools,
            recorder=recorder,
            meter=budget,
            prompt_name=writer.name,
            prompt_version=writer.version,
            max_turns=self._max_turns,
            allow=self._allow,
            max_tokens=self._max_tokens,
            temperature=self._temperature,
        )
        if outcome.stop.startswith("budget:"):
            raise BudgetSpent(outcome.stop.removeprefix("budget:"))
        parsed = parse_ticket(outcome.final_text) if outcome.finished else None
        if parsed is None:
            why = outcome.stop if not outcome.finished else "no 'SUMMARY:' line followed by a body"
            recorder.rationale(f"the model's answer could not be used ({why}): the ticket is written from the template")
            return self._templates.write_ticket(context, recorder=recorder, budget=budget)
        summary, body = parsed
        footer = (
            f"_Written by Ticketsmith with {self.model_id} at commit {context.commit or 'unknown'} of "
            f"{context.repository}. Finding group {context.fingerprint}._"
        )
        return WrittenTicket(
            summary=cut_summary(summary),
            body_markdown=f"{body}\n\n{footer}\n",
            prompt=writer.name,
            prompt_version=writer.version,
            model_id=self.model_id,
            input_tokens=outcome.usage.input_tokens,
            output_tokens=outcome.usage.output_tokens,
        )

    def write_summary(
        self, variables: Mapping[str, Any], *, recorder: TraceRecorder, budget: BudgetMeter
    ) -> WrittenText:
        return self._templates.write_summary(variables, recorder=recorder, budget=budget)
