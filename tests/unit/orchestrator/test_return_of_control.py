"""Return of control through InvokeAgent: event streams built from the AWS examples
(``fixtures/bedrock/return_control_*.json``, ``trace_orchestration_stream_events_derived.json``) are encoded in
the event-stream format and parsed by botocore itself; the actions run through the dispatcher and the local
handlers; the results request botocore sends matches ``return_control_*_results_request.json`` field by field;
Bedrock's trace events are stored and come back unchanged."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from service.action_groups.operations import ActionGroup, CallContext, NoParams, Operation
from service.app import create_app
from service.container import Container, build_container
from service.domain.runs import RunState, SpanKind
from service.errors import ConfigurationError, Conflict, InvalidInput, UpstreamFailed
from service.orchestrator.bedrock_agent import AgentAnswer, BedrockAgentSession, PendingAction
from service.settings import Settings
from service.traces.bedrock import bedrock_trace
from service.traces.timeline import timeline
from tests.bedrock_streams import (
    HttpError,
    ScriptedAgent,
    chunk,
    exception,
    local_agent_runtime,
    return_control,
    trace,
)
from tests.conftest import load_fixture

AGENT, ALIAS, SESSION = "AGENT12345", "ALIAS12345", "session-1"
PATH = f"/agents/{AGENT}/agentAliases/{ALIAS}/sessions/{SESSION}/text"
QUESTION = "What's the weather in Seattle on 2024-09-15?"
FORECAST = "It's rainy in Seattle today."  # the body of the AWS example's results request
ANSWER = "It will rain in Seattle on 2024-09-15."
TRACE_EVENTS = "bedrock/trace_orchestration_stream_events_derived.json"  # derived from a console trace


class WeatherParams(BaseModel):
    location: str = Field(description="City.")
    date: str = Field(description="Day, YYYY-MM-DD.")


class Weather(BaseModel):
    forecast: str = Field(description="The weather.")


class ReportBody(BaseModel):
    location: str = Field(description="City.")
    note: str = Field(description="What was seen.")


class Reported(BaseModel):
    stored: bool = Field(description="Whether the report was kept.")


@dataclass
class WeatherDesk:
    """The handlers' side: what they were called with, and how they behave (``ok``, ``crash``, ``upstream``)."""

    mode: str = "ok"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def get_weather(self, ctx: CallContext, params: WeatherParams, body: None) -> Weather:
        self.calls.append(("getWeather", {**params.model_dump(), "trigger": ctx.trigger.value}))
        if self.mode == "crash":
            raise RuntimeError("the weather service is down")
        if self.mode == "upstream":
            raise UpstreamFailed("the weather service timed out")
        return Weather(forecast=FORECAST)

    async def report_weather(self, ctx: CallContext, params: NoParams, body: ReportBody | None) -> Reported:
        assert body is not None
        self.calls.append(("reportWeather", body.model_dump()))
        return Reported(stored=True)

    async def delete_reports(self, ctx: CallContext, params: WeatherParams, body: None) -> Reported:
        self.calls.append(("deleteReports", params.model_dump()))
        return Reported(stored=False)

    def group(self, _: Container) -> ActionGroup:
        return ActionGroup(
            name="WeatherAPIs",
            description="Weather (the AWS InvokeAgent return-of-control example).",
            prefix="",
            operations=(
                Operation(
                    operation_id="getWeather",
                    method="GET",
                    path="/get-weather",
                    summary="Weather",
                    description="The weather for a place and day.",
                    params=WeatherParams,
                    response=Weather,
                    handler=self.get_weather,
                ),
                Operation(
                    operation_id="reportWeather",
                    method="POST",
                    path="/report-weather",
                    summary="Report",
                    description="Keep a weather report.",
                    params=NoParams,
                    body=ReportBody,
                    response=Reported,
                    handler=self.report_weather,
                    writes=True,
                    require_confirmation=True,
                ),
                Operation(
                    operation_id="deleteReports",
                    method="DELETE",
                    path="/reports",
                    summary="Delete",
                    description="Delete the reports of a place and day.",
                    params=WeatherParams,
                    response=Reported,
                    handler=self.delete_reports,
                    writes=True,
                ),
            ),
        )


@pytest.fixture
def desk() -> WeatherDesk:
    return WeatherDesk()


