"""A run's spans as the trace events Amazon Bedrock Agents stream from ``InvokeAgent``.

Each event is a ``TracePart`` (``agentId``, ``agentAliasId``, ``agentVersion``, ``sessionId``, ``eventTime``,
``trace``) whose ``trace`` holds exactly one member of the ``Trace`` union, and an ``orchestrationTrace`` exactly
one member of its union, as on the wire: field names and enums follow botocore's ``bedrock-agent-runtime``
model (``TracePart``, ``OrchestrationTrace``, ``InvocationInput``, ``Observation``, ``GuardrailTrace``,
``FailureTrace``), which the tests validate every event against. ``eventTime`` and the ``metadata`` times are
datetimes, as botocore parses them; :func:`as_json` turns them into the ISO strings of the JSON wire form.

Mapping: RATIONALE -> ``rationale``; TOOL -> ``invocationInput`` ACTION_GROUP + ``observation`` ACTION_GROUP;
MODEL -> ``modelInvocationInput`` ORCHESTRATION + ``modelInvocationOutput`` with token usage; RETRIEVAL ->
``invocationInput`` KNOWLEDGE_BASE + ``observation`` KNOWLEDGE_BASE with the cited chunks; GUARDRAIL ->
``guardrailTrace`` (deny and redact INTERVENED, allow NONE); FAILURE -> ``failureTrace``; the end of a finished
run -> ``observation`` FINISH with ``finalResponse`` (a failed run ends with a ``failureTrace`` instead). STEP
spans have no Bedrock event; their trace id (``<run id>-<step>``, Bedrock's own ``<uuid>-<step>`` form) groups
the events of a step as Bedrock's ``traceId`` does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from service.domain.runs import Run, RunState, Span, SpanKind

AGENT_ID = "TICKETSMTH"  # at most 10 of [0-9a-zA-Z] (botocore AgentId)
AGENT_ALIAS_ID = "TSTALIASID"  # Bedrock's alias id for an agent's working draft
AGENT_VERSION = "DRAFT"

# botocore's ModelIdentifier pattern, the parts a model id (not an ARN) can match.
_MODEL_ID = re.compile(
    r"^(([a-z0-9-]{1,63}[.][a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2})|(([0-9a-zA-Z][_-]?)+))$"
)
_SESSION_CHARS = re.compile(r"[^0-9a-zA-Z._:-]")
_OUTPUT_LIMIT = 25_000  # characters of an observation or a prompt kept in an event
BEDROCK_EVENT = "bedrock_trace"  # span attribute holding a TracePart received from Bedrock itself, as JSON


def session_id(run: Run) -> str:
    """The run id as a Bedrock session id (2..100 of ``[0-9a-zA-Z._:-]``)."""
    cleaned = _SESSION_CHARS.sub("-", run.id)[:100]
    return cleaned if len(cleaned) >= 2 else f"{cleaned}--"[:2]


def _text(value: Any, limit: int = _OUTPUT_LIMIT) -> str:
    """A string for a text field: strings as they are, anything else as compact JSON; cut at ``limit``."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def _param_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _parameters(values: Any) -> list[dict[str, str]]:
    """An action's input as Bedrock ``Parameter`` items (``value`` is always a string)."""
    if not isinstance(values, Mapping):
        return [] if values is None else [{"name": "input", "type": _param_type(values), "value": _text(values)}]
    return [{"name": str(name), "type": _param_type(value), "value": _text(value)} for name, value in values.items()]


def _metadata(span: Span) -> dict[str, Any]:
    """Bedrock's trace ``Metadata``: when the span started and ended, and how long it took."""
    ended = span.started_at + timedelta(milliseconds=span.duration_ms)
    return {"startTime": span.started_at, "endTime": ended, "totalTimeMs": round(span.duration_ms)}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class _Events:
    """Builds the TracePart envelopes of one run."""

    def __init__(self, run: Run) -> None:
        self._envelope = {
            "agentId": AGENT_ID,
            "agentAliasId": AGENT_ALIAS_ID,
            "agentVersion": AGENT_VERSION,
            "sessionId": session_id(run),
        }
        self.events: list[dict[str, Any]] = []

    def add(self, at: datetime, trace: dict[str, Any]) -> None:
        self.events.append({**self._envelope, "eventTime": at.astimezone(UTC), "trace": trace})

    def orchestration(self, at: datetime, member: str, value: dict[str, Any]) -> None:
        self.add(at, {"orchestrationTrace": {member: value}})


