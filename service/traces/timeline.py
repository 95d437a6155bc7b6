"""A run as a readable text timeline: a header with state, usage and result, then one line per span.

Each span line is ``<mark> +<offset>s  <kind>  <facts>`` where the offset counts from the earliest span, the
mark is ``!`` for anything that failed or was denied, and the facts are what a person looks for: the action
and a summary of its input and observation, the model, prompt and tokens, the query and the citations, the
guardrail decision and reason, the error and where it happened. STEP lines close their step with its duration.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from service.domain.runs import Run, Span, SpanKind

_SUMMARY = 100  # characters of an input or observation summary


def _short(value: Any, limit: int = _SUMMARY) -> str:
    """One line, at most ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _arguments(values: Any) -> str:
    if isinstance(values, Mapping):
        return ", ".join(f"{name}={_short(value, 40)}" for name, value in values.items())
    return "" if values is None else _short(values, 60)


def _duration(ms: float) -> str:
    return f"{ms / 1000:.2f}s" if ms >= 1000 else f"{ms:.0f}ms"


def _tool(span: Span) -> str:
    attributes = span.attributes
    action = attributes.get("action") or span.name
    line = f"{action}({_short(_arguments(attributes.get('input')))})"
    observation = attributes.get("observation")
    if observation is not None:
        line += f" -> {_short(observation)}"
    return line + f"  [{_duration(span.duration_ms)}]"


def _model(span: Span) -> str:
    attributes = span.attributes
    model = attributes.get("model_id") or "?"
    prompt = attributes.get("prompt")
    facts = [str(model)]
    if prompt:
        facts.append(f"prompt {prompt}@{attributes.get('prompt_version') or '?'}")
    if model == "deterministic":
        facts.append("no model was used")
    else:
        facts.append(f"{attributes.get('input_tokens', 0)} in / {attributes.get('output_tokens', 0)} out tokens")
    if attributes.get("stop_reason"):
        facts.append(f"stop {attributes['stop_reason']}")
    return ", ".join(facts) + f"  [{_duration(span.duration_ms)}]"


def _retrieval(span: Span) -> str:
    attributes = span.attributes
    citations = attributes.get("citations")
    cited = [c for c in citations if isinstance(c, Mapping)] if isinstance(citations, list) else []
    where = f" in {attributes['repository']}" if attributes.get("repository") else ""
    line = f"{_short(attributes.get('query') or '', 60)!r}{where} -> {len(cited)} citation{'s' * (len(cited) != 1)}"
    if cited:
        top = cited[0]
        line += f" (top {top.get('path')}:{top.get('start_line')}-{top.get('end_line')})"
    return line + f"  [{_duration(span.duration_ms)}]"


def _guardrail(span: Span) -> str:
    attributes = span.attributes
    decision, action = attributes.get("decision") or "?", attributes.get("action") or ""
    return f"{decision} {action}: {_short(attributes.get('reason') or '')}"


def _failure(span: Span) -> str:
    attributes = span.attributes
    where = attributes.get("where")
    error = _short(attributes.get("error") or span.name, 160)
    return f"{where}: {error}" if where else error


def _step(span: Span) -> str:
    outcome = "ok" if span.status == "ok" else "FAILED"
    return f"{span.name} {outcome}  [{_duration(span.duration_ms)}]"


def _facts(span: Span) -> str:
    if span.kind is SpanKind.RATIONALE:
        return _short(span.attributes.get("text") or "", 160)
    renderers = {
        SpanKind.TOOL: _tool,
        SpanKind.MODEL: _model,
        SpanKind.RETRIEVAL: _retrieval,
        SpanKind.GUARDRAIL: _guardrail,
        SpanKind.FAILURE: _failure,
        SpanKind.STEP: _step,
    }
    return renderers[span.kind](span)


def _header(run: Run) -> list[str]:
    usage, budget = run.usage, run.budget
    lines = [
        f"run {run.id}  {run.workflow}  {run.state.value}",
        f"  trigger {run.trigger.value}, principal {run.principal}, planner {run.planner}"
        + (f", repository {run.repository}" if run.repository else ""),
        f"  created {run.created_at.isoformat(timespec='seconds')}"
        + (f", finished {run.finished_at.isoformat(timespec='seconds')}" if run.finished_at else "")
        + (f", next step {run.step}" if run.step and not run.state.terminal else ""),
        f"  usage {usage.steps}/{budget.max_steps} steps, {usage.tokens}/{budget.max_tokens} tokens"
        f" ({usage.input_tokens} in, {usage.output_tokens} out), {usage.tickets}/{budget.max_tickets} tickets,"
        f" {usage.seconds:.1f}/{budget.max_seconds:.0f}s",
    ]
    if run.error:
        lines.append(f"! error {_short(run.error, 200)}")
    if run.result is not None:
        summary = run.result.get("summary")
        lines.append(f"  result {_short(summary if summary is not None else run.result, 200)}")
    return lines


def timeline(run: Run, spans: Iterable[Span]) -> str:
    """The run's header and one line per span, in sequence order."""
    ordered = sorted(spans, key=lambda span: span.sequence)
    lines = _header(run)
    lines.append("")
    if not ordered:
        lines.append("  (no spans recorded)")
        return "\n".join(lines)
    first = min(span.started_at for span in ordered)  # a step starts before the spans it closes
    for span in ordered:
        failed = span.status != "ok" or span.kind is SpanKind.FAILURE
        mark = "!" if failed else " "
        offset = f"+{(span.started_at - first).total_seconds():.3f}s"
        indent = "" if span.kind is SpanKind.STEP else "  "
        lines.append(f"{mark} {offset:>9}  {indent}{span.kind.value:<9}  {_facts(span)}")
    return "\n".join(lines)
