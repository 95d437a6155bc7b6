"""``GET /v1/runs/{runId}/trace``: our spans, Bedrock trace events (valid TraceParts), 400/403/404/422, no 500."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator
from fastapi.testclient import TestClient

from service.app import create_app
from service.container import Container, build_container
from service.settings import ApiKeySettings, JobsSettings
from tests.conftest import make_settings
from tests.run_samples import RUN_ID, record_sample

ADMIN_KEY = "admin-0123456789abcdef"
QUALITY_KEY = "quality-0123456789abcdef"
TRACE_PART = botocore.session.get_session().get_service_model("bedrock-agent-runtime").shape_for("TracePart")


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    settings = make_settings(
        tmp_path,
        jobs=JobsSettings(in_process_worker=False),
        api_keys=[
            ApiKeySettings(name="admin", key=ADMIN_KEY),  # type: ignore[arg-type]
            ApiKeySettings(name="quality", key=QUALITY_KEY, action_groups=["quality"]),  # type: ignore[arg-type]
        ],
    )
    built = build_container(settings, in_memory=True)
    record_sample(built.run_store)
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container), headers={"X-Api-Key": ADMIN_KEY}) as test_client:
        yield test_client


def test_our_spans_in_sequence_order(client: TestClient, container: Container) -> None:
    answer = client.get(f"/v1/runs/{RUN_ID}/trace")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["runId"], body["workflow"], body["state"]) == (RUN_ID, "scan", "succeeded")
    spans = body["spans"]
    assert [span["sequence"] for span in spans] == list(range(len(container.run_store.spans(RUN_ID))))
    assert spans[1] == {
        "sequence": 1,
        "traceId": f"{RUN_ID}-0",
        "kind": "tool",
        "name": "quality.runChecks",
        "startedAt": "2026-12-02T09:00:00.500000+00:00",
        "durationMs": spans[1]["durationMs"],
        "status": "ok",
        "attributes": {
            "action": "quality.runChecks",
            "input": {"root": "ticketsmith", "since": "HEAD~1", "limit": 50},
            "observation": {"findings": 2, "files": 7},
        },
    }
    page = client.get(f"/v1/runs/{RUN_ID}/trace", params={"afterSequence": 2, "limit": 2}).json()["spans"]
    assert [span["sequence"] for span in page] == [3, 4]


def test_bedrock_format_answers_valid_trace_parts(client: TestClient) -> None:
    answer = client.get(f"/v1/runs/{RUN_ID}/trace", params={"format": "bedrock"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["sessionId"] == RUN_ID
    events = body["events"]
    assert len(events) == 13
    for event in events:
        assert list(event) == ["trace"]
        report = ParamValidator().validate(event["trace"], TRACE_PART)  # ISO timestamps as they come on the wire
        assert not report.has_errors(), report.generate_report()
    last = events[-1]["trace"]["trace"]["orchestrationTrace"]["observation"]
    assert (last["type"], last["finalResponse"]["text"]) == ("FINISH", "2 findings, 1 ticket filed (TS-12)")
    assert events[0]["trace"]["eventTime"].endswith("Z")


def test_unknown_format_is_400_and_unknown_run_404(client: TestClient) -> None:
    bad = client.get(f"/v1/runs/{RUN_ID}/trace", params={"format": "xml"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_input"
    assert "bedrock" in bad.json()["error"]["hint"]
    missing = client.get("/v1/runs/nope/trace")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert client.get("/v1/runs/nope%00x/trace").status_code == 404


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 10_001}, {"afterSequence": -2}, {"afterSequence": 2**40}, {"limit": "x"}]
)
def test_bad_paging_is_422(client: TestClient, params: dict[str, object]) -> None:
    assert client.get(f"/v1/runs/{RUN_ID}/trace", params=params).status_code == 422


def test_the_runs_scope_and_a_key_are_needed(container: Container) -> None:
    with TestClient(create_app(container=container)) as anonymous:
        assert anonymous.get(f"/v1/runs/{RUN_ID}/trace").status_code == 401
    with TestClient(create_app(container=container), headers={"X-Api-Key": QUALITY_KEY}) as quality:
        refused = quality.get(f"/v1/runs/{RUN_ID}/trace")
    assert refused.status_code == 403
    assert "runs" in refused.json()["error"]["hint"]


def test_non_finite_numbers_are_null_not_an_error(client: TestClient, container: Container) -> None:
    span = container.run_store.spans(RUN_ID)[2]
    container.run_store.append_spans([replace(span, sequence=99, attributes={"citations": [{"score": float("nan")}]})])
    for params in ({}, {"format": "bedrock"}):
        answer = client.get(f"/v1/runs/{RUN_ID}/trace", params=params)
        assert answer.status_code == 200, answer.text
    spans = client.get(f"/v1/runs/{RUN_ID}/trace").json()["spans"]
    assert spans[-1]["attributes"] == {"citations": [{"score": None}]}
