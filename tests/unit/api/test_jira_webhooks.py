"""Jira webhooks: every recorded delivery with a good signature is accepted once; everything else is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.app import create_app
from service.container import Container, build_container
from service.domain.jobs import JobState
from service.jobs.jira_webhooks import JIRA_WEBHOOK
from service.settings import ApiKeySettings, JobsSettings, ServerSettings, WebhookSettings
from tests.conftest import FIXTURES, make_settings

SECRET = "it's-a-secret-to-everybody"
OWN_ACCOUNT = "99:b8d8a054-2e12-4839-bd5f-5f2b7c5f5e3a"  # the actor of webhook_issue_updated.json
WEBHOOKS = ["webhook_issue_created.json", "webhook_issue_updated.json", "webhook_comment_created.json"]


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    settings = make_settings(
        tmp_path,
        webhook=WebhookSettings(secret=SecretStr(SECRET)),
        api_keys=[ApiKeySettings(name="admin", key=SecretStr("admin-0123456789abcdef"))],
        server=ServerSettings(max_body_bytes=64 * 1024),
        jobs=JobsSettings(poll_interval_seconds=0.05, call_retention_days=0),
    )
    built = build_container(settings)  # real SQLite: accepted deliveries are on disk before the 202
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container), raise_server_exceptions=False) as test_client:
        yield test_client


def _post(client: TestClient, body: bytes, **headers: str) -> tuple[int, dict[str, object]]:
    response = client.post("/v1/webhooks/jira", content=body, headers={"content-type": "application/json", **headers})
    return response.status_code, response.json()


@pytest.mark.parametrize("fixture", WEBHOOKS)
def test_signed_delivery_is_accepted_once_and_processed(client: TestClient, container: Container, fixture: str) -> None:
    body = (FIXTURES / "jira" / fixture).read_bytes()
    headers = {"X-Hub-Signature": sign(body), "X-Atlassian-Webhook-Identifier": f"id-{fixture}"}
    status, answer = _post(client, body, **headers)
    assert (status, answer["status"]) == (202, "accepted")
    again, duplicate = _post(client, body, **headers, **{"X-Atlassian-Webhook-Retry": "1"})
    assert (again, duplicate["status"], duplicate["jobId"]) == (202, "duplicate", answer["jobId"])
    deadline = time.monotonic() + 10
    while container.job_queue.get(job_id=str(answer["jobId"])).state is not JobState.SUCCEEDED:
        assert time.monotonic() < deadline, "the in-process worker did not run the job"
        time.sleep(0.05)
    job = container.job_queue.get(job_id=str(answer["jobId"]))
    payload = json.loads(body)
    assert job.kind == JIRA_WEBHOOK
    assert job.result is not None
    assert (job.result["event"], job.result["issue"]) == (payload["webhookEvent"], payload["issue"]["key"])
    assert len([j for j in container.job_queue.list() if j.kind == JIRA_WEBHOOK]) == 1


def test_bad_signatures_are_refused_without_a_key(client: TestClient, container: Container) -> None:
    body = (FIXTURES / "jira" / WEBHOOKS[0]).read_bytes()
    assert _post(client, body)[0] == 401
    assert _post(client, body, **{"X-Hub-Signature": sign(body, "wrong")})[0] == 401
    assert _post(client, body, **{"X-Hub-Signature": "sha1=abc"})[0] == 401
    assert _post(client, body + b" ", **{"X-Hub-Signature": sign(body)})[0] == 401, "signed bytes, not JSON"
    assert [j for j in container.job_queue.list() if j.kind == JIRA_WEBHOOK] == []


def test_invalid_json_and_oversized_bodies(client: TestClient) -> None:
    for body in (b"{not json", b"[1, 2]"):
        assert _post(client, body, **{"X-Hub-Signature": sign(body)})[0] == 400
    huge = json.dumps({"webhookEvent": "jira:issue_updated", "pad": "x" * 70_000}).encode()
    assert _post(client, huge, **{"X-Hub-Signature": sign(huge)})[0] == 413


def test_events_of_ignored_accounts_start_nothing(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, webhook=WebhookSettings(secret=SecretStr(SECRET), ignore_account_ids=[OWN_ACCOUNT])
    )
    container = build_container(settings, in_memory=True)
    with TestClient(create_app(container=container)) as client:
        body = (FIXTURES / "jira" / "webhook_issue_updated.json").read_bytes()
        status, answer = _post(client, body, **{"X-Hub-Signature": sign(body)})
        assert (status, answer["status"]) == (202, "ignored")
        assert [j for j in container.job_queue.list() if j.kind == JIRA_WEBHOOK] == []


def test_without_a_secret_the_endpoint_is_off(tmp_path: Path) -> None:
    container = build_container(make_settings(tmp_path), in_memory=True)
    with TestClient(create_app(container=container)) as client:
        status, answer = _post(client, b"{}", **{"X-Hub-Signature": sign(b"{}")})
    assert status == 403
    assert "TICKETSMITH_WEBHOOK__SECRET" in str(answer)


@pytest.mark.parametrize(
    "body",
    [
        b'{"webhookEvent": "comment_created", "comment": "not an object"}',
        b'{"webhookEvent": "comment_created", "comment": [1, 2]}',
        b'{"webhookEvent": "comment_created", "user": "someone", "comment": 5}',
        b"[" * 30_000 + b"]" * 30_000,
    ],
)
def test_odd_but_signed_bodies_get_an_answer_not_a_server_error(client: TestClient, body: bytes) -> None:
    status, answer = _post(client, body, **{"X-Hub-Signature": sign(body)})
    assert status in (202, 400), answer
    assert "error" not in answer or answer["error"]["code"] == "invalid_input"


def test_a_delivery_the_store_cannot_keep_gets_a_503_so_jira_sends_it_again(
    client: TestClient, container: Container
) -> None:
    # Jira re-sends on 5xx, not on 4xx: a delivery that was not stored must not be answered as a client error.
    from sqlalchemy import create_engine, text

    engine = create_engine(container.settings.resolved_database_url)
    refuse = (
        "CREATE TRIGGER refuse_webhooks BEFORE INSERT ON jobs WHEN NEW.kind = 'jira.webhook' "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    body = (FIXTURES / "jira" / WEBHOOKS[0]).read_bytes()
    headers = {"X-Hub-Signature": sign(body), "X-Atlassian-Webhook-Identifier": "id-store-down"}
    try:
        with engine.begin() as connection:
            connection.execute(text(refuse))
        status, answer = _post(client, body, **headers)
        assert status == 503
        assert answer["error"]["code"] == "store_unavailable"
        assert "nothing of this batch" in answer["error"]["message"]
        with engine.begin() as connection:
            connection.execute(text("DROP TRIGGER refuse_webhooks"))
        again, accepted = _post(client, body, **headers, **{"X-Atlassian-Webhook-Retry": "1"})
        assert (again, accepted["status"]) == (202, "accepted"), "the re-sent delivery is taken as new"
    finally:
        engine.dispose()
