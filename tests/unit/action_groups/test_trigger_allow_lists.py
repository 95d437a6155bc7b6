"""The per-trigger allow-lists of ``TICKETSMITH_GUARDRAILS__ALLOWED_ACTIONS`` hold for direct action calls too:
Bedrock events, REST calls and the CLI's, each under its own trigger's list."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.action_groups.operations import CallContext
from service.app import create_app
from service.container import Container, build_container
from service.domain.action_calls import Trigger
from service.domain.principals import LOCAL_OPERATOR
from service.errors import Forbidden
from service.settings import GuardrailSettings, JobsSettings
from tests.conftest import load_fixture, make_settings


def _container(tmp_path: Path, allowed: dict[str, list[str]]) -> Container:
    settings = make_settings(
        tmp_path,
        guardrails=GuardrailSettings(allowed_actions=allowed),
        jobs=JobsSettings(in_process_worker=False, call_retention_days=0),
    )
    return build_container(settings, in_memory=True)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    container = _container(tmp_path, {"bedrock": ["system.*", "jira.getIssue"], "rest": ["system.*"]})
    with TestClient(create_app(container=container), raise_server_exceptions=False) as test_client:
        yield test_client
    container.close()


def _event(group: str, api_path: str, method: str, **parts: Any) -> dict[str, Any]:
    base = load_fixture("bedrock/openapi_event_post.json" if method == "POST" else "bedrock/openapi_event_get.json")
    base = {k: v for k, v in base.items() if k not in ("requestBody", "parameters")}
    return base | {"actionGroup": group, "apiPath": api_path, "httpMethod": method, "parameters": []} | parts


def test_a_bedrock_event_outside_its_trigger_list_gets_a_403_envelope_naming_the_setting(client: TestClient) -> None:
    answer = client.post("/v1/bedrock/actions", json=_event("codebase", "/v1/codebase/repositories", "GET"))
    assert answer.status_code == 200
    response = answer.json()["response"]
    assert response["httpStatusCode"] == 403
    body = json.loads(response["responseBody"]["application/json"]["body"])
    assert "not in the configured allow-list of the bedrock trigger" in body["error"]["message"]
    assert "TICKETSMITH_GUARDRAILS__ALLOWED_ACTIONS" in body["error"]["hint"]


def test_an_allowed_action_still_runs(client: TestClient) -> None:
    answer = client.post("/v1/bedrock/actions", json=_event("system", "/v1/system/info", "GET"))
    assert answer.json()["response"]["httpStatusCode"] == 200
    assert client.get("/v1/system/info").status_code == 200


def test_rest_calls_are_held_to_the_rest_list(client: TestClient) -> None:
    refused = client.get("/v1/codebase/repositories")
    assert refused.status_code == 403
    assert "rest trigger" in refused.json()["error"]["message"]


def test_by_default_bedrock_may_not_call_a_write_that_bedrock_does_not_confirm(tmp_path: Path) -> None:
    # Every write in the shipped groups carries x-requireConfirmation but confirmRun, which is the confirmation
    # itself (so Bedrock may not call it on its own); an extra write without it is refused.
    container = _container(tmp_path, {})
    try:
        writes = [
            f"{group.name}.{op.operation_id}" for group in container.registry for op in group.operations if op.writes
        ]
        assert writes
        for group in container.registry:
            for op in group.operations:
                if op.writes and op.operation_id != "confirmRun":
                    assert op.require_confirmation, f"{group.name}.{op.operation_id} lacks x-requireConfirmation"
        policy = container.dispatcher.policy
        assert policy is not None
        assert policy(Trigger.BEDROCK, "jira.addComment").allowed
        assert not policy(Trigger.BEDROCK, "custom.deleteEverything").allowed
        assert not policy(Trigger.BEDROCK, "runs.confirmRun").allowed, "a model never confirms its own pause"
    finally:
        container.close()


def test_the_cli_is_held_to_its_own_list(tmp_path: Path) -> None:
    container = _container(tmp_path, {"cli": ["system.*"]})
    try:
        ctx = CallContext(trigger=Trigger.CLI, principal=LOCAL_OPERATOR)
        with pytest.raises(Forbidden, match="cli trigger"):
            asyncio.run(container.dispatcher.call("codebase", "listRepositories", ctx, {}))
    finally:
        container.close()
