"""The OpenTelemetry exporter: GenAI semantic-convention spans, one trace per run, over OTLP/HTTP when enabled."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from service.adapters.storage.memory_runs import InMemoryRunStore
from service.container import build_container
from service.settings import Settings, TelemetrySettings
from service.traces.otel import OtelSink, build_otel_sink, build_provider, export_run, otel_trace_id
from service.traces.recorder import TraceRecorder
from tests.run_samples import RUN_ID, new_run, record_sample


@pytest.fixture
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def _sink(exporter: InMemorySpanExporter, *, capture_content: bool = False) -> OtelSink:
    provider = build_provider(service_name="ticketsmith-test", processor=SimpleSpanProcessor(exporter))
    return OtelSink(provider, capture_content=capture_content)


def _by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


def test_a_stored_run_becomes_one_trace_of_genai_spans(exported: InMemorySpanExporter) -> None:
    store = InMemoryRunStore()
    run = record_sample(store)
    export_run(_sink(exported), run, store.spans(RUN_ID))
    spans = exported.get_finished_spans()
    names = [span.name for span in spans]
    assert names == [
        "execute_tool quality.runChecks",
        "retrieval",
        "step check",
        "chat anthropic.claude-3-5-sonnet-20240620-v1:0",
        "execute_tool tickets.file",
        "step write",
        "invoke_agent scan",
    ]
    assert {span.context.trace_id for span in spans} == {int(RUN_ID, 16)}
    named = _by_name(spans)
    root = named["invoke_agent scan"]
    assert root.parent is None
    assert root.attributes is not None
    assert (root.attributes["gen_ai.operation.name"], root.attributes["gen_ai.agent.name"]) == ("invoke_agent", "scan")
    assert root.attributes["gen_ai.usage.input_tokens"] == 692
    assert root.status.status_code is StatusCode.OK
    assert root.resource.attributes["service.name"] == "ticketsmith-test"
    for step in ("step check", "step write"):
        assert named[step].parent is not None
        assert named[step].parent.span_id == root.context.span_id
    check, write = named["step check"], named["step write"]
    tool = named["execute_tool quality.runChecks"]
    assert tool.parent is not None
    assert tool.parent.span_id == check.context.span_id
    assert tool.attributes == {
        "ticketsmith.span.sequence": 1,
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "quality.runChecks",
        "gen_ai.tool.type": "function",
    }
    chat = named["chat anthropic.claude-3-5-sonnet-20240620-v1:0"]
    assert chat.parent is not None
    assert chat.parent.span_id == write.context.span_id
    assert chat.kind is SpanKind.CLIENT
    assert chat.attributes is not None
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.request.model"] == "anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert (chat.attributes["gen_ai.usage.input_tokens"], chat.attributes["gen_ai.usage.output_tokens"]) == (692, 137)
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert chat.end_time is not None
    assert chat.start_time is not None
    assert chat.end_time - chat.start_time == 3_719_000_000
    assert "gen_ai.input.messages" not in chat.attributes  # content only when asked for
    retrieval = named["retrieval"]
    assert retrieval.attributes is not None
    assert retrieval.attributes["gen_ai.operation.name"] == "retrieval"
    assert retrieval.attributes["gen_ai.data_source.id"] == "ticketsmith"
    assert retrieval.attributes["ticketsmith.citations.count"] == 2
    documents = json.loads(str(retrieval.attributes["gen_ai.retrieval.documents"]))
    assert documents[0] == {"id": "service/triage.py:10-42", "score": 0.82}
    assert [event.name for event in check.events] == ["rationale"]
    assert [event.name for event in write.events] == ["guardrail", "guardrail", "exception"]
    assert write.events[0].attributes is not None
    assert write.events[0].attributes["ticketsmith.guardrail.decision"] == "deny"
    assert write.events[2].attributes is not None
    assert write.events[2].attributes["exception.message"] == "UpstreamFailed: Jira answered 503"


def test_live_spans_join_the_run_trace_and_content_is_opt_in(exported: InMemorySpanExporter) -> None:
    store = InMemoryRunStore()
    run = store.create(new_run("run-not-hex"))
    sink = _sink(exported, capture_content=True)
    recorder = TraceRecorder(store, run.id, sinks=[sink])
    with recorder.step("inspect"):
        recorder.rationale("look closer")
        with recorder.tool("codebase.searchCode", {"query": "parse"}) as call:
            call.observation = {"hits": 1}
        recorder.model(
            model_id="deterministic",
            prompt="ticket",
            prompt_version="1",
            input_tokens=0,
            output_tokens=0,
            stop_reason="end_turn",
            duration_ms=0.5,
            input_text="in",
            output_text="out",
        )
    with pytest.raises(ValueError, match="bad"), recorder.step("write"):
        raise ValueError("bad")
    recorder.rationale("outside any closed step")
    assert len(exported.get_finished_spans()) == 4  # the root is exported when the run ends
    sink.end_run(run)
    named = _by_name(exported.get_finished_spans())
    assert {span.context.trace_id for span in named.values()} == {otel_trace_id("run-not-hex")}
    tool = named["execute_tool codebase.searchCode"]
    assert tool.attributes is not None
    assert json.loads(str(tool.attributes["gen_ai.tool.call.arguments"])) == {"query": "parse"}
    assert json.loads(str(tool.attributes["gen_ai.tool.call.result"])) == {"hits": 1}
    chat = named["chat deterministic"]
    assert chat.kind is SpanKind.INTERNAL
    assert chat.attributes is not None
    assert chat.attributes["gen_ai.input.messages"] == "in"
    failed = named["step write"]
    assert failed.status.status_code is StatusCode.ERROR
    assert [event.name for event in failed.events] == ["exception"]
    root = named["invoke_agent scan"]
    assert [event.name for event in root.events] == ["rationale"]  # an unclosed step's events land on the root
    assert named["step inspect"].events[0].attributes == {"ticketsmith.rationale": "look closer"}


def test_the_sink_never_raises(
    exported: InMemorySpanExporter, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another test's logging configuration (e.g. uvicorn's dictConfig) may have disabled existing loggers.
    monkeypatch.setattr(logging.getLogger("service.traces.otel"), "disabled", False)
    caplog.set_level(logging.WARNING, logger="service.traces.otel")
    store = InMemoryRunStore()
    record_sample(store)
    naive = datetime(2026, 12, 2, 9, 0)  # no time zone: cannot be placed on the OTel clock
    sink = _sink(exported)
    sink.emit(replace(store.spans(RUN_ID)[1], started_at=naive))
    sink.end_run(replace(new_run(), created_at=naive))
    assert exported.get_finished_spans() == ()
    assert [r.message for r in caplog.records] == [
        "OpenTelemetry export of a span failed",
        "OpenTelemetry export of a run failed",
    ]


def test_export_is_off_without_an_endpoint() -> None:
    assert build_otel_sink(TelemetrySettings()) is None


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    received: list[tuple[str, str, bytes]] = []
    handler = type("Handler", (_Collector,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1/traces", received
    server.shutdown()
    server.server_close()


def test_otlp_http_export_reaches_a_collector(collector: tuple[str, list[tuple[str, str, bytes]]]) -> None:
    endpoint, received = collector
    sink = build_otel_sink(TelemetrySettings(otlp_endpoint=endpoint, service_name="ticketsmith-otlp"))
    assert sink is not None
    store = InMemoryRunStore()
    run = record_sample(store)
    export_run(sink, run, store.spans(RUN_ID))
    sink.close()  # flushes the batch
    assert received
    assert {(path, content_type) for path, content_type, _ in received} == {("/v1/traces", "application/x-protobuf")}
    names, resources = [], set()
    for _, _, body in received:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resources |= {a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"}
            for scope_spans in resource_spans.scope_spans:
                names += [span.name for span in scope_spans.spans]
                assert {span.trace_id.hex() for span in scope_spans.spans} == {RUN_ID}
    assert resources == {"ticketsmith-otlp"}
    assert sorted(names) == sorted(
        [
            "execute_tool quality.runChecks",
            "retrieval",
            "step check",
            "chat anthropic.claude-3-5-sonnet-20240620-v1:0",
            "execute_tool tickets.file",
            "step write",
            "invoke_agent scan",
        ]
    )


def test_the_container_exports_only_when_an_endpoint_is_set(tmp_path: Path) -> None:
    off = build_container(Settings(data_dir=tmp_path), in_memory=True)
    assert off.trace_sinks == []
    off.close()
    on = build_container(
        Settings(data_dir=tmp_path, telemetry=TelemetrySettings(otlp_endpoint="http://127.0.0.1:9/v1/traces")),
        in_memory=True,
    )
    assert [type(sink) for sink in on.trace_sinks] == [OtelSink]
    on.close()
