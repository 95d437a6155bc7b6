"""agent_schemas/: OpenAPI 3.0 that Bedrock accepts, the function-details form, and the drift check."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from openapi_spec_validator import OpenAPIV30SpecValidator
from typer.testing import CliRunner

from service.action_groups import schema_export
from service.action_groups.constraints import bedrock_problems
from service.action_groups.registry import ActionGroupRegistry
from service.cli import app as cli_app
from service.container import Container

REPO = Path(__file__).resolve().parents[3]
COMMITTED = REPO / "agent_schemas"


@pytest.fixture
def registry(container: Container) -> ActionGroupRegistry:
    return container.registry


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_every_group_exports_valid_openapi_30_that_follows_bedrock_rules(registry: ActionGroupRegistry) -> None:
    for group in registry:
        document = schema_export.openapi_document(group)
        assert document["openapi"] == "3.0.0"
        assert list(OpenAPIV30SpecValidator(document).iter_errors()) == []
        assert bedrock_problems(document, group_name=group.name) == []
        for node in _walk(document):
            assert "enum" not in node
            assert "const" not in node
            assert not isinstance(node.get("type"), list)
            assert {"type": "null"} not in node.get("anyOf", [])


def test_optional_parameter_becomes_nullable_with_its_description(registry: ActionGroupRegistry) -> None:
    document = schema_export.openapi_document(registry.group("system"))
    params = document["paths"]["/v1/system/calls"]["get"]["parameters"]
    by_name = {p["name"]: p for p in params}
    assert by_name["actionGroup"]["schema"]["nullable"] is True
    assert by_name["actionGroup"]["schema"]["type"] == "string"
    assert by_name["actionGroup"]["description"] == "Only calls of this action group."
    assert by_name["limit"]["schema"]["maximum"] == 200


def test_confirmation_flag_reaches_both_forms(registry: ActionGroupRegistry) -> None:
    group = registry.group("ClaimManagementActionGroup")
    document = schema_export.openapi_document(group)
    assert document["paths"]["/send-reminders"]["post"]["x-requireConfirmation"] == "ENABLED"
    assert "x-requireConfirmation" not in document["paths"]["/claims"]["get"]
    functions = {f["name"]: f for f in schema_export.function_schema(group)["functions"]}
    assert functions["sendReminders"]["requireConfirmation"] == "ENABLED"
    assert functions["sendReminders"]["parameters"]["claimId"] == {
        "description": "Claim to remind about.",
        "type": "integer",
        "required": True,
    }


def _bedrock_agent_client() -> Any:
    return boto3.client(
        "bedrock-agent", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.mark.parametrize("form", ["apiSchema", "functionSchema"])
def test_botocore_model_accepts_create_action_group_with_each_form(registry: ActionGroupRegistry, form: str) -> None:
    client = _bedrock_agent_client()
    for group in registry:
        if form == "apiSchema":
            schema: dict[str, Any] = {"apiSchema": {"payload": json.dumps(schema_export.openapi_document(group))}}
        else:
            schema = {"functionSchema": schema_export.function_schema(group)}
        request = {
            "agentId": "AGENT12345",
            "agentVersion": "DRAFT",
            "actionGroupName": group.name,
            "description": group.description[:200],
            "actionGroupExecutor": {"customControl": "RETURN_CONTROL"},
            **schema,
        }
        now = datetime(2026, 1, 1, tzinfo=UTC)
        stub_response = {
            "agentActionGroup": {
                "agentId": "AGENT12345",
                "agentVersion": "DRAFT",
                "actionGroupId": "GROUP12345",
                "actionGroupName": group.name,
                "actionGroupState": "ENABLED",
                "createdAt": now,
                "updatedAt": now,
            }
        }
        with Stubber(client) as stubber:
            stubber.add_response("create_agent_action_group", stub_response, request)
            client.create_agent_action_group(**request)
            stubber.assert_no_pending_responses()


def test_committed_schemas_match_the_code() -> None:
    from service.container import build_container
    from service.settings import Settings

    container = build_container(Settings(_env_file=None), in_memory=True)  # type: ignore[call-arg]
    try:
        assert schema_export.check(container.registry, COMMITTED) == {}
        for path in COMMITTED.glob("*.json"):
            committed = json.loads(path.read_text())
            assert list(OpenAPIV30SpecValidator(committed).iter_errors()) == []
    finally:
        container.close()


def test_check_names_the_operation_and_rule_on_drift_and_broken_rules(
    registry: ActionGroupRegistry, tmp_path: Path
) -> None:
    schema_export.export(registry, tmp_path)
    target = tmp_path / "system.json"
    document = json.loads(target.read_text())
    info = document["paths"]["/v1/system/info"]["get"]
    del info["description"]
    document["paths"]["/v1/system/calls"]["get"]["parameters"][0]["schema"]["enum"] = [1, 2]
    target.write_text(json.dumps(document))
    problems = schema_export.check(registry, tmp_path)[str(target)]
    found = {(p.operation, p.rule) for p in problems}
    assert ("GET /v1/system/info", "description") in found
    assert ("GET /v1/system/calls", "no-enum") in found
    assert ("getServiceInfo (GET /v1/system/info)", "drift") in found


def test_check_reports_missing_and_orphan_files(registry: ActionGroupRegistry, tmp_path: Path) -> None:
    schema_export.export(registry, tmp_path)
    (tmp_path / "CurrentTime.json").unlink()
    shutil.copy(tmp_path / "system.json", tmp_path / "retired.json")
    report = schema_export.check(registry, tmp_path)
    assert [p.rule for p in report[str(tmp_path / "CurrentTime.json")]] == ["missing"]
    assert [p.rule for p in report[str(tmp_path / "retired.json")]] == ["orphan"]


def test_cli_export_then_check_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    exported = runner.invoke(cli_app, ["schemas", "export", "--dir", "schemas", "--functions", "--json"])
    assert exported.exit_code == 0, exported.output
    written = json.loads(exported.output)["written"]
    assert "schemas/system.json" in written
    assert "schemas/functions/system.json" in written
    assert runner.invoke(cli_app, ["schemas", "check", "--dir", "schemas"]).exit_code == 0
    drifted = json.loads((tmp_path / "schemas/system.json").read_text())
    drifted["paths"]["/v1/system/info"]["get"]["operationId"] = "getServiceInformationForTheAgentPlease"
    (tmp_path / "schemas/system.json").write_text(json.dumps(drifted))
    result = runner.invoke(cli_app, ["schemas", "check", "--dir", "schemas", "--json"])
    assert result.exit_code == 1
    problems = json.loads(result.output)["problems"]
    assert any(p["rule"] == "operation-id" and p["operation"] == "GET /v1/system/info" for p in problems)