def _split_action(action: str) -> tuple[str, str]:
    """``codebase.searchCode`` -> (``codebase``, ``searchCode``); a name without a group is both."""
    group, dot, operation = action.partition(".")
    return (group, operation) if dot and group and operation else (action, action)


def _tool(events: _Events, span: Span) -> None:
    attributes = span.attributes
    action = str(attributes.get("action") or span.name)
    group, operation = _split_action(action)
    invocation: dict[str, Any] = {"actionGroupName": group, "function": operation, "executionType": "LAMBDA"}
    if isinstance(attributes.get("api_path"), str):
        invocation["apiPath"] = attributes["api_path"]
    verb = attributes.get("verb") or attributes.get("http_method")
    if isinstance(verb, str):
        invocation["verb"] = verb.lower()
    invocation["parameters"] = _parameters(attributes.get("input"))
    events.orchestration(
        span.started_at,
        "invocationInput",
        {"traceId": span.trace_id, "invocationType": "ACTION_GROUP", "actionGroupInvocationInput": invocation},
    )
    observation = attributes.get("observation")
    events.orchestration(
        span.started_at + timedelta(milliseconds=span.duration_ms),
        "observation",
        {
            "traceId": span.trace_id,
            "type": "ACTION_GROUP",
            "actionGroupInvocationOutput": {
                "text": _text(observation if observation is not None else ""),
                "metadata": _metadata(span),
            },
        },
    )


def _model(events: _Events, span: Span) -> None:
    attributes = span.attributes
    model_id = str(attributes.get("model_id") or "")
    prompt = attributes.get("prompt")
    text = attributes.get("input_text") or (
        f"prompt {prompt} version {attributes.get('prompt_version')}" if prompt else ""
    )
    invocation: dict[str, Any] = {"traceId": span.trace_id, "text": _text(text), "type": "ORCHESTRATION"}
    if _MODEL_ID.match(model_id):  # anything else (e.g. a provider/model path) is not a Bedrock model id
        invocation["foundationModel"] = model_id
    events.orchestration(span.started_at, "modelInvocationInput", invocation)
    usage = {"inputTokens": _int(attributes.get("input_tokens")), "outputTokens": _int(attributes.get("output_tokens"))}
    events.orchestration(
        span.started_at + timedelta(milliseconds=span.duration_ms),
        "modelInvocationOutput",
        {
            "traceId": span.trace_id,
            "rawResponse": {"content": _text(attributes.get("output_text") or "")},
            "metadata": {**_metadata(span), "usage": usage},
        },
    )


def _reference(citation: Any, repository: str) -> dict[str, Any]:
    """One cited chunk as a Bedrock ``RetrievedReference`` (location CUSTOM, as our Retrieve answers)."""
    fields = citation if isinstance(citation, Mapping) else {"text": citation}
    path = str(fields.get("path") or "")
    start, end = fields.get("start_line"), fields.get("end_line")
    commit = str(fields.get("commit") or "")
    uri = f"kb://{repository}/{path}?commit={commit}#L{start}-L{end}"
    text = fields.get("text") or f"{path}:{start}-{end} {fields.get('symbol') or ''}".rstrip()
    metadata: dict[str, Any] = {
        "x-amz-bedrock-kb-source-uri": uri,
        "x-amz-bedrock-kb-data-source-id": repository,
        **{key: value for key, value in fields.items() if key != "text" and value is not None},
    }
    return {
        "content": {"type": "TEXT", "text": _text(text)},
        "location": {"type": "CUSTOM", "customDocumentLocation": {"id": uri}},
        "metadata": metadata,
    }


def _retrieval(events: _Events, span: Span) -> None:
    attributes = span.attributes
    repository = str(attributes.get("repository") or "codebase")
    events.orchestration(
        span.started_at,
        "invocationInput",
        {
            "traceId": span.trace_id,
            "invocationType": "KNOWLEDGE_BASE",
            "knowledgeBaseLookupInput": {"knowledgeBaseId": repository, "text": _text(attributes.get("query") or "")},
        },
    )
    citations = attributes.get("citations")
    references = [_reference(c, repository) for c in citations] if isinstance(citations, list) else []
    events.orchestration(
        span.started_at + timedelta(milliseconds=span.duration_ms),
        "observation",
        {
            "traceId": span.trace_id,
            "type": "KNOWLEDGE_BASE",
            "knowledgeBaseLookupOutput": {"retrievedReferences": references, "metadata": _metadata(span)},
        },
    )


