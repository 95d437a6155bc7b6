"""What the pages show, computed from runs, spans, findings and search hits: plain data for the templates.

No HTML is built here; templates escape every string these return.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from service.domain.findings import Severity
from service.domain.runs import Run, RunState, Span, SpanKind

ACTIVE = (RunState.QUEUED, RunState.RUNNING, RunState.PAUSED)
_TERM = re.compile(r"[A-Za-z0-9_]{2,}")
MAX_TERMS = 12


def code_link(repository: str | None, path: str, start: int | None = None, end: int | None = None) -> str | None:
    """The console's code view of ``path`` (lines ``start``-``end`` marked), or None without a repository."""
    if not repository or not path:
        return None
    url = f"/code/{quote(repository, safe='')}/{quote(path)}"
    if start:
        url += "?" + urlencode({"start": start, "end": end or start}) + f"#L{start}"
    return url


def scan_findings(run: Run) -> list[dict[str, Any]]:
    """The findings a scan run's check step kept in its checkpoint (their JSON form); none when it has not
    checked yet or the checkpoint holds something else."""
    check = run.checkpoint.get("check")
    found = check.get("findings") if isinstance(check, Mapping) else None
    return [dict(f) for f in found if isinstance(f, Mapping)] if isinstance(found, list) else []


def result_tickets(run: Run) -> list[dict[str, Any]]:
    """The filing decisions of a scan run: its result's tickets, or as far as its file step got."""
    result = run.result if isinstance(run.result, Mapping) else {}
    tickets = result.get("tickets")
    if not isinstance(tickets, list):
        filed = run.checkpoint.get("file")
        tickets = filed.get("tickets") if isinstance(filed, Mapping) else None
    return [dict(t) for t in tickets if isinstance(t, Mapping)] if isinstance(tickets, list) else []


def run_seconds(run: Run, now: datetime | None = None) -> float:
    """Wall time from creation to the end (or to now while it has not ended)."""
    end = run.finished_at or (now or datetime.now(UTC))
    return max((end - run.created_at).total_seconds(), 0.0)


def run_row(run: Run, now: datetime | None = None) -> dict[str, Any]:
    """One run as the runs list and the progress endpoint show it."""
    return {
        "id": run.id,
        "workflow": run.workflow,
        "state": run.state.value,
        "active": run.state in ACTIVE,
        "trigger": run.trigger.value,
        "principal": run.principal,
        "repository": run.repository,
        "step": run.step,
        "steps": run.usage.steps,
        "tickets": run.usage.tickets,
        "seconds": round(run_seconds(run, now), 3),
        "created_at": run.created_at,
        "error": run.error,
    }


@dataclass
class Event:
    """One span inside a step, with the facts a person looks for."""

    kind: str
    name: str
    offset: float
    duration_ms: float
    failed: bool
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepView:
    """One workflow step (a trace id) and its events; ``name`` is None for spans recorded outside a step."""

    trace_id: str
    name: str | None
    offset: float
    duration_ms: float | None
    failed: bool
    events: list[Event] = field(default_factory=list)


def _citations(span: Span, repository: str | None) -> list[dict[str, Any]]:
    citations = span.attributes.get("citations")
    cited = [c for c in citations if isinstance(c, Mapping)] if isinstance(citations, list) else []
    repo = span.attributes.get("repository") or repository
    rows = []
    for c in cited:
        start, end = c.get("start_line"), c.get("end_line")
        rows.append(
            {
                "path": str(c.get("path") or ""),
                "start_line": start,
                "end_line": end,
                "symbol": c.get("symbol") or "",
                "score": c.get("score"),
                "link": code_link(
                    str(repo) if repo else None,
                    str(c.get("path") or ""),
                    start if isinstance(start, int) else None,
                    end if isinstance(end, int) else None,
                ),
            }
        )
    return rows