@pytest.fixture
def container(settings: Settings, desk: WeatherDesk) -> Iterator[Container]:
    built = build_container(settings, in_memory=True, extra_groups=[desk.group])
    yield built
    built.close()


def _trace_parts() -> list[dict[str, Any]]:
    return [event["trace"] for event in load_fixture(TRACE_EVENTS)["events"]]


def _session(container: Container, agent: ScriptedAgent, answers: list[bool] | None = None) -> BedrockAgentSession:
    asked: list[bool] = list(answers or [])

    def confirm(pending: PendingAction) -> bool:
        assert asked, f"unexpected confirmation of {pending.action}"
        return asked.pop(0)

    return BedrockAgentSession(
        local_agent_runtime(agent),
        dispatcher=container.dispatcher,
        registry=container.registry,
        store=container.run_store,
        confirm=confirm,
    )


def _invoke(session: BedrockAgentSession) -> AgentAnswer:
    return asyncio.run(session.invoke(agent_id=AGENT, alias_id=ALIAS, session_id=SESSION, text=QUESTION))


def _result(sent_body: dict[str, Any]) -> dict[str, Any]:
    results = sent_body["sessionState"]["returnControlInvocationResults"]
    assert len(results) == 1
    member: dict[str, Any] = next(iter(results[0].values()))
    return member


def assert_field_by_field(ours: Any, theirs: Any, *, extra: frozenset[str], where: str = "request") -> None:
    """Every field of the AWS example is in ours with the same value. Ours may add only the fields in ``extra``;
    a ``body`` is the JSON string of our handler's result, whose ``forecast`` is the example's text."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        assert set(ours) - set(theirs) <= extra, f"{where}: unexpected {sorted(set(ours) - set(theirs))}"
        for key, value in theirs.items():
            assert key in ours, f"{where}.{key} is missing"
            if key == "body":
                assert json.loads(ours[key]) == {"forecast": value}, f"{where}.body"
            else:
                assert_field_by_field(ours[key], value, extra=extra, where=f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), where
        assert len(ours) == len(theirs), where
        for index, (mine, example) in enumerate(zip(ours, theirs, strict=True)):
            assert_field_by_field(mine, example, extra=extra, where=f"{where}[{index}]")
    else:
        assert ours == theirs, where


@pytest.mark.parametrize(
    ("fixture", "result_key", "extra"),
    [
        ("return_control_openapi", "apiResult", frozenset({"httpStatusCode"})),
        ("return_control_function", "functionResult", frozenset()),
    ],
)
def test_results_request_matches_the_aws_example_field_by_field(
    container: Container, desk: WeatherDesk, fixture: str, result_key: str, extra: frozenset[str]
) -> None:
    returned = load_fixture(f"bedrock/{fixture}.json")
    agent = ScriptedAgent(
        [[*(trace(part) for part in _trace_parts()), return_control(returned)], [chunk(ANSWER)]],
        session_id=SESSION,
    )
    answer = _invoke(_session(container, agent))

    assert answer.text == ANSWER
    assert answer.rounds == 2
    assert desk.calls == [("getWeather", {"location": "seattle", "date": "2024-09-15", "trigger": "bedrock"})]
    assert [sent.path for sent in agent.sent] == [PATH, PATH]  # the same session both times
    assert agent.sent[0].body == {"inputText": QUESTION, "enableTrace": True}
    expected = load_fixture(f"bedrock/{fixture}_results_request.json")
    assert_field_by_field(agent.sent[1].body, expected, extra=extra)
    assert list(agent.sent[1].body["sessionState"]["returnControlInvocationResults"][0]) == [result_key]
    if result_key == "apiResult":
        assert _result(agent.sent[1].body)["httpStatusCode"] == 200
    run = container.run_store.get(answer.run.id)
    assert run.state is RunState.SUCCEEDED
    assert run.workflow == "agent"
    assert run.trigger.value == "cli"
    assert run.result is not None
    assert run.result["text"] == ANSWER
    assert run.result["actions"][0]["executed"] is True


CITATION = {
    "generatedResponsePart": {"textResponsePart": {"text": ANSWER, "span": {"start": 0, "end": 37}}},
    "retrievedReferences": [
        {
            "content": {"text": "Seattle: rain expected on 2024-09-15."},
            "location": {"type": "S3", "s3Location": {"uri": "s3://weather-docs/seattle.md"}},
            "metadata": {"x-amz-bedrock-kb-source-uri": "s3://weather-docs/seattle.md"},
        }
    ],
}


def test_bedrock_trace_events_are_stored_and_come_back_unchanged(container: Container) -> None:
    returned = load_fixture("bedrock/return_control_openapi.json")
    agent = ScriptedAgent(
        [
            [*(trace(part) for part in _trace_parts()), return_control(returned)],
            [chunk(ANSWER[:10]), chunk(ANSWER[10:], {"citations": [CITATION]})],
        ]
    )
    answer = _invoke(_session(container, agent))
    assert answer.text == ANSWER
    assert answer.citations == [CITATION]
    run = container.run_store.get(answer.run.id)
    spans = container.run_store.spans(run.id)

    from_bedrock = [span for span in spans if "bedrock_trace" in span.attributes]
    assert [span.kind for span in from_bedrock] == [
        SpanKind.MODEL,
        SpanKind.MODEL,
        SpanKind.RATIONALE,
        SpanKind.TOOL,
        SpanKind.TOOL,
    ]
    assert from_bedrock[1].attributes["input_tokens"] == 692
    assert from_bedrock[3].attributes["action"] == "OtpMonitorActionGroup.get /get-otp-monitor"
    assert (run.usage.input_tokens, run.usage.output_tokens) == (692, 137)
    # The local action is a span of its own: a TOOL with its input, observation and HTTP status.
    local = [span for span in spans if span.kind is SpanKind.TOOL and "bedrock_trace" not in span.attributes]
    assert [span.name for span in local] == ["WeatherAPIs.getWeather"]
    assert local[0].attributes["observation"] == {"forecast": FORECAST}
    assert local[0].attributes["http_status_code"] == 200

    assert bedrock_trace(run, spans) == _trace_parts()
    with TestClient(create_app(container=container)) as client:
        body = client.get(f"/v1/runs/{run.id}/trace", params={"format": "bedrock"}).json()
        ours = client.get(f"/v1/runs/{run.id}/trace").json()
    assert body["events"] == [{"trace": part} for part in _trace_parts()]
    assert [span["kind"] for span in ours["spans"]].count("step") == 3  # invoke, return control, invoke
    text = timeline(run, spans)
    assert "WeatherAPIs.getWeather(location=seattle, date=2024-09-15)" in text
    assert "amazon.titan-text-premier-v1:0, 692 in / 137 out tokens" in text


def _confirming(kind: str, key: str) -> dict[str, Any]:
    """The AWS example with the action asking for the user's confirmation (x-requireConfirmation)."""
    returned = copy.deepcopy(load_fixture(f"bedrock/{kind}.json"))
    returned["invocationInputs"][0][key]["actionInvocationType"] = "USER_CONFIRMATION_AND_RESULT"
    return returned


