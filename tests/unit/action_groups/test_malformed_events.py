"""Malformed and failing Bedrock events: always a well-formed envelope the agent can read, never an HTTP 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.container import build_container
from service.settings import ServerSettings
from tests.conftest import SAMPLE_GROUPS, load_fixture, make_settings

GET = load_fixture("bedrock/openapi_event_get.json")
POST = load_fixture("bedrock/openapi_event_post.json")
FUNCTION = load_fixture("bedrock/function_event.json")


def _without(event: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != key}


def _post_props(*props: dict[str, Any]) -> dict[str, Any]:
    return POST | {"requestBody": {"content": {"application/json": {"properties": list(props)}}}}


# (case id, raw request body, expected status in the envelope, expected error code)
OPENAPI_CASES: list[tuple[str, bytes, int, str]] = [
    ("not json", b"{not json", 400, "invalid_input"),
    ("empty body", b"", 400, "invalid_input"),
    ("json array", b"[1, 2]", 400, "invalid_input"),
    ("json string", b'"event"', 400, "invalid_input"),
    ("no messageVersion", json.dumps(_without(GET, "messageVersion")).encode(), 400, "invalid_input"),
    ("messageVersion 2.0", json.dumps(GET | {"messageVersion": "2.0"}).encode(), 400, "invalid_input"),
    ("no actionGroup", json.dumps(_without(GET, "actionGroup")).encode(), 400, "invalid_input"),
    ("empty actionGroup", json.dumps(GET | {"actionGroup": ""}).encode(), 400, "invalid_input"),
    ("actionGroup not a string", json.dumps(GET | {"actionGroup": 7}).encode(), 400, "invalid_input"),
    ("unknown actionGroup", json.dumps(GET | {"actionGroup": "Nope"}).encode(), 404, "not_found"),
    ("unknown apiPath", json.dumps(GET | {"apiPath": "/claims/missing"}).encode(), 404, "not_found"),
    ("wrong method", json.dumps(GET | {"httpMethod": "DELETE"}).encode(), 404, "not_found"),
    ("apiPath without method", json.dumps(_without(GET, "httpMethod")).encode(), 400, "invalid_input"),
    ("parameters not a list", json.dumps(GET | {"parameters": {"a": 1}}).encode(), 400, "invalid_input"),
    (
        "parameter without name",
        json.dumps(GET | {"parameters": [{"type": "string", "value": "x"}]}).encode(),
        400,
        "invalid_input",
    ),
    (
        "body in text/plain",
        json.dumps(POST | {"requestBody": {"content": {"text/plain": {"properties": []}}}}).encode(),
        400,
        "invalid_input",
    ),
    (
        "required body field missing",
        json.dumps(_post_props({"name": "claimId", "type": "integer", "value": "20"})).encode(),
        422,
        "validation_failed",
    ),
    (
        "body field mistyped",
        json.dumps(
            _post_props(
                {"name": "claimId", "type": "integer", "value": "twenty"},
                {"name": "pendingDocuments", "type": "string", "value": "vat"},
            )
        ).encode(),
        422,
        "validation_failed",
    ),
    ("no body at all", json.dumps(_without(POST, "requestBody")).encode(), 422, "validation_failed"),
    ("sessionAttributes not strings", json.dumps(GET | {"sessionAttributes": {"n": 1}}).encode(), 400, "invalid_input"),
    ("nested too deeply to decode", b"[" * 30_000 + b"]" * 30_000, 400, "invalid_input"),
    (
        "a parameter value nested too deeply to decode",
        json.dumps(
            _post_props(
                {"name": "claimId", "type": "array", "value": "[" * 30_000 + "]" * 30_000},
                {"name": "pendingDocuments", "type": "string", "value": "vat"},
            )
        ).encode(),
        422,
        "validation_failed",
    ),
]


@pytest.mark.parametrize(
    ("payload", "status", "code"), [c[1:] for c in OPENAPI_CASES], ids=[c[0] for c in OPENAPI_CASES]
)
def test_malformed_openapi_event_gets_an_error_envelope(
    client: TestClient, payload: bytes, status: int, code: str
) -> None:
    response = client.post("/v1/bedrock/actions", content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 200
    envelope = response.json()
    assert envelope["messageVersion"] == "1.0"
    inner = envelope["response"]
    assert inner["httpStatusCode"] == status
    assert set(inner) == {"actionGroup", "apiPath", "httpMethod", "httpStatusCode", "responseBody"}
    error = json.loads(inner["responseBody"]["application/json"]["body"])["error"]
    assert error["code"] == code
    assert error["message"]


def test_error_envelope_echoes_what_it_could_read(client: TestClient) -> None:
    event = GET | {"apiPath": "/claims/missing", "httpMethod": "get"}
    inner = client.post("/v1/bedrock/actions", json=event).json()["response"]
    assert (inner["actionGroup"], inner["apiPath"], inner["httpMethod"]) == (
        GET["actionGroup"],
        "/claims/missing",
        "get",
    )
    hint = json.loads(inner["responseBody"]["application/json"]["body"])["error"]["hint"]
    assert "GET /claims" in hint


FUNCTION_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown function", FUNCTION | {"function": "fly"}, "REPROMPT", "not_found"),
    ("missing parameter", FUNCTION | {"parameters": FUNCTION["parameters"][:1]}, "REPROMPT", "validation_failed"),
    (
        "mistyped parameter",
        FUNCTION
        | {"parameters": [{"name": "startDate", "type": "string", "value": "March"}, FUNCTION["parameters"][1]]},
        "REPROMPT",
        "validation_failed",
    ),
    (
        "handler crash",
        FUNCTION | {"function": "misbehave", "parameters": [{"name": "mode", "type": "string", "value": "crash"}]},
        "FAILURE",
        "handler_failed",
    ),
    (
        "handler conflict",
        FUNCTION | {"function": "misbehave", "parameters": [{"name": "mode", "type": "string", "value": "conflict"}]},
        "FAILURE",
        "conflict",
    ),
]


@pytest.mark.parametrize(
    ("event", "state", "code"), [c[1:] for c in FUNCTION_CASES], ids=[c[0] for c in FUNCTION_CASES]
)
def test_function_event_failures_say_reprompt_or_failure(
    client: TestClient, event: dict[str, Any], state: str, code: str
) -> None:
    envelope = client.post("/v1/bedrock/actions", json=event).json()
    inner = envelope["response"]
    assert inner["actionGroup"] == event["actionGroup"]
    assert inner["function"] == event["function"]
    assert inner["functionResponse"]["responseState"] == state
    error = json.loads(inner["functionResponse"]["responseBody"]["TEXT"]["body"])["error"]
    assert error["code"] == code
    assert envelope["sessionAttributes"] == FUNCTION["sessionAttributes"]


@pytest.fixture
def strict_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, server=ServerSettings(max_body_bytes=2048, handler_timeout_seconds=0.2))
    container = build_container(settings, in_memory=True, extra_groups=SAMPLE_GROUPS)
    with TestClient(create_app(container=container), raise_server_exceptions=False) as test_client:
        yield test_client


def test_oversized_event_is_refused_with_413_in_an_envelope(strict_client: TestClient) -> None:
    event = GET | {"inputText": "x" * 4096}
    response = strict_client.post("/v1/bedrock/actions", json=event)
    assert response.status_code == 200
    inner = response.json()["response"]
    assert inner["httpStatusCode"] == 413
    assert json.loads(inner["responseBody"]["application/json"]["body"])["error"]["code"] == "payload_too_large"


def test_oversized_rest_body_is_refused_with_413(strict_client: TestClient) -> None:
    response = strict_client.post("/send-reminders", json={"claimId": 1, "pendingDocuments": "x" * 4096})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_hanging_handler_is_stopped_with_408(strict_client: TestClient) -> None:
    event = FUNCTION | {"function": "misbehave", "parameters": [{"name": "mode", "type": "string", "value": "sleep"}]}
    inner = strict_client.post("/v1/bedrock/actions", json=event).json()["response"]
    assert inner["functionResponse"]["responseState"] == "FAILURE"
    assert json.loads(inner["functionResponse"]["responseBody"]["TEXT"]["body"])["error"]["code"] == "handler_timeout"


def test_failures_are_recorded_with_their_status(client: TestClient) -> None:
    client.post("/v1/bedrock/actions", json=FUNCTION_CASES[3][1])
    calls = client.get("/v1/system/calls", params={"actionGroup": "VacationsActionGroup"}).json()["calls"]
    assert [(c["operation_id"], c["status_code"], c["error_code"]) for c in calls] == [
        ("misbehave", 424, "handler_failed")
    ]


def test_oversized_chunked_body_is_refused_too(strict_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"messageVersion": "1.0", "inputText": "'
        for _ in range(10):
            yield b"x" * 512
        yield b'"}'

    response = strict_client.post("/v1/bedrock/actions", content=chunks(), headers={"content-type": "application/json"})
    assert response.json()["response"]["httpStatusCode"] == 413


def test_small_chunked_body_is_replayed_whole(strict_client: TestClient) -> None:
    body = json.dumps(FUNCTION).encode()

    def chunks() -> Iterator[bytes]:
        yield body[:100]
        yield body[100:]

    response = strict_client.post("/v1/bedrock/actions", content=chunks(), headers={"content-type": "application/json"})
    assert "responseState" not in response.json()["response"]["functionResponse"]


def test_a_crashing_handler_does_not_leak_its_exception_text(client: TestClient) -> None:
    event = FUNCTION | {"function": "misbehave", "parameters": [{"name": "mode", "type": "string", "value": "crash"}]}
    body = client.post("/v1/bedrock/actions", json=event).json()["response"]["functionResponse"]["responseBody"]
    error = json.loads(body["TEXT"]["body"])["error"]
    assert error["message"] == "VacationsActionGroup.misbehave failed (RuntimeError)"
    assert "database on fire" not in body["TEXT"]["body"]
