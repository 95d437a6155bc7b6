"""Recorded Bedrock action-group events replayed through every entry point, envelopes checked field by field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.container import Container
from service.lambda_handler import LambdaApp
from tests.conftest import load_fixture

EVENT_FIXTURES = [
    "bedrock/openapi_event_get.json",
    "bedrock/openapi_event_post.json",
    "bedrock/openapi_event_minimal.json",
    "bedrock/function_event.json",
]


@pytest.fixture
def lambda_app(container: Container) -> Iterator[LambdaApp]:
    app = LambdaApp(container)
    yield app
    app._loop.close()


def _via_http(client: TestClient, event: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/bedrock/actions", json=event)
    assert response.status_code == 200
    envelope: dict[str, Any] = response.json()
    return envelope


def _assert_echo(event: dict[str, Any], envelope: dict[str, Any]) -> None:
    assert envelope["messageVersion"] == "1.0"
    response = envelope["response"]
    assert response["actionGroup"] == event["actionGroup"]
    if "function" in event:
        assert response["function"] == event["function"]
        assert set(response) == {"actionGroup", "function", "functionResponse"}
    else:
        assert response["apiPath"] == event["apiPath"]
        assert response["httpMethod"] == event["httpMethod"]
        assert set(response) == {"actionGroup", "apiPath", "httpMethod", "httpStatusCode", "responseBody"}


@pytest.mark.parametrize("fixture", EVENT_FIXTURES)
def test_every_recorded_event_is_answered_alike_over_http_and_lambda(
    fixture: str, client: TestClient, lambda_app: LambdaApp
) -> None:
    event = load_fixture(fixture)
    over_http = _via_http(client, event)
    over_lambda = lambda_app(event, None)
    assert over_http == over_lambda
    _assert_echo(event, over_http)
    if "function" in event:
        assert "responseState" not in over_http["response"]["functionResponse"]
    else:
        assert over_http["response"]["httpStatusCode"] == 200


def test_minimal_event_matches_the_recorded_response_exactly(client: TestClient) -> None:
    event = load_fixture("bedrock/openapi_event_minimal.json")
    expected = load_fixture("bedrock/openapi_response.json")
    envelope = _via_http(client, event)
    assert envelope["messageVersion"] == expected["messageVersion"]
    assert envelope["response"] == expected["response"]
    # the event carried empty attribute maps; they come back as they were
    assert envelope["sessionAttributes"] == {}
    assert envelope["promptSessionAttributes"] == {}


def test_get_event_without_parameters_returns_the_claims(client: TestClient) -> None:
    envelope = _via_http(client, load_fixture("bedrock/openapi_event_get.json"))
    body = envelope["response"]["responseBody"]["application/json"]["body"]
    assert isinstance(body, str)
    assert json.loads(body) == {"claims": [{"id": "20", "status": "pending documents"}]}


def test_post_event_body_properties_are_coerced_and_session_attributes_updated(client: TestClient) -> None:
    envelope = _via_http(client, load_fixture("bedrock/openapi_event_post.json"))
    body = json.loads(envelope["response"]["responseBody"]["application/json"]["body"])
    assert body == {"claimId": 20, "sentFor": ["social number", "vat"]}
    assert envelope["sessionAttributes"] == {"lastReminder": "20"}
    assert envelope["promptSessionAttributes"] == {}


def test_function_event_answers_text_body_and_keeps_attributes(client: TestClient) -> None:
    event = load_fixture("bedrock/function_event.json")
    envelope = _via_http(client, event)
    function_response = envelope["response"]["functionResponse"]
    assert list(function_response["responseBody"]) == ["TEXT"]
    assert json.loads(function_response["responseBody"]["TEXT"]["body"]) == {
        "requestId": "VAC-2024-03-15",
        "days": 6,
    }
    assert envelope["sessionAttributes"] == event["sessionAttributes"]
    assert envelope["promptSessionAttributes"] == event["promptSessionAttributes"]


def test_lower_case_http_method_is_matched_and_echoed_as_sent(client: TestClient) -> None:
    event = load_fixture("bedrock/openapi_event_get.json") | {"httpMethod": "get"}
    envelope = _via_http(client, event)
    assert envelope["response"]["httpStatusCode"] == 200
    assert envelope["response"]["httpMethod"] == "get"


def test_calls_from_every_trigger_are_recorded(client: TestClient, lambda_app: LambdaApp) -> None:
    _via_http(client, load_fixture("bedrock/openapi_event_get.json"))
    lambda_app(load_fixture("bedrock/function_event.json"), None)
    client.get("/claims")
    calls = client.get("/v1/system/calls", params={"limit": 10}).json()["calls"]
    triggers = [(c["trigger"], c["operation_id"]) for c in calls]
    assert ("bedrock", "listClaims") in triggers
    assert ("lambda", "submitVacationRequest") in triggers
    assert ("rest", "listClaims") in triggers
    assert all(c["status_code"] == 200 for c in calls)
    session = next(c for c in calls if c["trigger"] == "bedrock")
    assert session["session_id"] == "12345678912345"


def _system_event(**fields: Any) -> dict[str, Any]:
    return load_fixture("bedrock/openapi_event_minimal.json") | {"actionGroup": "system"} | fields


def test_path_parameters_arrive_in_parameters_with_the_template_path(client: TestClient) -> None:
    client.get("/claims")
    call_id = client.get("/v1/system/calls", params={"limit": 1}).json()["calls"][0]["id"]
    event = _system_event(
        apiPath="/v1/system/calls/{callId}", parameters=[{"name": "callId", "type": "string", "value": call_id}]
    )
    inner = client.post("/v1/bedrock/actions", json=event).json()["response"]
    assert inner["apiPath"] == "/v1/system/calls/{callId}"
    assert json.loads(inner["responseBody"]["application/json"]["body"])["id"] == call_id


def test_a_path_with_the_value_substituted_is_matched_too(client: TestClient) -> None:
    client.get("/claims")
    call_id = client.get("/v1/system/calls", params={"limit": 1}).json()["calls"][0]["id"]
    inner = client.post("/v1/bedrock/actions", json=_system_event(apiPath=f"/v1/system/calls/{call_id}")).json()[
        "response"
    ]
    assert inner["httpStatusCode"] == 200
    assert inner["apiPath"] == f"/v1/system/calls/{call_id}", "echoed exactly as sent"


def test_function_form_takes_object_fields_as_json_text(client: TestClient) -> None:
    document = {"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {}}
    event = load_fixture("bedrock/function_event.json") | {
        "actionGroup": "system",
        "function": "lintActionSchema",
        "parameters": [
            {"name": "document", "type": "string", "value": json.dumps(document)},
            {"name": "groupName", "type": "string", "value": "tickets"},
        ],
    }
    inner = client.post("/v1/bedrock/actions", json=event).json()["response"]
    report = json.loads(inner["functionResponse"]["responseBody"]["TEXT"]["body"])
    assert report["valid"] is False
    assert [p["rule"] for p in report["problems"]] == ["paths"]


def test_stringified_arrays_are_decoded_for_array_fields() -> None:
    from pydantic import BaseModel, Field

    from service.action_groups.coercion import raw_values, validate_model
    from service.action_groups.envelope import EventParameter

    class Tags(BaseModel):
        tags: list[str] = Field(description="Tags.")
        ids: list[int] = Field(description="Ids.")

    values = raw_values(
        [
            EventParameter(name="tags", type="array", value="[bug, smell]"),
            EventParameter(name="ids", type="array", value="[1, 2]"),
        ]
    )
    model = validate_model(Tags, values, where="parameters")
    assert model.model_dump() == {"tags": ["bug", "smell"], "ids": [1, 2]}
