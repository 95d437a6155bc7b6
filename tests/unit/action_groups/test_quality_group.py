"""The quality action group end to end: a check run as a job, its findings, rule explanations, path limits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.container import build_container
from service.settings import JobsSettings, QualitySettings
from tests.conftest import load_fixture, make_settings
from tests.quality_repos import SEEDED, make_repo


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    make_repo(tmp_path / "repos" / "seeded", SEEDED)
    return tmp_path / "repos"


@pytest.fixture
def quality_client(tmp_path: Path, repos: Path) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        quality=QualitySettings(allowed_roots=[repos]),
        jobs=JobsSettings(poll_interval_seconds=0.05, call_retention_days=0),
    )
    container = build_container(settings, in_memory=True)
    with TestClient(create_app(container=container), raise_server_exceptions=False) as client:
        yield client


def _finished(client: TestClient, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get(f"/v1/quality/runs/{run_id}").json()
        if status["state"] in {"succeeded", "failed"}:
            return status
        time.sleep(0.05)
    raise AssertionError("the check run did not finish")


def test_check_run_as_a_job_then_findings_and_filters(quality_client: TestClient, repos: Path) -> None:
    started = quality_client.post("/v1/quality/runs", json={"path": str(repos / "seeded")})
    assert started.status_code == 200, started.text
    assert started.json()["state"] == "queued"
    status = _finished(quality_client, started.json()["runId"])
    assert status["state"] == "succeeded", status
    assert status["filesChecked"] == len(SEEDED)
    run_id = status["runId"]
    everything = quality_client.get(f"/v1/quality/runs/{run_id}/findings", params={"limit": 200}).json()["findings"]
    assert len(everything) == status["findingsCount"]
    severe = quality_client.get(f"/v1/quality/runs/{run_id}/findings", params={"minSeverity": "high"}).json()
    assert {f["severity"] for f in severe["findings"]} <= {"critical", "high"}
    assert {f["ruleId"] for f in severe["findings"]} >= {"bandit.B602", "secrets.aws-access-key"}
    in_web = quality_client.get(f"/v1/quality/runs/{run_id}/findings", params={"pathPrefix": "web/"}).json()
    assert sorted(f["path"] for f in in_web["findings"]) == ["web/render.js", "web/route.js"]
    bad = quality_client.get(f"/v1/quality/runs/{run_id}/findings", params={"minSeverity": "dire"})
    assert bad.status_code == 422


def test_findings_over_a_bedrock_event(quality_client: TestClient, repos: Path) -> None:
    run_id = quality_client.post("/v1/quality/runs", json={"path": str(repos / "seeded")}).json()["runId"]
    _finished(quality_client, run_id)
    event = load_fixture("bedrock/openapi_event_get.json") | {
        "actionGroup": "quality",
        "apiPath": "/v1/quality/runs/{runId}/findings",
        "parameters": [
            {"name": "runId", "type": "string", "value": run_id},
            {"name": "category", "type": "string", "value": "secrets"},
        ],
    }
    inner = quality_client.post("/v1/bedrock/actions", json=event).json()["response"]
    found = json.loads(inner["responseBody"]["application/json"]["body"])["findings"]
    assert [(f["ruleId"], f["snippet"]) for f in found] == [
        ("secrets.aws-access-key", 'AWS_ACCESS_KEY_ID = "********"')
    ]


def test_paths_outside_the_allowed_roots_are_refused(quality_client: TestClient, tmp_path: Path, repos: Path) -> None:
    outside = make_repo(tmp_path / "elsewhere", {"a.py": "x = 1\n"})
    refused = quality_client.post("/v1/quality/runs", json={"path": str(outside)})
    assert refused.status_code == 403
    assert "TICKETSMITH_QUALITY__ALLOWED_ROOTS" in refused.json()["error"]["hint"]
    sneaky = quality_client.post("/v1/quality/runs", json={"path": str(repos / "seeded" / ".." / ".." / "elsewhere")})
    assert sneaky.status_code == 403
    (repos / "plain").mkdir()
    assert quality_client.post("/v1/quality/runs", json={"path": str(repos / "plain")}).status_code == 400


@pytest.mark.parametrize(
    ("rule", "tool", "needle"),
    [
        ("ruff.F401", "ruff", "unused"),
        ("bandit.B602", "bandit", "shell"),
        ("complexity.cyclomatic", "lizard", "paths"),
        ("secrets.aws-access-key", "detect-secrets", "Revoke"),
        ("patterns.go.tls-insecure-skip-verify", "tree-sitter", "certificate"),
    ],
)
def test_rules_are_explained(quality_client: TestClient, rule: str, tool: str, needle: str) -> None:
    explained = quality_client.get(f"/v1/quality/rules/{rule}").json()
    assert explained["tool"] == tool
    assert needle in explained["explanation"] + explained["title"]


def test_unknown_rule_and_run(quality_client: TestClient) -> None:
    assert quality_client.get("/v1/quality/rules/ruff.ZZZ999").status_code == 404
    assert quality_client.get("/v1/quality/rules/nonsense").status_code == 404
    assert quality_client.get("/v1/quality/runs/nope").status_code == 404