@pytest.mark.parametrize(
    ("fixture", "key", "extra"),
    [
        ("return_control_openapi", "apiInvocationInput", frozenset({"httpStatusCode", "confirmationState"})),
        ("return_control_function", "functionInvocationInput", frozenset({"confirmationState"})),
    ],
)
def test_a_confirmed_action_runs_and_says_confirm(
    container: Container, desk: WeatherDesk, fixture: str, key: str, extra: frozenset[str]
) -> None:
    agent = ScriptedAgent([[return_control(_confirming(fixture, key))], [chunk(ANSWER)]])
    answer = _invoke(_session(container, agent, answers=[True]))

    assert len(desk.calls) == 1
    result = _result(agent.sent[1].body)
    assert result["confirmationState"] == "CONFIRM"
    assert_field_by_field(agent.sent[1].body, load_fixture(f"bedrock/{fixture}_results_request.json"), extra=extra)
    guardrails = [s for s in container.run_store.spans(answer.run.id) if s.kind is SpanKind.GUARDRAIL]
    assert [g.attributes["decision"] for g in guardrails] == ["allow"]


@pytest.mark.parametrize(
    ("fixture", "key"),
    [("return_control_openapi", "apiInvocationInput"), ("return_control_function", "functionInvocationInput")],
)
def test_a_denied_action_is_not_run_and_says_deny(
    container: Container, desk: WeatherDesk, fixture: str, key: str
) -> None:
    agent = ScriptedAgent([[return_control(_confirming(fixture, key))], [chunk("Fine, I will not check.")]])
    answer = _invoke(_session(container, agent, answers=[False]))

    assert desk.calls == []
    result = _result(agent.sent[1].body)
    assert result["confirmationState"] == "DENY"
    assert result["actionGroup"] == "WeatherAPIs"
    assert "httpStatusCode" not in result
    assert "responseState" not in result
    body = json.loads(next(iter(result["responseBody"].values()))["body"])
    assert "declined WeatherAPIs.getWeather" in body["error"]["message"]
    assert agent.sent[1].body["sessionState"]["invocationId"] == load_fixture(f"bedrock/{fixture}.json")["invocationId"]
    assert answer.actions[0].executed is False
    spans = container.run_store.spans(answer.run.id)
    assert not [s for s in spans if s.kind is SpanKind.TOOL]
    assert [s.attributes["decision"] for s in spans if s.kind is SpanKind.GUARDRAIL] == ["deny"]


