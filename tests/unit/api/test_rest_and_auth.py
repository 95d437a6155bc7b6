"""REST routes of the action groups, API keys and scopes, and the error body every edge shares."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.container import build_container
from service.settings import ApiKeySettings
from tests.conftest import SAMPLE_GROUPS, load_fixture, make_settings

ADMIN_KEY = "admin-0123456789abcdef"
CLAIMS_KEY = "claims-0123456789abcdef"


def test_system_info_over_rest(client: TestClient) -> None:
    info = client.get("/v1/system/info").json()
    assert info["name"] == "ticketsmith"
    assert info["storage"] == "memory"
    assert info["auth_enabled"] is False
    assert {"system", "CurrentTime", "ClaimManagementActionGroup"} <= set(info["action_groups"])


def test_rest_and_bedrock_share_validation(client: TestClient) -> None:
    rest = client.post("/send-reminders", json={"claimId": "twenty", "pendingDocuments": "vat"})
    assert rest.status_code == 422
    event = load_fixture("bedrock/openapi_event_post.json")
    event["requestBody"]["content"]["application/json"]["properties"][0]["value"] = "twenty"
    inner = client.post("/v1/bedrock/actions", json=event).json()["response"]
    bedrock_error = json.loads(inner["responseBody"]["application/json"]["body"])["error"]
    rest_error = rest.json()["error"]
    assert inner["httpStatusCode"] == 422
    assert rest_error["code"] == bedrock_error["code"] == "validation_failed"
    assert rest_error["details"][0]["loc"][-1] == bedrock_error["details"][0]["loc"][-1] == "claimId"
    assert rest_error["details"][0]["type"] == bedrock_error["details"][0]["type"] == "int_parsing"


def test_path_parameters_and_not_found(client: TestClient) -> None:
    client.get("/claims")
    call_id = client.get("/v1/system/calls", params={"limit": 1}).json()["calls"][0]["id"]
    assert client.get(f"/v1/system/calls/{call_id}").json()["operation_id"] == "listClaims"
    missing = client.get("/v1/system/calls/does-not-exist")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_unknown_route_and_method_get_json_errors(client: TestClient) -> None:
    assert client.get("/nowhere").json()["error"]["code"] == "not_found"
    response = client.delete("/v1/system/info")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_query_parameter_bounds_are_enforced(client: TestClient) -> None:
    response = client.get("/v1/system/calls", params={"limit": 0})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["query", "limit"]


def test_schema_lint_operation_reports_bedrock_problems(client: TestClient) -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "x", "version": "1"},
        "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}},
    }
    report = client.post("/v1/system/schema-lint", json={"document": document, "groupName": "bad name"}).json()
    assert report["valid"] is False
    rules = {p["rule"] for p in report["problems"]}
    assert {"openapi-3.0", "group-name", "operation-id", "description", "responses"} <= rules


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"


@pytest.fixture
def keyed_client(tmp_path: Path) -> Iterator[TestClient]:
    keys = [
        ApiKeySettings(name="admin", key=ADMIN_KEY),  # type: ignore[arg-type]
        ApiKeySettings(name="claims-bot", key=CLAIMS_KEY, action_groups=["ClaimManagementActionGroup"]),  # type: ignore[arg-type]
    ]
    container = build_container(make_settings(tmp_path, api_keys=keys), in_memory=True, extra_groups=SAMPLE_GROUPS)
    with TestClient(create_app(container=container), raise_server_exceptions=False) as test_client:
        yield test_client


def test_keys_are_required_once_configured(keyed_client: TestClient) -> None:
    missing = keyed_client.get("/v1/system/info")
    assert missing.status_code == 401
    assert "X-Api-Key" in missing.json()["error"]["hint"]
    assert (
        keyed_client.get("/v1/system/info", headers={"Authorization": "Bearer wrong-key-0000000000"}).status_code == 401
    )
    assert keyed_client.get("/v1/system/info", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200
    assert keyed_client.get("/v1/system/info", headers={"X-Api-Key": ADMIN_KEY}).json()["auth_enabled"] is True
    assert (
        keyed_client.post("/v1/bedrock/actions", json=load_fixture("bedrock/openapi_event_get.json")).status_code == 401
    )
    assert keyed_client.get("/healthz").status_code == 200
    assert keyed_client.get("/openapi.json").status_code == 200
    # protected by default: routes outside /v1 and unknown paths need a key too
    assert keyed_client.get("/claims").status_code == 401
    assert keyed_client.get("/nowhere").status_code == 401


def test_scopes_limit_action_groups_on_every_path(keyed_client: TestClient) -> None:
    headers = {"X-Api-Key": CLAIMS_KEY}
    assert keyed_client.get("/claims", headers=headers).status_code == 200
    forbidden = keyed_client.get("/v1/system/info", headers=headers)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"
    event = load_fixture("bedrock/openapi_event_minimal.json")
    inner = keyed_client.post("/v1/bedrock/actions", json=event, headers=headers).json()["response"]
    assert inner["httpStatusCode"] == 403
    allowed = keyed_client.post(
        "/v1/bedrock/actions", json=load_fixture("bedrock/openapi_event_get.json"), headers=headers
    )
    assert allowed.json()["response"]["httpStatusCode"] == 200


def test_calls_list_shows_only_groups_in_scope(keyed_client: TestClient) -> None:
    keyed_client.get("/v1/system/info", headers={"X-Api-Key": ADMIN_KEY})
    keyed_client.get("/claims", headers={"X-Api-Key": CLAIMS_KEY})
    admin_view = keyed_client.get("/v1/system/calls", headers={"X-Api-Key": ADMIN_KEY}).json()["calls"]
    assert {c["principal"] for c in admin_view} == {"admin", "claims-bot"}


def test_short_api_keys_are_rejected_with_a_fix() -> None:
    with pytest.raises(ValueError, match="openssl rand"):
        ApiKeySettings(name="weak", key="short")  # type: ignore[arg-type]


def test_service_openapi_document_is_valid_and_describes_the_bedrock_endpoint(client: TestClient) -> None:
    from openapi_spec_validator import OpenAPIV31SpecValidator

    document = client.get("/openapi.json").json()
    assert list(OpenAPIV31SpecValidator(document).iter_errors()) == []
    operation = document["paths"]["/v1/bedrock/actions"]["post"]
    assert operation["operationId"] == "invokeBedrockAction"
    assert "ActionEvent" in document["components"]["schemas"]
    assert client.get("/v1/bedrock/actions").json()["error"]["code"] == "method_not_allowed"
