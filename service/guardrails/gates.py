"""The redaction gate at the boundaries: decorators of the IssueTracker and LLM ports, and the trace scrub.

``RedactingIssueTracker`` redacts what is sent to the tracker (draft summaries, descriptions and string
fields, comment bodies, JQL); labels and keys are identifiers and pass unchanged, and what the tracker
returns is not touched. ``RedactingLLM`` redacts the system prompt, every message's text, tool inputs and tool
results before they reach a hosted model; a local model gets them as they are. Both report each redaction to
an optional ``observer(where, findings, kinds)`` (e.g. to record a GUARDRAIL span), never the secret itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from service.domain.llm import ContentBlock, Message, ModelReply, TextBlock, ToolResult, ToolSpec, ToolUse
from service.domain.tickets import Comment, Ticket, TicketDraft, TrackerReport
from service.guardrails.redaction import DEFAULT_REDACTOR, Redactor, scrub, scrub_with
from service.ports.issue_tracker import IssueTracker
from service.ports.llm import LLM
from service.settings import Settings

RedactionObserver = Callable[[str, int, tuple[str, ...]], None]
Scrub = Callable[[Any], Any]


def _ignore(_where: str, _findings: int, _kinds: tuple[str, ...]) -> None:
    return None


def _unchanged(value: Any) -> Any:
    return value


class _Gate:
    def __init__(self, redactor: Redactor, observer: RedactionObserver) -> None:
        self.redactor = redactor
        self.observer = observer

    def text(self, where: str, text: str) -> str:
        result = self.redactor.redact(text)
        if result.findings:
            self.observer(where, result.findings, result.kinds)
        return result.text

    def value(self, where: str, value: Any) -> Any:
        findings = 0
        kinds: list[str] = []

        def redact_text(text: str) -> str:
            nonlocal findings
            result = self.redactor.redact(text)
            findings += result.findings
            kinds.extend(kind for kind in result.kinds if kind not in kinds)
            return result.text

        scrubbed = scrub_with(value, redact_text)
        if findings:
            self.observer(where, findings, tuple(kinds))
        return scrubbed


class RedactingIssueTracker:
    """:class:`IssueTracker` that redacts everything it sends before ``inner`` sees it (see the module)."""

    def __init__(
        self, inner: IssueTracker, redactor: Redactor = DEFAULT_REDACTOR, *, observer: RedactionObserver = _ignore
    ) -> None:
        self.inner = inner
        self._gate = _Gate(redactor, observer)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def sends(self) -> bool:
        return self.inner.sends

    def _draft(self, draft: TicketDraft) -> TicketDraft:
        return replace(
            draft,
            summary=self._gate.text("ticket summary", draft.summary),
            description=self._gate.text("ticket description", draft.description),
            fields=self._gate.value("ticket fields", dict(draft.fields)) if draft.fields else draft.fields,
        )

    def create(self, *, draft: TicketDraft) -> Ticket:
        return self.inner.create(draft=self._draft(draft))

    def create_many(self, *, drafts: Sequence[TicketDraft]) -> list[Ticket | Exception]:
        return self.inner.create_many(drafts=[self._draft(draft) for draft in drafts])

    def get(self, *, key: str) -> Ticket:
        return self.inner.get(key=key)

    def search(self, *, jql: str, limit: int = 50) -> list[Ticket]:
        return self.inner.search(jql=self._gate.text("jql", jql), limit=limit)

    def find_by_label(self, *, project_key: str, label: str) -> list[Ticket]:
        return self.inner.find_by_label(project_key=project_key, label=label)

    def comment(self, *, key: str, body: str) -> Comment:
        return self.inner.comment(key=key, body=self._gate.text("comment", body))

    def comments(self, *, key: str) -> list[Comment]:
        return self.inner.comments(key=key)

    def transition(self, *, key: str, status: str) -> Ticket:
        return self.inner.transition(key=key, status=status)

    def link(self, *, from_key: str, to_key: str, link_type: str = "Relates") -> None:
        self.inner.link(from_key=from_key, to_key=to_key, link_type=link_type)

    def set_labels(self, *, key: str, labels: Sequence[str]) -> Ticket:
        return self.inner.set_labels(key=key, labels=labels)

    def check(self, *, project_key: str | None) -> TrackerReport:
        return self.inner.check(project_key=project_key)


class RedactingLLM:
    """:class:`LLM` whose prompts pass the redaction gate when ``inner`` is hosted (see the module)."""

    def __init__(self, inner: LLM, redactor: Redactor = DEFAULT_REDACTOR, *, observer: RedactionObserver = _ignore):
        self.inner = inner
        self._gate = _Gate(redactor, observer)

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def hosted(self) -> bool:
        return self.inner.hosted

    def _block(self, block: ContentBlock) -> ContentBlock:
        if isinstance(block, TextBlock):
            return TextBlock(self._gate.text("prompt", block.text))
        if isinstance(block, ToolUse):
            return replace(block, input=self._gate.value("tool input", block.input))
        if isinstance(block, ToolResult):
            return replace(block, content=self._gate.value("tool result", block.content))
        return block

    def converse(
        self,
        *,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        max_tokens: int = 2048,
        temperature: float = 0.0,
    ) -> ModelReply:
        if self.inner.hosted:
            system = self._gate.text("system prompt", system)
            messages = [Message(role=m.role, content=tuple(self._block(b) for b in m.content)) for m in messages]
        return self.inner.converse(
            system=system, messages=messages, tools=tools, max_tokens=max_tokens, temperature=temperature
        )


def trace_scrub(settings: Settings, redactor: Redactor = DEFAULT_REDACTOR) -> Scrub:
    """The TraceRecorder's ``scrub``: the redaction gate over every span attribute, or (with
    ``guardrails.redact_secrets`` off) the attributes unchanged."""
    if not settings.guardrails.redact_secrets:
        return _unchanged
    return lambda value: scrub(value, redactor)


def gate_issue_tracker(settings: Settings, tracker: IssueTracker) -> IssueTracker:
    """``tracker`` behind the redaction gate when ``guardrails.redact_secrets`` is on (the default)."""
    if not settings.guardrails.redact_secrets or isinstance(tracker, RedactingIssueTracker):
        return tracker
    return RedactingIssueTracker(tracker)


def gate_llm(settings: Settings, llm: LLM | None) -> LLM | None:
    """``llm`` behind the redaction gate when ``guardrails.redact_secrets`` is on (the default)."""
    if llm is None or not settings.guardrails.redact_secrets or isinstance(llm, RedactingLLM):
        return llm
    return RedactingLLM(llm)
