from datetime import UTC, datetime

import pytest

from service.adapters.storage.memory_runs import InMemoryRunStore
from service.domain.runs import Span, SpanKind
from service.traces.recorder import TraceRecorder


class Sink:
    def __init__(self) -> None:
        self.spans: list[Span] = []

    def emit(self, span: Span) -> None:
        self.spans.append(span)


def test_spans_of_a_step_share_its_trace_id_and_the_step_closes_them() -> None:
    store, sink = InMemoryRunStore(), Sink()
    recorder = TraceRecorder(store, "run1", sinks=[sink])
    with recorder.step("inspect"):
        recorder.rationale("look at the code around the finding")
        with recorder.tool("codebase.searchCode", {"query": "parse"}) as call:
            call.observation = {"hits": 2}
    with recorder.step("write"):
        recorder.model(
            model_id="deterministic",
            prompt="ticket",
            prompt_version="1",
            input_tokens=0,
            output_tokens=0,
            stop_reason="end_turn",
            duration_ms=0.1,
        )
    spans = store.spans("run1")
    assert [s.sequence for s in spans] == [0, 1, 2, 3, 4]
    assert [(s.kind, s.trace_id) for s in spans] == [
        (SpanKind.RATIONALE, "run1-0"),
        (SpanKind.TOOL, "run1-0"),
        (SpanKind.STEP, "run1-0"),
        (SpanKind.MODEL, "run1-1"),
        (SpanKind.STEP, "run1-1"),
    ]
    assert spans[1].attributes == {
        "action": "codebase.searchCode",
        "input": {"query": "parse"},
        "observation": {"hits": 2},
    }
    assert sink.spans == spans


def test_a_failing_step_records_the_failure_and_re_raises() -> None:
    store = InMemoryRunStore()
    recorder = TraceRecorder(store, "run2")
    with pytest.raises(ValueError, match="boom"), recorder.step("check"), recorder.tool("quality.runChecks", {}):
        raise ValueError("boom")
    tool, failure, step = store.spans("run2")
    assert (tool.status, tool.attributes["observation"]) == ("error", {"error": "ValueError: boom"})
    assert failure.kind is SpanKind.FAILURE
    assert failure.attributes["where"] == "check"
    assert (step.kind, step.status) == (SpanKind.STEP, "error")


def test_a_resumed_run_appends_after_the_stored_spans() -> None:
    store = InMemoryRunStore()
    first = TraceRecorder(store, "run3")
    with first.step("sync"):
        first.rationale("sync first")
    resumed = TraceRecorder(store, "run3", clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    assert resumed.trace_id == "run3-1"
    with resumed.step("check"):
        pass
    assert [s.sequence for s in store.spans("run3")] == [0, 1, 2]
    assert store.spans("run3", after_sequence=1)[0].name == "check"


def test_attributes_pass_the_scrub_before_they_are_stored() -> None:
    store = InMemoryRunStore()
    recorder = TraceRecorder(store, "run4", scrub=lambda attrs: {k: "[scrubbed]" for k in attrs})
    recorder.rationale("AKIAIOSFODNN7EXAMPLE")
    assert store.spans("run4")[0].attributes == {"text": "[scrubbed]"}
