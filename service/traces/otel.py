"""OpenTelemetry export of run traces with the GenAI semantic conventions (opt-in: the ``otel`` extra).

One OTel trace per run: a root ``invoke_agent <workflow>`` span, a ``step <name>`` span per workflow step under
it, and under each step ``chat <model>`` (MODEL), ``execute_tool <action>`` (TOOL) and ``retrieval``
(RETRIEVAL) spans. RATIONALE, GUARDRAIL and FAILURE spans become events of their step's span (``rationale``,
``guardrail``, ``exception``). Names and attributes follow the OpenTelemetry GenAI conventions as of
semantic-conventions v1.41.0 ``docs/gen-ai/gen-ai-spans.md`` and ``gen-ai-agent-spans.md``, and their
successor repository open-telemetry/semantic-conventions-genai v0.1.0 (``docs/gen-ai/retrieval.md``: the
retrieval span is named ``{gen_ai.operation.name}``, i.e. ``retrieval``); the attribute keys are those of
``opentelemetry-semantic-conventions`` 0.66b2 (``gen_ai_attributes``), written out here because that module
marks them deprecated (moved to the new repository). A workflow run is exported as ``invoke_agent`` (not the
newer ``invoke_workflow``) with ``gen_ai.agent.name`` the workflow: the form most GenAI trace viewers show.

Spans arrive one at a time (:class:`OtelSink` is a :class:`~service.traces.recorder.SpanSink`) and a step's
span is recorded after its children, so ids are derived from the run: the OTel trace id is the run id when it
is 32 hex digits (else a hash of it), and the root's and each step's span id a hash of the run id and the
step's trace id. Children are parented on those ids before their parent is exported. Prompts, tool arguments
and results, and retrieval queries are content, recorded only with ``capture_content`` (they passed the
redaction gate either way).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

from service.domain.runs import Run, RunState, Span
from service.domain.runs import SpanKind as RunSpanKind
from service.settings import TelemetrySettings

log = logging.getLogger(__name__)

OPERATION = "gen_ai.operation.name"
AGENT_NAME = "gen_ai.agent.name"
CONVERSATION_ID = "gen_ai.conversation.id"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
PROMPT_NAME = "gen_ai.prompt.name"
TOOL_NAME = "gen_ai.tool.name"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT = "gen_ai.tool.call.result"
DATA_SOURCE_ID = "gen_ai.data_source.id"
RETRIEVAL_QUERY_TEXT = "gen_ai.retrieval.query.text"
RETRIEVAL_DOCUMENTS = "gen_ai.retrieval.documents"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_CONTENT_LIMIT = 8_000


def _hash(*parts: str, bits: int) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[: bits // 8], "big") or 1  # 0 is the invalid id


def otel_trace_id(run_id: str) -> int:
    """The run's OTel trace id: the run id itself when it is a 32-digit hex (uuid4().hex) id."""
    return (int(run_id, 16) or 1) if _HEX32.match(run_id) else _hash("trace", run_id, bits=128)


def _root_span_id(run_id: str) -> int:
    return _hash("root", run_id, bits=64)


def _step_span_id(run_id: str, step_trace_id: str) -> int:
    return _hash("step", run_id, step_trace_id, bits=64)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(value: datetime) -> int:
    """Nanoseconds since the epoch, exactly (a float timestamp loses the microseconds)."""
    return (value - _EPOCH) // timedelta(microseconds=1) * 1000


def _end_ns(span: Span) -> int:
    return _ns(span.started_at) + round(max(span.duration_ms, 0.0) * 1_000_000)


