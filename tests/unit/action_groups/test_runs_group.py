"""The runs action group over REST and Bedrock events: start (budget, repository limits), get, list, cancel."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.container import Container, build_container
from service.domain.action_calls import Trigger
from service.settings import IndexingSettings, JobsSettings, OrchestratorSettings
from tests.conftest import load_fixture, make_settings
from tests.knowledge_fakes import CountingEmbedder
from tests.quality_repos import SEEDED, make_repo


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    make_repo(tmp_path / "repos" / "demo", {"app.py": "print('hi')\n"})
    return tmp_path / "repos"


@pytest.fixture
def container(tmp_path: Path, repos: Path) -> Iterator[Container]:
    settings = make_settings(
        tmp_path,
        indexing=IndexingSettings(allowed_roots=[repos]),
        # No worker: the runs stay where the calls put them.
        jobs=JobsSettings(in_process_worker=False, call_retention_days=0),
        orchestrator=OrchestratorSettings(max_steps=40, max_tickets=5),
    )
    built = build_container(settings, in_memory=True)
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container), raise_server_exceptions=False) as test_client:
        yield test_client


def test_start_get_list_and_cancel_over_rest(client: TestClient, container: Container, repos: Path) -> None:
    started = client.post(
        "/v1/runs",
        json={"workflow": "scan", "repository": str(repos / "demo"), "dryRun": True, "since": "HEAD~1", "maxSteps": 10},
    )
    assert started.status_code == 200, started.text
    run = started.json()
    assert (run["state"], run["workflow"], run["trigger"], run["principal"]) == ("queued", "scan", "rest", "local")
    assert run["repository"] == "demo", "a path is indexed by the run's sync step under its default name"
    assert run["parameters"] == {"since": "HEAD~1", "dry_run": True, "source": str((repos / "demo").resolve())}
    assert run["budget"] == {"maxSteps": 10, "maxTokens": 200_000, "maxSeconds": 1800.0, "maxTickets": 5}
    assert run["planner"] == "deterministic"
    assert [j.payload for j in container.job_queue.list() if j.kind == "workflow.run"] == [{"run_id": run["runId"]}]

    assert client.get(f"/v1/runs/{run['runId']}").json() == run
    listed = client.get("/v1/runs", params={"state": "queued"}).json()["runs"]
    assert [r["runId"] for r in listed] == [run["runId"]]
    assert client.get("/v1/runs", params={"state": "failed"}).json()["runs"] == []
    assert client.get("/v1/runs", params={"state": "lost"}).status_code == 422

    cancelled = client.post(f"/v1/runs/{run['runId']}/cancel")
    assert cancelled.status_code == 200
    assert (cancelled.json()["state"], cancelled.json()["error"]) == ("cancelled", "cancelled by local while queued")
    assert client.post(f"/v1/runs/{run['runId']}/cancel").json() == cancelled.json()
    assert container.run_store.get(run["runId"]).trigger is Trigger.REST


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"workflow": "scna"}, 400, "known workflows: scan"),
        ({"workflow": "scan", "maxTickets": 6}, 400, "never raise"),
        ({"workflow": "scan", "maxSteps": 0}, 422, "maxSteps"),
        ({"workflow": "scan", "repository": "/etc"}, 403, "TICKETSMITH_INDEXING__ALLOWED_ROOTS"),
        ({"workflow": "scan"}, 404, "ticketsmith index"),
        ({"workflow": "scan", "repository": "demo", "bogus": 1}, 422, "bogus"),
        ({}, 422, "workflow"),
    ],
)
def test_bad_starts_are_clear_errors(client: TestClient, body: dict[str, Any], status: int, needle: str) -> None:
    answer = client.post("/v1/runs", json=body)
    assert answer.status_code == status, answer.text
    assert needle in json.dumps(answer.json())


def test_unknown_run(client: TestClient) -> None:
    assert client.get("/v1/runs/nope").status_code == 404
    assert client.post("/v1/runs/nope/cancel").status_code == 404


def _event(api_path: str, method: str, **parts: Any) -> dict[str, Any]:
    base = load_fixture("bedrock/openapi_event_post.json" if method == "POST" else "bedrock/openapi_event_get.json")
    base = {k: v for k, v in base.items() if k not in ("requestBody", "parameters")}
    return base | {"actionGroup": "runs", "apiPath": api_path, "httpMethod": method, "parameters": []} | parts


def _body(answer: Any) -> dict[str, Any]:
    envelope = answer.json()["response"]
    assert envelope["actionGroup"] == "runs"
    return dict(json.loads(envelope["responseBody"]["application/json"]["body"]))


def test_a_run_started_and_read_through_bedrock_events(client: TestClient, repos: Path) -> None:
    properties = [
        {"name": "workflow", "type": "string", "value": "scan"},
        {"name": "repository", "type": "string", "value": str(repos / "demo")},
        {"name": "maxTickets", "type": "integer", "value": "2"},
    ]
    started = client.post(
        "/v1/bedrock/actions",
        json=_event("/v1/runs", "POST", requestBody={"content": {"application/json": {"properties": properties}}}),
    )
    assert started.status_code == 200, started.text
    run = _body(started)
    assert (run["state"], run["trigger"], run["budget"]["maxTickets"]) == ("queued", "bedrock", 2)
    got = client.post(
        "/v1/bedrock/actions",
        json=_event("/v1/runs/{runId}", "GET", parameters=[{"name": "runId", "type": "string", "value": run["runId"]}]),
    )
    assert _body(got)["runId"] == run["runId"]
    refused = client.post(
        "/v1/bedrock/actions",
        json=_event(
            "/v1/runs",
            "POST",
            requestBody={
                "content": {"application/json": {"properties": [{"name": "workflow", "type": "string", "value": "x"}]}}
            },
        ),
    )
    assert refused.status_code == 200
    envelope = refused.json()["response"]
    assert envelope["httpStatusCode"] == 400
    assert "known workflows" in envelope["responseBody"]["application/json"]["body"]


def test_a_run_started_over_rest_is_run_by_the_in_process_worker(tmp_path: Path, repos: Path) -> None:
    # A REST caller's writes need a person's confirmation (the guardrails); the startRun call asking for a
    # scan that files tickets is that confirmation, recorded on the run, so its tickets are filed.
    settings = make_settings(
        tmp_path,
        indexing=IndexingSettings(allowed_roots=[repos]),
        jobs=JobsSettings(poll_interval_seconds=0.05, call_retention_days=0),
    )
    container = build_container(settings, in_memory=True, embedder=CountingEmbedder())
    make_repo(repos / "seeded", SEEDED)
    try:
        with TestClient(create_app(container=container), raise_server_exceptions=False) as client:
            run = client.post("/v1/runs", json={"workflow": "scan", "repository": str(repos / "seeded")}).json()
            deadline = time.monotonic() + 120
            while (got := client.get(f"/v1/runs/{run['runId']}").json())["state"] in ("queued", "running"):
                assert time.monotonic() < deadline, got
                time.sleep(0.1)
            assert got["state"] == "succeeded", got
            assert got["usage"]["steps"] == 7
            assert client.get(f"/v1/runs/{run['runId']}/trace").status_code == 200
            spans = client.get(f"/v1/runs/{run['runId']}/trace").json()["spans"]
        result = got["result"]
        filed = container.issue_tracker.search(jql="labels = ticketsmith", limit=100)
        assert result["groups"] >= 3
        assert (result["created"], len(filed), result["denied"]) == (result["groups"], result["groups"], 0)
        decisions = [
            s["attributes"] for s in spans if s["kind"] == "guardrail" and s["attributes"]["action"] == "tickets.file"
        ]
        assert decisions
        assert all("confirmed when the run was started" in d["reason"] for d in decisions)
    finally:
        container.close()


def test_a_suggest_run_names_its_issue_and_counts_its_comment_as_confirmed(client: TestClient, repos: Path) -> None:
    demo = str(repos / "demo")
    missing = client.post("/v1/runs", json={"workflow": "suggest", "repository": demo})
    assert missing.status_code == 400
    assert "needs the Jira issue" in missing.json()["error"]["message"]
    bad = client.post("/v1/runs", json={"workflow": "suggest", "repository": demo, "issue": "not a key"})
    assert bad.status_code == 400
    started = client.post("/v1/runs", json={"workflow": "suggest", "repository": demo, "issue": "ops-12"})
    assert started.status_code == 200, started.text
    run = started.json()
    assert run["workflow"] == "suggest"
    assert run["parameters"] | {"source": None} == {
        "issue": "OPS-12",
        "dry_run": False,
        "confirmed_actions": ["jira.addComment"],
        "source": None,
    }
    dry = client.post("/v1/runs", json={"workflow": "suggest", "repository": demo, "issue": "OPS-12", "dryRun": True})
    assert "confirmed_actions" not in dry.json()["parameters"]