def _report_control(invocation_type: str | None = None) -> dict[str, Any]:
    given: dict[str, Any] = {
        "actionGroup": "WeatherAPIs",
        "apiPath": "/report-weather",
        "httpMethod": "POST",
        "parameters": [],
        "requestBody": {
            "content": {
                "application/json": {
                    "properties": [
                        {"name": "location", "type": "string", "value": "seattle"},
                        {"name": "note", "type": "string", "value": "drizzle"},
                    ]
                }
            }
        },
    }
    if invocation_type:
        given["actionInvocationType"] = invocation_type
    return {"invocationId": "report-1", "invocationInputs": [{"apiInvocationInput": given}]}


def test_our_confirmation_rule_holds_when_bedrock_does_not_ask(container: Container, desk: WeatherDesk) -> None:
    """reportWeather requires confirmation: the user is asked even though the input does not say so; the
    request body reaches the handler; no confirmationState goes back (Bedrock did not ask)."""
    agent = ScriptedAgent([[return_control(_report_control())], [chunk("Stored.")]])
    _invoke(_session(container, agent, answers=[True]))
    assert desk.calls == [("reportWeather", {"location": "seattle", "note": "drizzle"})]
    result = _result(agent.sent[1].body)
    assert result["httpStatusCode"] == 200
    assert "confirmationState" not in result
    assert json.loads(result["responseBody"]["application/json"]["body"]) == {"stored": True}

    declined = ScriptedAgent([[return_control(_report_control())], [chunk("Not stored.")]])
    _invoke(_session(container, declined, answers=[False]))
    assert len(desk.calls) == 1
    refused = _result(declined.sent[1].body)
    assert refused["httpStatusCode"] == 403
    assert "confirmationState" not in refused


def test_a_write_without_confirmation_is_refused_by_the_bedrock_allow_list(
    container: Container, desk: WeatherDesk
) -> None:
    returned = copy.deepcopy(load_fixture("bedrock/return_control_openapi.json"))
    given = returned["invocationInputs"][0]["apiInvocationInput"]
    given |= {"apiPath": "/reports", "httpMethod": "DELETE"}
    agent = ScriptedAgent([[return_control(returned)], [chunk("I could not delete them.")]])
    answer = _invoke(_session(container, agent))
    assert desk.calls == []
    result = _result(agent.sent[1].body)
    assert result["httpStatusCode"] == 403
    assert "x-requireConfirmation" in json.loads(result["responseBody"]["application/json"]["body"])["error"]["message"]
    assert answer.run.state is RunState.SUCCEEDED


@pytest.mark.parametrize(("mode", "status"), [("crash", 424), ("upstream", 502)])
def test_a_failing_handler_is_an_error_result_not_a_crash(
    container: Container, desk: WeatherDesk, mode: str, status: int
) -> None:
    desk.mode = mode
    agent = ScriptedAgent(
        [[return_control(load_fixture("bedrock/return_control_openapi.json"))], [chunk("The weather service failed.")]]
    )
    answer = _invoke(_session(container, agent))
    result = _result(agent.sent[1].body)
    assert result["httpStatusCode"] == status
    assert json.loads(result["responseBody"]["application/json"]["body"])["error"]["code"] in (
        "handler_failed",
        "upstream_failed",
    )
    assert answer.run.state is RunState.SUCCEEDED
    tools = [s for s in container.run_store.spans(answer.run.id) if s.kind is SpanKind.TOOL]
    assert [t.status for t in tools] == ["error"]


