"""Bedrock's own trace events (``TracePart``) as spans of our run store.

Each event becomes one span whose kind and attributes are ours, so the timeline and the exporters read it like
any other span, and whose attribute ``bedrock_trace`` holds the event itself in its JSON form, so
``format=bedrock`` answers it unchanged. ``Trace`` and ``OrchestrationTrace`` are unions (one member per event,
botocore ``bedrock-agent-runtime`` model): ``rationale`` -> RATIONALE; ``modelInvocationInput`` /
``modelInvocationOutput`` -> MODEL (the output's token usage counted); ``invocationInput`` and ``observation``
-> RETRIEVAL for a knowledge base, TOOL for an action group or collaborator, and a FINISH, ASK_USER or
REPROMPT observation -> RATIONALE with what the agent said; ``guardrailTrace`` -> GUARDRAIL (INTERVENED is a
deny); ``failureTrace`` -> FAILURE; anything else -> RATIONALE naming it. Pre-processing, post-processing and
routing-classifier traces map as orchestration traces do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.domain.runs import SpanKind
from service.traces.bedrock import BEDROCK_EVENT, as_json


def _only(union: Any) -> tuple[str, dict[str, Any]]:
    """The one member of a Bedrock union (``Trace``, ``OrchestrationTrace``), as (name, value)."""
    if isinstance(union, Mapping):
        for name, value in union.items():
            if isinstance(value, Mapping):
                return str(name), dict(value)
    return "", {}


def parameter_values(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    return {str(p.get("name")): p.get("value") for p in items if isinstance(p, Mapping) and p.get("name")}


def _location(reference: Mapping[str, Any]) -> str:
    """Where a retrieved reference came from, as one string (its S3 URI, URL or document id)."""
    location = reference.get("location") or {}
    for key, inner in (("s3Location", "uri"), ("webLocation", "url"), ("customDocumentLocation", "id")):
        value = (location.get(key) or {}).get(inner)
        if value:
            return str(value)
    return str(location.get("type") or "")


@dataclass
class TraceState:
    """What the span of a later trace event needs from earlier ones, and the tokens counted."""

    model: str = "bedrock-agent"
    action: str = "bedrock.action"
    input_tokens: int = 0
    output_tokens: int = 0


def _step_span(inner: str, value: dict[str, Any], state: TraceState) -> tuple[SpanKind, dict[str, Any], str]:
    """Kind, our attributes and status of one member of an orchestration-like trace."""
    if inner == "rationale":
        return SpanKind.RATIONALE, {"text": value.get("text") or ""}, "ok"
    if inner == "modelInvocationInput":
        state.model = str(value.get("foundationModel") or state.model)
        return SpanKind.MODEL, {"model_id": state.model, "prompt": str(value.get("type") or "bedrock")}, "ok"
    if inner == "modelInvocationOutput":
        usage = (value.get("metadata") or {}).get("usage") or {}
        tokens_in, tokens_out = int(usage.get("inputTokens") or 0), int(usage.get("outputTokens") or 0)
        state.input_tokens += tokens_in
        state.output_tokens += tokens_out
        return SpanKind.MODEL, {"model_id": state.model, "input_tokens": tokens_in, "output_tokens": tokens_out}, "ok"
    if inner == "invocationInput":
        if value.get("invocationType") == "KNOWLEDGE_BASE":
            lookup = value.get("knowledgeBaseLookupInput") or {}
            return (
                SpanKind.RETRIEVAL,
                {"query": lookup.get("text") or "", "repository": lookup.get("knowledgeBaseId"), "citations": []},
                "ok",
            )
        called = value.get("actionGroupInvocationInput") or {}
        operation = called.get("function") or " ".join(
            str(part) for part in (called.get("verb"), called.get("apiPath")) if part
        )
        state.action = f"{called.get('actionGroupName') or value.get('invocationType') or 'bedrock'}.{operation}"
        return SpanKind.TOOL, {"action": state.action, "input": parameter_values(called.get("parameters"))}, "ok"
    if inner == "observation":
        kind = value.get("type")
        if kind == "KNOWLEDGE_BASE":
            references = (value.get("knowledgeBaseLookupOutput") or {}).get("retrievedReferences") or []
            cited = [{"path": _location(ref)} for ref in references if isinstance(ref, Mapping)]
            return SpanKind.RETRIEVAL, {"query": "", "citations": cited}, "ok"
        if kind in ("ACTION_GROUP", "AGENT_COLLABORATOR"):
            output = value.get("actionGroupInvocationOutput") or value.get("agentCollaboratorInvocationOutput") or {}
            observed = output.get("text") or output.get("output") or ""
            return SpanKind.TOOL, {"action": state.action, "observation": observed}, "ok"
        said = (value.get("finalResponse") or value.get("repromptResponse") or {}).get("text") or ""
        return SpanKind.RATIONALE, {"text": f"{str(kind or 'observation').lower()}: {said}"}, "ok"
    return SpanKind.RATIONALE, {"text": inner}, "ok"


def trace_span(part: Mapping[str, Any], state: TraceState) -> tuple[SpanKind, str, dict[str, Any], str]:
    """A Bedrock ``TracePart`` as (kind, name, attributes, status): our attributes for the timeline and the
    exporters, and the event itself, as JSON, under ``bedrock_trace``."""
    event = as_json(dict(part))
    member, value = _only(event.get("trace"))
    if member in ("orchestrationTrace", "preProcessingTrace", "postProcessingTrace", "routingClassifierTrace"):
        inner, inner_value = _only(value)
        kind, attributes, status = _step_span(inner, inner_value, state)
        name = f"bedrock.{member}.{inner}"
    elif member == "guardrailTrace":
        intervened = value.get("action") == "INTERVENED"
        kind, name, status = SpanKind.GUARDRAIL, f"bedrock.{member}", "error" if intervened else "ok"
        attributes = {
            "decision": "deny" if intervened else "allow",
            "action": "bedrock.guardrail",
            "reason": f"the agent's guardrail answered {value.get('action')}",
        }
    elif member == "failureTrace":
        kind, name, status = SpanKind.FAILURE, f"bedrock.{member}", "error"
        attributes = {"error": value.get("failureReason") or "failure", "where": "bedrock agent"}
    else:
        text = (value.get("event") or {}).get("text") if member == "customOrchestrationTrace" else None
        kind, name, status = SpanKind.RATIONALE, f"bedrock.{member or 'trace'}", "ok"
        attributes = {"text": text or member}
    return kind, name, {**attributes, BEDROCK_EVENT: event}, status