def _content(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= _CONTENT_LIMIT else text[:_CONTENT_LIMIT] + "…"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _PresetIds(IdGenerator):
    """Random ids, except for the span being started under :meth:`preset` (ids derived from the run)."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()
        self._next: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("preset", default=None)

    def preset(self, trace_id: int, span_id: int) -> contextvars.Token[tuple[int, int] | None]:
        return self._next.set((trace_id, span_id))

    def clear(self, token: contextvars.Token[tuple[int, int] | None]) -> None:
        self._next.reset(token)

    def generate_span_id(self) -> int:
        preset = self._next.get()
        return preset[1] if preset is not None else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        preset = self._next.get()
        return preset[0] if preset is not None else self._random.generate_trace_id()


def build_provider(
    *, service_name: str, processor: SpanProcessor | None = None, exporter: SpanExporter | None = None
) -> TracerProvider:
    """A tracer provider that can give spans the ids :class:`OtelSink` derives; ``processor`` or ``exporter``
    (batched) receives the finished spans."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}), id_generator=_PresetIds())
    if processor is None and exporter is not None:
        processor = BatchSpanProcessor(exporter)
    if processor is not None:
        provider.add_span_processor(processor)
    return provider


class OtelSink:
    """A :class:`~service.traces.recorder.SpanSink` that exports each span to OpenTelemetry as it is recorded.

    Call :meth:`end_run` when the run reaches a terminal state (or whenever its root span should be exported);
    :func:`export_run` replays a stored run through both. Never raises: an export problem is logged.
    """

    def __init__(self, provider: TracerProvider, *, capture_content: bool = False) -> None:
        ids = provider.id_generator
        if not isinstance(ids, _PresetIds):
            raise TypeError("the provider must come from build_provider (it presets span ids)")
        self._provider = provider
        self._ids = ids
        self._tracer = provider.get_tracer("ticketsmith.traces")
        self._capture = capture_content
        self._pending: dict[tuple[str, str], list[Span]] = {}  # events of steps not closed yet
        self._lock = threading.Lock()

    def emit(self, span: Span) -> None:
        try:
            self._emit(span)
        except Exception:  # the SpanSink contract: telemetry never breaks a run
            log.warning("OpenTelemetry export of a span failed", exc_info=True)

    def end_run(self, run: Run, *, started_at: datetime | None = None) -> None:
        """Export the run's root span (``invoke_agent <workflow>``), with the events of unclosed steps."""
        try:
            self._end_run(run, started_at)
        except Exception:
            log.warning("OpenTelemetry export of a run failed", exc_info=True)

    def close(self) -> None:
        """Flush and stop the provider's processors."""
        self._provider.shutdown()

    # -- internals ---------------------------------------------------------------------------------------------

    def _parent(self, run_id: str, span_id: int) -> Any:
        context = SpanContext(
            trace_id=otel_trace_id(run_id), span_id=span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )
        return trace.set_span_in_context(NonRecordingSpan(context))

    def _emit(self, span: Span) -> None:
        if span.kind in (RunSpanKind.RATIONALE, RunSpanKind.GUARDRAIL, RunSpanKind.FAILURE):
            with self._lock:
                self._pending.setdefault((span.run_id, span.trace_id), []).append(span)
            return
        if span.kind is RunSpanKind.STEP:
            self._step(span)
            return
        name, kind, attributes = self._describe(span)
        parent = self._parent(span.run_id, _step_span_id(span.run_id, span.trace_id))
        otel = self._tracer.start_span(
            name, context=parent, kind=kind, attributes=attributes, start_time=_ns(span.started_at)
        )
        if span.status != "ok":
            otel.set_status(Status(StatusCode.ERROR, _content(span.attributes.get("observation") or span.status)))
        otel.end(end_time=_end_ns(span))

    def _step(self, span: Span) -> None:
        with self._lock:
            events = self._pending.pop((span.run_id, span.trace_id), [])
        token = self._ids.preset(otel_trace_id(span.run_id), _step_span_id(span.run_id, span.trace_id))
        try:
            otel = self._tracer.start_span(
                f"step {span.name}",
                context=self._parent(span.run_id, _root_span_id(span.run_id)),
                kind=SpanKind.INTERNAL,
                attributes={"ticketsmith.step.name": span.name, "ticketsmith.span.sequence": span.sequence},
                start_time=_ns(span.started_at),
            )
        finally:
            self._ids.clear(token)
        self._add_events(otel, events)
        if span.status != "ok":
            otel.set_status(Status(StatusCode.ERROR, "the step failed"))
        otel.end(end_time=_end_ns(span))

    def _end_run(self, run: Run, started_at: datetime | None) -> None:
        with self._lock:
            orphans = [s for key, spans in self._pending.items() if key[0] == run.id for s in spans]
            for key in [key for key in self._pending if key[0] == run.id]:
                del self._pending[key]
        attributes: dict[str, AttributeValue] = {
            OPERATION: "invoke_agent",
            AGENT_NAME: run.workflow,
            CONVERSATION_ID: run.id,
            USAGE_INPUT_TOKENS: run.usage.input_tokens,
            USAGE_OUTPUT_TOKENS: run.usage.output_tokens,
            "ticketsmith.run.id": run.id,
            "ticketsmith.run.state": run.state.value,
            "ticketsmith.run.trigger": run.trigger.value,
            "ticketsmith.run.planner": run.planner,
            "ticketsmith.run.steps": run.usage.steps,
            "ticketsmith.run.tickets": run.usage.tickets,
        }
        if run.repository:
            attributes["ticketsmith.run.repository"] = run.repository
        if run.planner != "deterministic":
            attributes[REQUEST_MODEL] = run.planner
        token = self._ids.preset(otel_trace_id(run.id), _root_span_id(run.id))
        try:
            otel = self._tracer.start_span(
                f"invoke_agent {run.workflow}",
                context=trace.set_span_in_context(trace.INVALID_SPAN),  # a root, whatever is current
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                start_time=_ns(started_at or run.created_at),
            )
        finally:
            self._ids.clear(token)
        self._add_events(otel, orphans)
        if run.state is RunState.FAILED:
            otel.set_status(Status(StatusCode.ERROR, run.error or "the run failed"))
        elif run.state.terminal:
            otel.set_status(Status(StatusCode.OK))
        end = run.finished_at or run.updated_at
        otel.end(end_time=max(_ns(end), _ns(started_at or run.created_at)))

    def _add_events(self, otel: trace.Span, spans: Iterable[Span]) -> None:
        for span in spans:
            attributes = span.attributes
            if span.kind is RunSpanKind.RATIONALE:
                values: dict[str, AttributeValue] = {}
                if self._capture:
                    values["ticketsmith.rationale"] = _content(attributes.get("text") or "")
                otel.add_event("rationale", values, timestamp=_ns(span.started_at))
            elif span.kind is RunSpanKind.GUARDRAIL:
                values = {
                    "ticketsmith.guardrail.decision": str(attributes.get("decision") or ""),
                    "ticketsmith.guardrail.action": str(attributes.get("action") or ""),
                    "ticketsmith.guardrail.reason": _content(attributes.get("reason") or ""),
                }
                otel.add_event("guardrail", values, timestamp=_ns(span.started_at))
            else:
                values = {
                    "exception.message": _content(attributes.get("error") or span.name),
                    "ticketsmith.failure.where": str(attributes.get("where") or ""),
                }
                otel.add_event("exception", values, timestamp=_ns(span.started_at))

    def _describe(self, span: Span) -> tuple[str, SpanKind, dict[str, AttributeValue]]:
        attributes = span.attributes
        common: dict[str, AttributeValue] = {"ticketsmith.span.sequence": span.sequence}
        if span.kind is RunSpanKind.MODEL:
            model = str(attributes.get("model_id") or "unknown")
            values: dict[str, AttributeValue] = {**common, OPERATION: "chat", REQUEST_MODEL: model}
            for key, name in ((USAGE_INPUT_TOKENS, "input_tokens"), (USAGE_OUTPUT_TOKENS, "output_tokens")):
                count = _int(attributes.get(name))
                if count is not None:
                    values[key] = count
            if attributes.get("stop_reason"):
                values[RESPONSE_FINISH_REASONS] = (str(attributes["stop_reason"]),)
            if attributes.get("prompt"):
                values[PROMPT_NAME] = str(attributes["prompt"])
                values["ticketsmith.prompt.version"] = str(attributes.get("prompt_version") or "")
            if self._capture:
                values[INPUT_MESSAGES] = _content(attributes.get("input_text") or "")
                values[OUTPUT_MESSAGES] = _content(attributes.get("output_text") or "")
            # A template rendered without a model is local work; a model call is a client call.
            kind = SpanKind.INTERNAL if model == "deterministic" else SpanKind.CLIENT
            return f"chat {model}", kind, values
        if span.kind is RunSpanKind.TOOL:
            action = str(attributes.get("action") or span.name)
            values = {**common, OPERATION: "execute_tool", TOOL_NAME: action, TOOL_TYPE: "function"}
            if self._capture:
                values[TOOL_CALL_ARGUMENTS] = _content(attributes.get("input") or {})
                values[TOOL_CALL_RESULT] = _content(attributes.get("observation"))
            return f"execute_tool {action}", SpanKind.INTERNAL, values
        # RETRIEVAL
        citations = attributes.get("citations")
        cited = [c for c in citations if isinstance(c, Mapping)] if isinstance(citations, list) else []
        documents = [
            {"id": f"{c.get('path')}:{c.get('start_line')}-{c.get('end_line')}", "score": c.get("score")} for c in cited
        ]
        values = {
            **common,
            OPERATION: "retrieval",
            RETRIEVAL_DOCUMENTS: json.dumps(documents),
            "ticketsmith.citations.count": len(cited),
        }
        if attributes.get("repository"):
            values[DATA_SOURCE_ID] = str(attributes["repository"])
        if self._capture:
            values[RETRIEVAL_QUERY_TEXT] = _content(attributes.get("query") or "")
        return "retrieval", SpanKind.CLIENT, values


def export_run(sink: OtelSink, run: Run, spans: Iterable[Span]) -> None:
    """Export a stored run at once: every span in sequence order, then the root span."""
    ordered = sorted(spans, key=lambda span: span.sequence)
    for span in ordered:
        sink.emit(span)
    started = min([run.created_at, *(span.started_at for span in ordered)])
    sink.end_run(run, started_at=started)


def build_otel_sink(settings: TelemetrySettings) -> OtelSink | None:
    """The OTLP/HTTP exporting sink when ``settings.otlp_endpoint`` is set, else None (no export)."""
    if not settings.otlp_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint)
    return OtelSink(build_provider(service_name=settings.service_name, exporter=exporter))