def test_a_failing_function_handler_says_failure(container: Container, desk: WeatherDesk) -> None:
    desk.mode = "crash"
    agent = ScriptedAgent([[return_control(load_fixture("bedrock/return_control_function.json"))], [chunk("No.")]])
    _invoke(_session(container, agent))
    result = _result(agent.sent[1].body)
    assert result["responseState"] == "FAILURE"
    assert set(result) == {"actionGroup", "function", "responseBody", "responseState"}


def test_a_stream_exception_is_a_clear_error_and_the_run_fails(container: Container) -> None:
    parts = _trace_parts()
    agent = ScriptedAgent([[trace(parts[0]), trace(parts[2]), exception("throttlingException", "Rate exceeded.")]])
    with pytest.raises(UpstreamFailed) as raised:
        _invoke(_session(container, agent))
    assert "ThrottlingException: Rate exceeded." in raised.value.message
    assert raised.value.hint
    assert "quota" in raised.value.hint
    run_id = raised.value.details["runId"]
    run = container.run_store.get(run_id)
    assert run.state is RunState.FAILED
    assert run.error is not None
    assert "Rate exceeded" in run.error
    spans = container.run_store.spans(run_id)
    assert bedrock_trace(run, spans) == [parts[0], parts[2]]  # what arrived before the exception is kept
    assert [s.kind for s in spans].count(SpanKind.FAILURE) == 1


@pytest.mark.parametrize(
    ("error", "raised", "hint"),
    [
        (HttpError(403, "AccessDeniedException", "not authorized"), ConfigurationError, "bedrock:InvokeAgent"),
        (HttpError(404, "ResourceNotFoundException", "no such agent"), ConfigurationError, "--agent-id"),
        (HttpError(400, "ValidationException", "bad request"), ConfigurationError, "prepared version"),
        (HttpError(500, "InternalServerException", "oops"), UpstreamFailed, "retry later"),
        (HttpError(409, "ConflictException", "session busy"), Conflict, "--session-id"),
    ],
)
def test_http_errors_of_invoke_agent_have_hints(
    container: Container, error: HttpError, raised: type[Exception], hint: str
) -> None:
    agent = ScriptedAgent([error] * 5)  # botocore retries a 500 by itself
    with pytest.raises(raised) as caught:
        _invoke(_session(container, agent))
    assert hint in (getattr(caught.value, "hint", None) or "")
    assert container.run_store.get(caught.value.details["runId"]).state is RunState.FAILED  # type: ignore[attr-defined]


def test_missing_credentials_are_a_configuration_error(
    container: Container, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.client("bedrock-agent-runtime", region_name="us-east-1")
    session = BedrockAgentSession(
        client,
        dispatcher=container.dispatcher,
        registry=container.registry,
        store=container.run_store,
        confirm=lambda pending: False,
    )
    with pytest.raises(ConfigurationError, match="no AWS credentials") as raised:
        _invoke(session)
    assert raised.value.hint is not None
    assert "credentials" in raised.value.hint


def test_bad_ids_are_refused_before_calling(container: Container) -> None:
    agent = ScriptedAgent([])
    session = _session(container, agent)
    with pytest.raises(InvalidInput, match="agent id"):
        asyncio.run(session.invoke(agent_id="not-an-id!", alias_id=ALIAS, text=QUESTION))
    with pytest.raises(InvalidInput, match="session id"):
        asyncio.run(session.invoke(agent_id=AGENT, alias_id=ALIAS, session_id="x", text=QUESTION))
    assert agent.sent == []


def test_an_agent_that_keeps_asking_stops_after_max_rounds(container: Container, desk: WeatherDesk) -> None:
    returned = load_fixture("bedrock/return_control_function.json")
    agent = ScriptedAgent([[chunk("Checking. "), return_control(returned)] for _ in range(3)])
    session = BedrockAgentSession(
        local_agent_runtime(agent),
        dispatcher=container.dispatcher,
        registry=container.registry,
        store=container.run_store,
        confirm=lambda pending: True,
        max_rounds=3,
    )
    answer = asyncio.run(session.invoke(agent_id=AGENT, alias_id=ALIAS, text=QUESTION))
    assert answer.stopped_by == "rounds"
    assert answer.run.state is RunState.STOPPED
    assert len(agent.sent) == 3
    assert len(desk.calls) == 3
    assert answer.text == "Checking. " * 3
