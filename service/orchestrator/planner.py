"""Planners: what writes a ticket's text from a group of findings and the code around them.

:class:`Planner` is the protocol; :class:`DeterministicPlanner` fills the templates in ``prompts/``
and is used when no model is configured, so every workflow runs the same without one. A planner records one
MODEL span per call it makes (the deterministic one: one per template rendered, with model id
``deterministic`` and the note "no model was used") and charges the tokens it spent to the budget.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from service.domain.runs import SpanKind
from service.orchestrator.budget import BudgetMeter
from service.orchestrator.prompts import PromptLibrary
from service.tickets.limits import cut_summary
from service.traces.recorder import TraceRecorder

DETERMINISTIC = "deterministic"
NO_MODEL = "no model was used"


@dataclass(frozen=True)
class Location:
    """Where one finding of a group is: lines are 1-based inclusive (0: the whole file); ``link`` is
    commit-pinned (a blob URL on a known host, else ``path@commit:lines``)."""

    path: str
    start_line: int
    end_line: int
    symbol: str
    snippet: str
    link: str
    message: str = ""


@dataclass(frozen=True)
class Citation:
    """A knowledge-base chunk the ticket relies on, pinned to the commit it was indexed at."""

    path: str
    start_line: int
    end_line: int
    symbol: str
    commit: str | None
    score: float
    link: str


@dataclass(frozen=True)
class TicketContext:
    """Everything a planner may use to write one ticket: the problem (one group of findings), where it is,
    and what the knowledge base found around it. JSON-compatible via :meth:`as_dict` (kept in checkpoints)."""

    fingerprint: str
    repository: str
    commit: str | None
    rule_id: str
    tool: str
    category: str
    severity: str
    message: str
    help_url: str | None
    locations: tuple[Location, ...]
    citations: tuple[Citation, ...] = ()
    findings: int = 1

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["locations"] = [asdict(x) for x in self.locations]
        data["citations"] = [asdict(x) for x in self.citations]
        return data

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> TicketContext:
        values = dict(data)
        values["locations"] = tuple(Location(**x) for x in values.get("locations", ()))
        values["citations"] = tuple(Citation(**x) for x in values.get("citations", ()))
        return cls(**values)

    @property
    def files(self) -> list[str]:
        """The distinct files of the group, in order of first appearance."""
        return list(dict.fromkeys(x.path for x in self.locations))


@dataclass(frozen=True)
class WrittenTicket:
    """A ticket's text and what wrote it: the prompt template and version, the model (or ``deterministic``)."""

    summary: str
    body_markdown: str
    prompt: str
    prompt_version: str
    model_id: str = DETERMINISTIC
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class WrittenText:
    """Free text a planner wrote (the run summary) and the template it came from."""

    text: str
    prompt: str
    prompt_version: str
    model_id: str = DETERMINISTIC
    extra: dict[str, Any] = field(default_factory=dict)


class Planner(Protocol):
    """Writes the text of a workflow's outputs. ``model_id`` is the model's id, or ``deterministic``."""

    @property
    def model_id(self) -> str: ...

    def write_ticket(self, context: TicketContext, *, recorder: TraceRecorder, budget: BudgetMeter) -> WrittenTicket:
        """The ticket for ``context``; the summary is at most 255 characters. Records its MODEL spans and
        charges its tokens to ``budget`` (it may raise :class:`BudgetSpent` before a call it cannot afford)."""
        ...

    def write_summary(
        self, variables: Mapping[str, Any], *, recorder: TraceRecorder, budget: BudgetMeter
    ) -> WrittenText:
        """The run's closing summary from the summarise step's ``variables`` (counts and tickets)."""
        ...


def ticket_summary(context: TicketContext) -> str:
    """The one-line summary of a group: severity, what, and where (one file, or how many)."""
    files = [path for path in context.files if path]
    where = f" in {files[0]}" if len(files) == 1 else f" in {len(files)} files" if files else ""
    count = f" ({context.findings} places)" if context.findings > 1 else ""
    return cut_summary(f"[{context.severity}] {context.message.rstrip('. ')}{where}{count}")


def template_variables(context: TicketContext) -> dict[str, Any]:
    """The variables the ticket templates see: the context's fields plus ``files`` and ``summary``."""
    return {**context.as_dict(), "files": context.files, "summary": ticket_summary(context)}


class DeterministicPlanner:
    """Writes from templates only: the same input gives the same text, and no model is called."""

    model_id = DETERMINISTIC

    def __init__(self, prompts: PromptLibrary | None = None) -> None:
        self.prompts = prompts or PromptLibrary()

    def _render(self, name: str, variables: Mapping[str, Any], recorder: TraceRecorder) -> tuple[str, str]:
        began = time.perf_counter()
        prompt, text = self.prompts.render(name, variables)
        recorder.record(
            SpanKind.MODEL,
            "chat",
            {
                "model_id": DETERMINISTIC,
                "prompt": prompt.name,
                "prompt_version": prompt.version,
                "input_tokens": 0,
                "output_tokens": 0,
                "stop_reason": "end_turn",
                "note": NO_MODEL,
                "output_text": text,
            },
            duration_ms=(time.perf_counter() - began) * 1000,
        )
        return prompt.version, text

    def write_ticket(self, context: TicketContext, *, recorder: TraceRecorder, budget: BudgetMeter) -> WrittenTicket:
        variables = template_variables(context)
        version, body = self._render("ticket", variables, recorder)
        return WrittenTicket(
            summary=str(variables["summary"]),
            body_markdown=body.strip() + "\n",
            prompt="ticket",
            prompt_version=version,
        )

    def write_summary(
        self, variables: Mapping[str, Any], *, recorder: TraceRecorder, budget: BudgetMeter
    ) -> WrittenText:
        version, text = self._render("summary", variables, recorder)
        return WrittenText(text=text.strip() + "\n", prompt="summary", prompt_version=version)