def _guardrail(events: _Events, span: Span) -> None:
    """Deny: the action as a denied topic, blocked. Redact: secrets anonymised in what went out. Allow: NONE."""
    attributes = span.attributes
    decision = str(attributes.get("decision") or "")
    action = _text(attributes.get("action") or "")
    trace: dict[str, Any] = {"traceId": span.trace_id, "metadata": _metadata(span)}
    if decision == "deny":
        topic = {"name": action, "type": "DENY", "action": "BLOCKED"}
        trace |= {"action": "INTERVENED", "inputAssessments": [{"topicPolicy": {"topics": [topic]}}]}
    elif decision == "redact":
        regex = {"name": _text(attributes.get("reason") or "secret"), "action": "ANONYMIZED"}
        trace |= {"action": "INTERVENED", "outputAssessments": [{"sensitiveInformationPolicy": {"regexes": [regex]}}]}
    else:
        trace["action"] = "NONE"
    events.add(span.started_at, {"guardrailTrace": trace})


def _failure(events: _Events, span: Span) -> None:
    attributes = span.attributes
    where = attributes.get("where")
    reason = _text(attributes.get("error") or span.name)
    events.add(
        span.started_at,
        {
            "failureTrace": {
                "traceId": span.trace_id,
                "failureReason": f"{where}: {reason}" if where else reason,
                "metadata": _metadata(span),
            }
        },
    )


def _final_text(run: Run) -> str:
    if run.state is RunState.SUCCEEDED:
        summary = (run.result or {}).get("summary")
        return _text(summary if summary is not None else run.result or "")
    if run.state is RunState.STOPPED:
        return _text(run.result or run.error or "stopped: the budget was spent")
    return f"{run.state.value}: {run.error}" if run.error else run.state.value


def _end(events: _Events, run: Run, spans: Sequence[Span]) -> None:
    if not run.state.terminal:
        return
    steps = sum(1 for span in spans if span.kind is SpanKind.STEP)
    trace_id = spans[-1].trace_id if spans else f"{run.id}-{steps}"
    at = run.finished_at or (spans[-1].started_at if spans else run.updated_at)
    if run.state is RunState.FAILED:
        if not any(span.kind is SpanKind.FAILURE for span in spans) or run.error:
            events.add(
                at, {"failureTrace": {"traceId": trace_id, "failureReason": _text(run.error or "the run failed")}}
            )
        return
    events.orchestration(
        at, "observation", {"traceId": trace_id, "type": "FINISH", "finalResponse": {"text": _final_text(run)}}
    )


_RENDERERS = {
    SpanKind.TOOL: _tool,
    SpanKind.MODEL: _model,
    SpanKind.RETRIEVAL: _retrieval,
    SpanKind.GUARDRAIL: _guardrail,
    SpanKind.FAILURE: _failure,
}


def bedrock_trace(run: Run, spans: Iterable[Span]) -> list[dict[str, Any]]:
    """The ``TracePart`` events of ``run`` (spans in sequence order), ending with FINISH when it finished.

    A run of a Bedrock agent (spans holding Bedrock's own event under ``bedrock_trace``) answers those events
    as they were received, in their JSON form, and nothing else.
    """
    ordered = sorted(spans, key=lambda span: span.sequence)
    received = [span.attributes[BEDROCK_EVENT] for span in ordered if BEDROCK_EVENT in span.attributes]
    if received:
        return received
    events = _Events(run)
    for span in ordered:
        if span.kind is SpanKind.RATIONALE:
            text = _text(span.attributes.get("text") or "")
            events.orchestration(span.started_at, "rationale", {"traceId": span.trace_id, "text": text})
            continue
        renderer = _RENDERERS.get(span.kind)
        if renderer is not None:
            renderer(events, span)
    _end(events, run, ordered)
    return events.events


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_json(value: Any) -> Any:
    """``value`` with every datetime as Bedrock's JSON timestamp (``2025-06-05T12:10:31.591Z``)."""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, Mapping):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(item) for item in value]
    return value
