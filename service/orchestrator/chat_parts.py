"""Pieces of a chat turn that need no model and no store: the conversation a model is sent, who a resumed turn
runs as, the rule parser for writes asked in so many words, and the answer made of knowledge-base hits."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from service.domain.chat import ChatMessage
from service.domain.llm import Message, TextBlock
from service.domain.principals import Principal
from service.domain.runs import Run
from service.knowledge_base.library import SearchResults
from service.orchestrator.chat_loop import LoopEnd

NO_MODEL = "No model is configured, so no model wrote this answer."
_CREATE = re.compile(r"^\s*create (?:a )?(?:ticket|issue)\s*:\s*(?P<summary>\S.*)$", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(
    r"^\s*comment on (?P<key>[A-Za-z][A-Za-z0-9_]*-\d+)\s*:\s*(?P<body>\S.*)$", re.IGNORECASE | re.DOTALL
)


def citations_of_hits(found: SearchResults) -> list[dict[str, Any]]:
    """Each hit's code location: path, start_line, end_line, symbol, commit."""
    commit = found.repository.commit or ""
    return [
        {
            "path": hit.chunk.path,
            "start_line": hit.chunk.start_line,
            "end_line": hit.chunk.end_line,
            "symbol": hit.chunk.symbol,
            "commit": hit.chunk.commit or commit,
        }
        for hit in found.hits
    ]


def search_answer(repository: str, citations: Sequence[dict[str, Any]], found: SearchResults) -> str:
    """The answer without a model: it says so, then one line per hit (location, symbol, commit, first line)."""
    lines = [f"{NO_MODEL} These passages of {repository} match your message best:"]
    for number, (citation, hit) in enumerate(zip(citations, found.hits, strict=True), start=1):
        symbol = f" ({citation['symbol']})" if citation["symbol"] else ""
        first = next((line.strip() for line in hit.chunk.text.splitlines() if line.strip()), "")
        lines.append(
            f"{number}. {citation['path']}:{citation['start_line']}-{citation['end_line']}{symbol}"
            f" @ {str(citation['commit'])[:12]}: {first[:120]}"
        )
    return "\n".join(lines)


def rule_action(text: str) -> tuple[str, dict[str, Any]] | None:
    """The tool and input a message asks for in so many words ("create a ticket: ...", "comment on KEY: ...")."""
    created = _CREATE.match(text)
    if created:
        return "jira_createIssue", {"summary": created.group("summary").strip()}
    commented = _COMMENT.match(text)
    if commented:
        return "jira_addComment", {"key": commented.group("key").upper(), "body": commented.group("body").strip()}
    return None


def conversation(earlier: Sequence[ChatMessage]) -> list[Message]:
    """The session's earlier messages as the model's conversation: it starts with the user and alternates
    (consecutive messages of one role are joined, as Converse requires)."""
    messages: list[Message] = []
    for message in earlier:
        if not messages and message.role != "user":
            continue
        if messages and messages[-1].role == message.role:
            joined = f"{messages[-1].text}\n\n{message.text}"
            messages[-1] = Message(role=message.role, content=(TextBlock(joined),))
        else:
            messages.append(Message(role=message.role, content=(TextBlock(message.text),)))
    if messages and messages[-1].role == "user":
        # An unanswered question (its turn failed): the new message must follow an assistant's.
        messages.append(Message(role="assistant", content=(TextBlock("(no answer)"),)))
    return messages


def scopes_of(principal: Principal) -> dict[str, Any]:
    return {
        "name": principal.name,
        "action_groups": sorted(principal.action_groups),
        "jira_projects": sorted(principal.jira_projects),
    }


def principal_of_run(run: Run) -> Principal:
    """The caller who started the turn, with the scopes their key had then: a resumed action runs as them."""
    scopes = run.parameters.get("scopes") or {}
    return Principal(
        name=str(scopes.get("name", run.principal)),
        action_groups=frozenset(scopes.get("action_groups") or ()),
        jira_projects=frozenset(scopes.get("jira_projects") or ()),
    )


def compact(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 300 else text[:300] + "..."


def no_text(end: LoopEnd) -> str:
    if end.stop == "max_turns":
        return "I stopped: this turn used all its model calls without a final answer."
    return f"The model ended without an answer ({end.stop})."