def _facts(span: Span, repository: str | None) -> dict[str, Any]:
    a = span.attributes
    if span.kind is SpanKind.RATIONALE:
        return {"text": a.get("text") or ""}
    if span.kind is SpanKind.TOOL:
        return {"action": a.get("action") or span.name, "input": a.get("input"), "observation": a.get("observation")}
    if span.kind is SpanKind.MODEL:
        return {
            "model": a.get("model_id") or "?",
            "prompt": a.get("prompt"),
            "prompt_version": a.get("prompt_version"),
            "input_tokens": a.get("input_tokens", 0),
            "output_tokens": a.get("output_tokens", 0),
            "stop_reason": a.get("stop_reason"),
            "deterministic": a.get("model_id") == "deterministic",
        }
    if span.kind is SpanKind.RETRIEVAL:
        return {
            "query": a.get("query") or "",
            "repository": a.get("repository"),
            "citations": _citations(span, repository),
        }
    if span.kind is SpanKind.GUARDRAIL:
        return {"decision": a.get("decision") or "?", "action": a.get("action") or "", "reason": a.get("reason")}
    if span.kind is SpanKind.FAILURE:
        return {"where": a.get("where"), "error": a.get("error") or span.name}
    return {}


def timeline(run: Run, spans: Iterable[Span]) -> list[StepView]:
    """The run's spans grouped by step (trace id), steps in the order they began, events in sequence order."""
    ordered = sorted(spans, key=lambda span: span.sequence)
    if not ordered:
        return []
    first = min(span.started_at for span in ordered)
    steps: dict[str, StepView] = {}
    for span in ordered:
        offset = (span.started_at - first).total_seconds()
        failed = span.status != "ok" or span.kind is SpanKind.FAILURE
        step = steps.get(span.trace_id)
        if step is None:
            step = steps[span.trace_id] = StepView(span.trace_id, None, offset, None, False)
        if span.kind is SpanKind.STEP:
            # A step's span closes it (recorded after its children) and starts when the step did.
            step.name, step.offset, step.duration_ms = span.name, offset, span.duration_ms
            step.failed = step.failed or failed
            continue
        step.offset = min(step.offset, offset)
        step.failed = step.failed or failed
        step.events.append(
            Event(span.kind.value, span.name, offset, span.duration_ms, failed, _facts(span, run.repository))
        )
    return sorted(steps.values(), key=lambda s: s.offset)


def usage_totals(spans: Iterable[Span]) -> dict[str, int]:
    """Model calls and their tokens across the trace."""
    calls = tokens_in = tokens_out = 0
    for span in spans:
        if span.kind is SpanKind.MODEL and span.attributes.get("model_id") != "deterministic":
            calls += 1
            tokens_in += int(span.attributes.get("input_tokens") or 0)
            tokens_out += int(span.attributes.get("output_tokens") or 0)
    return {"calls": calls, "input_tokens": tokens_in, "output_tokens": tokens_out}


@dataclass
class FileFindings:
    path: str
    findings: list[dict[str, Any]]


@dataclass
class SeverityFindings:
    severity: str
    count: int
    files: list[FileFindings]


def group_findings(findings: Sequence[Mapping[str, Any]], repository: str | None) -> list[SeverityFindings]:
    """Findings (their JSON form) by severity, worst first, then by file and line; each with a code link."""
    groups: list[SeverityFindings] = []
    for severity in Severity:
        mine = [f for f in findings if f.get("severity") == severity.value]
        if not mine:
            continue
        by_file: dict[str, list[dict[str, Any]]] = {}
        for f in sorted(mine, key=lambda f: (str(f.get("path") or ""), int(f.get("start_line") or 0))):
            path = str(f.get("path") or "")
            start = int(f.get("start_line") or 0)
            row = {**f, "link": code_link(repository, path, start or None, int(f.get("end_line") or 0) or None)}
            by_file.setdefault(path, []).append(row)
        files = [FileFindings(path, rows) for path, rows in by_file.items()]
        groups.append(SeverityFindings(severity.value, len(mine), files))
    return groups


def query_terms(query: str) -> list[str]:
    """The words of a search query worth marking in results (two characters or more)."""
    seen: list[str] = []
    for term in _TERM.findall(query):
        if term.lower() not in (s.lower() for s in seen):
            seen.append(term)
    return seen[:MAX_TERMS]


def highlight(text: str, terms: Sequence[str]) -> list[tuple[str, bool]]:
    """``text`` cut into pieces, each flagged True where it matches one of ``terms`` (case-insensitive)."""
    if not terms or not text:
        return [(text, False)]
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    pieces: list[tuple[str, bool]] = []
    at = 0
    for match in pattern.finditer(text):
        if match.start() > at:
            pieces.append((text[at : match.start()], False))
        pieces.append((match.group(0), True))
        at = match.end()
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces
