"""Rendered Bedrock trace events are valid ``TracePart``s by botocore's model and look like recorded ones."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape, StructureShape
from botocore.validate import ParamValidator

from service.adapters.storage.memory_runs import InMemoryRunStore
from service.domain.runs import RunState, SpanKind
from service.traces.bedrock import as_json, bedrock_trace, session_id
from service.traces.recorder import TraceRecorder
from tests.run_samples import RUN_ID, new_run, record_sample

FIXTURES = Path("/work/shared/fixtures/bedrock")
MODEL = botocore.session.get_session().get_service_model("bedrock-agent-runtime")
TRACE_PART = MODEL.shape_for("TracePart")


def _strict(value: Any, shape: Shape, path: str, errors: list[str]) -> None:
    """What ParamValidator leaves out: string enums, max lengths and patterns, and unknown members.

    ``traceId`` is exempt from its max of 16: Bedrock itself sends ``<uuid>-<step>`` (38 characters, see the
    recorded fixture), so the model's limit is not what the service enforces.
    """
    if isinstance(shape, StructureShape):
        for name, item in value.items():
            if name not in shape.members:
                errors.append(f"{path}.{name}: not a member of {shape.name}")
            else:
                _strict(item, shape.members[name], f"{path}.{name}", errors)
    elif shape.type_name == "list":
        for i, item in enumerate(value):
            _strict(item, shape.member, f"{path}[{i}]", errors)  # type: ignore[attr-defined]
    elif shape.type_name == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} not in {shape.enum}")
        limit = shape.metadata.get("max")
        if limit is not None and len(value) > limit and shape.name != "TraceId":
            errors.append(f"{path}: longer than {limit}")
        pattern = shape.metadata.get("pattern")
        if pattern and not re.search(pattern, value):
            errors.append(f"{path}: {value!r} does not match {pattern}")


def _assert_valid(event: dict[str, Any]) -> None:
    report = ParamValidator().validate(event, TRACE_PART)
    assert not report.has_errors(), report.generate_report()
    errors: list[str] = []
    _strict(event, TRACE_PART, "TracePart", errors)
    assert errors == []


def _member(event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(``orchestrationTrace.<member>`` or the Trace member, its value): each union has exactly one member."""
    ((trace_member, value),) = event["trace"].items()
    if trace_member == "orchestrationTrace":
        ((inner, inner_value),) = value.items()
        return f"orchestrationTrace.{inner}", inner_value
    return trace_member, value


@pytest.fixture
def rendered() -> list[dict[str, Any]]:
    store = InMemoryRunStore()
    run = record_sample(store)
    return bedrock_trace(run, store.spans(RUN_ID))


def test_every_event_is_a_valid_trace_part(rendered: list[dict[str, Any]]) -> None:
    assert rendered
    for event in rendered:
        _assert_valid(event)
        assert isinstance(event["eventTime"], datetime)


def test_events_follow_the_spans_in_order(rendered: list[dict[str, Any]]) -> None:
    kinds = [_member(event)[0] for event in rendered]
    assert kinds == [
        "orchestrationTrace.rationale",
        "orchestrationTrace.invocationInput",  # quality.runChecks
        "orchestrationTrace.observation",
        "orchestrationTrace.invocationInput",  # knowledge-base lookup
        "orchestrationTrace.observation",
        "orchestrationTrace.modelInvocationInput",
        "orchestrationTrace.modelInvocationOutput",
        "guardrailTrace",  # deny
        "guardrailTrace",  # allow
        "failureTrace",
        "orchestrationTrace.invocationInput",  # tickets.file
        "orchestrationTrace.observation",
        "orchestrationTrace.observation",  # FINISH
    ]
    assert {e["sessionId"] for e in rendered} == {RUN_ID}
    assert [_member(e)[1]["traceId"] for e in rendered[:5]] == [f"{RUN_ID}-0"] * 5
    assert _member(rendered[5])[1]["traceId"] == f"{RUN_ID}-1"


def test_the_members_carry_what_the_spans_recorded(rendered: list[dict[str, Any]]) -> None:
    members = [_member(event)[1] for event in rendered]
    tool_in, tool_out = members[1], members[2]
    assert tool_in["invocationType"] == "ACTION_GROUP"
    assert tool_in["actionGroupInvocationInput"] == {
        "actionGroupName": "quality",
        "function": "runChecks",
        "executionType": "LAMBDA",
        "parameters": [
            {"name": "root", "type": "string", "value": "ticketsmith"},
            {"name": "since", "type": "string", "value": "HEAD~1"},
            {"name": "limit", "type": "integer", "value": "50"},
        ],
    }
    assert tool_out["type"] == "ACTION_GROUP"
    assert json.loads(tool_out["actionGroupInvocationOutput"]["text"]) == {"findings": 2, "files": 7}
    lookup, found = members[3], members[4]
    assert lookup["knowledgeBaseLookupInput"] == {
        "knowledgeBaseId": "ticketsmith",
        "text": "where is the priority parsed",
    }
    references = found["knowledgeBaseLookupOutput"]["retrievedReferences"]
    assert [r["metadata"]["path"] for r in references] == ["service/triage.py", "README.md"]
    assert references[0]["location"] == {
        "type": "CUSTOM",
        "customDocumentLocation": {"id": "kb://ticketsmith/service/triage.py?commit=abc123#L10-L42"},
    }
    model_in, model_out = members[5], members[6]
    assert model_in["foundationModel"] == "anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert (model_in["type"], model_in["text"]) == (
        "ORCHESTRATION",
        "Write a ticket for: unused import in service/triage.py",
    )
    assert model_out["metadata"]["usage"] == {"inputTokens": 692, "outputTokens": 137}
    assert model_out["metadata"]["totalTimeMs"] == 3719
    assert model_out["rawResponse"] == {"content": "Summary: remove the unused import"}
    deny, allow = members[7], members[8]
    assert deny["action"] == "INTERVENED"
    assert deny["inputAssessments"][0]["topicPolicy"]["topics"][0]["name"] == "jira.transitionIssue"
    assert allow["action"] == "NONE"
    assert members[9]["failureReason"] == "tickets.file: UpstreamFailed: Jira answered 503"
    assert members[-1] == {
        "traceId": f"{RUN_ID}-1",
        "type": "FINISH",
        "finalResponse": {"text": "2 findings, 1 ticket filed (TS-12)"},
    }


def test_the_structure_matches_recorded_bedrock_events(rendered: list[dict[str, Any]]) -> None:
    recorded = json.loads((FIXTURES / "trace_orchestration_stream_events_derived.json").read_text())["events"]
    step = json.loads((FIXTURES / "trace_orchestration_console_step.json").read_text())
    theirs = {_member(event["trace"])[0]: event["trace"] for event in recorded}
    ours = {}
    for event in rendered:
        ours.setdefault(_member(event)[0], event)
    for member, their_event in theirs.items():
        our_event = ours[member]
        assert set(our_event) == set(their_event) - {"callerChain"}
        our_value, their_value = _member(our_event)[1], _member(their_event)[1]
        optional = {"inferenceConfiguration", "apiPath", "verb", "clientRequestId"}
        assert set(their_value) - optional <= set(our_value), member
    tool_in = ours["orchestrationTrace.invocationInput"]["trace"]["orchestrationTrace"]["invocationInput"]
    their_in = step["invocationInput"][0]
    assert set(their_in["actionGroupInvocationInput"]) - {"apiPath", "verb"} <= set(
        tool_in["actionGroupInvocationInput"]
    )
    output = ours["orchestrationTrace.observation"]["trace"]["orchestrationTrace"]["observation"]
    assert set(output["actionGroupInvocationOutput"]) == set(step["observation"][0]["actionGroupInvocationOutput"])
    assert set(output["actionGroupInvocationOutput"]["metadata"]) <= set(
        step["observation"][0]["actionGroupInvocationOutput"]["metadata"]
    )
    our_usage = ours["orchestrationTrace.modelInvocationOutput"]["trace"]["orchestrationTrace"]["modelInvocationOutput"]
    assert set(our_usage["metadata"]["usage"]) == set(step["modelInvocationOutput"]["metadata"]["usage"])


def test_the_recorded_fixture_passes_the_same_validation() -> None:
    """The checks are those a real Bedrock event passes (timestamps parsed as botocore parses them)."""
    recorded = json.loads((FIXTURES / "trace_orchestration_stream_events_derived.json").read_text())["events"]
    for event in recorded:
        part = dict(event["trace"], sessionId="s-1")
        part["eventTime"] = datetime.fromisoformat(part["eventTime"])
        _assert_valid(part)


def test_a_misnamed_field_is_caught() -> None:
    """The userguide's ``inputToken`` (not the model's ``inputTokens``) fails, so the test has teeth."""
    event = {
        "agentId": "A1",
        "sessionId": "s-1",
        "trace": {"orchestrationTrace": {"modelInvocationOutput": {"metadata": {"usage": {"inputToken": 1}}}}},
    }
    assert ParamValidator().validate(event, TRACE_PART).has_errors()


def test_a_failed_run_ends_with_a_failure_trace_and_a_running_one_without_an_end() -> None:
    store = InMemoryRunStore()
    run = store.create(new_run())
    failed = replace(run, state=RunState.FAILED, error="HandlerFailed: the checker crashed")
    events = bedrock_trace(failed, [])
    assert [_member(e) for e in events] == [
        ("failureTrace", {"traceId": f"{RUN_ID}-0", "failureReason": "HandlerFailed: the checker crashed"})
    ]
    _assert_valid(events[0])
    assert bedrock_trace(replace(run, state=RunState.RUNNING), []) == []
    stopped = bedrock_trace(replace(run, state=RunState.STOPPED, result={"limit": "tokens"}), [])
    assert _member(stopped[0])[1]["finalResponse"]["text"] == '{"limit": "tokens"}'


def test_odd_values_still_make_valid_events() -> None:
    store = InMemoryRunStore()
    run = store.create(new_run("run/with spaces"))
    recorder = TraceRecorder(store, run.id)
    with recorder.tool("noGroup", {"nested": {"a": [1, None]}, "flag": True, "ratio": 0.5}) as call:
        call.observation = "plain text"
    recorder.model(
        model_id="openai/gpt-4o",
        prompt="p",
        prompt_version="1",
        input_tokens=-1,
        output_tokens=2,
        stop_reason="x",
        duration_ms=0,
    )
    recorder.retrieval(query="q", citations=[], duration_ms=0)
    recorder.guardrail(decision="redact", action="jira.createIssue", reason="aws_access_key")
    recorder.record(SpanKind.RATIONALE, "rationale", {})
    events = bedrock_trace(replace(run, state=RunState.CANCELLED), store.spans(run.id))
    for event in events:
        _assert_valid(event)
    assert session_id(run) == "run-with-spaces"
    assert "foundationModel" not in _member(events[2])[1]
    params = _member(events[0])[1]["actionGroupInvocationInput"]["parameters"]
    assert params[0] == {"name": "nested", "type": "object", "value": '{"a": [1, null]}'}
    assert _member(events[-1])[1]["finalResponse"]["text"] == "cancelled"


def test_as_json_writes_bedrock_timestamps(rendered: list[dict[str, Any]]) -> None:
    wire = as_json(rendered)
    json.dumps(wire)
    assert wire[0]["eventTime"] == "2026-12-02T09:00:00.250Z"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
        wire[2]["trace"]["orchestrationTrace"]["observation"]["actionGroupInvocationOutput"]["metadata"]["endTime"],
    )
