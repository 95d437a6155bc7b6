"""Webhook triggers as configuration: every recorded delivery, as captured and with the labels or comments
that make the default rules fire; the runs they ask for are recorded once as pending workflow jobs."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.adapters.storage.memory import InMemoryJobQueue
from service.app import create_app
from service.container import build_container
from service.domain.jobs import JobState
from service.jobs.jira_webhooks import JIRA_WEBHOOK, jira_webhook_handler
from service.jobs.triggers import plan_runs
from service.settings import JobsSettings, Settings, TriggerRule, WebhookSettings
from tests.conftest import FIXTURES, load_fixture, make_settings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FIXTURE_NAMES = sorted(p.name for p in (FIXTURES / "jira").glob("webhook_*.json"))
DEFAULT_RULES = Settings(_env_file=None).triggers  # type: ignore[call-arg]


def delivery(name: str) -> dict[str, Any]:
    body: dict[str, Any] = load_fixture(f"jira/{name}")
    return body


def labelled(name: str, label: str = "ts-suggest") -> dict[str, Any]:
    body = copy.deepcopy(delivery(name))
    body["issue"].setdefault("fields", {})["labels"] = ["backend", label]
    if body["webhookEvent"] == "jira:issue_updated":
        body["changelog"]["items"].append(
            {
                "field": "labels",
                "fieldtype": "jira",
                "from": None,
                "fromString": "backend",
                "to": None,
                "toString": f"backend {label}",
            }
        )
    return body


def commented(name: str, text: str) -> dict[str, Any]:
    body = copy.deepcopy(delivery(name))
    body["comment"] = {**body.get("comment", {"id": "1"}), "body": text}
    return body


def test_the_fixtures_and_every_shape_are_covered() -> None:
    assert FIXTURE_NAMES == ["webhook_comment_created.json", "webhook_issue_created.json", "webhook_issue_updated.json"]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_recorded_deliveries_start_nothing_under_the_default_rules(name: str) -> None:
    assert plan_runs(DEFAULT_RULES, delivery(name)) == []


@pytest.mark.parametrize("name", ["webhook_issue_created.json", "webhook_issue_updated.json"])
def test_the_ts_suggest_label_starts_suggest(name: str) -> None:
    runs = plan_runs(DEFAULT_RULES, labelled(name))
    body = delivery(name)
    assert [(r.rule, r.workflow, r.issue_key) for r in runs] == [("label-ts-suggest", "suggest", body["issue"]["key"])]
    assert runs[0].project_key == body["issue"]["fields"]["project"]["key"]


def test_an_update_that_does_not_add_the_label_starts_nothing() -> None:
    body = copy.deepcopy(delivery("webhook_issue_updated.json"))
    body["issue"]["fields"]["labels"] = ["ts-suggest"]  # already there; this change is the status
    assert plan_runs(DEFAULT_RULES, body) == []
    assert plan_runs(DEFAULT_RULES, labelled("webhook_comment_created.json")) == [], "comments ignore labels"


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_a_rescan_comment_starts_scan_with_its_arguments(name: str) -> None:
    runs = plan_runs(DEFAULT_RULES, commented(name, "  /TicketSmith rescan src/app --since main"))
    if name == "webhook_issue_created.json":
        assert runs == [], "issue_created is not a comment event of the default rule"
        return
    assert [(r.rule, r.workflow) for r in runs] == [("comment-rescan", "scan")]
    assert runs[0].parameters == {"arguments": "src/app --since main"}
    assert plan_runs(DEFAULT_RULES, commented(name, "please /ticketsmith rescan")) == []


def test_adf_comment_bodies_are_read_as_text() -> None:
    adf = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "/ticketsmith "},
                    {"type": "text", "text": "rescan", "marks": [{"type": "code"}]},
                ],
            }
        ],
    }
    runs = plan_runs(DEFAULT_RULES, commented("webhook_comment_created.json", adf))  # type: ignore[arg-type]
    assert [r.workflow for r in runs] == ["scan"]


def test_rules_from_the_environment_with_project_and_issue_type_conditions(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = [
        {
            "name": "zul-stories",
            "events": ["comment_created"],
            "workflow": "suggest",
            "conditions": {"projects": ["zul"], "issue_types": ["STORY"]},
            "parameters": {"depth": "2"},
        },
        {
            "name": "kan-only",
            "events": ["comment_created", "jira:issue_created"],
            "workflow": "scan",
            "conditions": {"projects": ["KAN"]},
        },
    ]
    monkeypatch.setenv("TICKETSMITH_TRIGGERS", json.dumps(rules))
    configured = Settings(_env_file=None).triggers  # type: ignore[call-arg]
    assert [r.name for r in configured] == ["zul-stories", "kan-only"]
    found = {
        name: [(r.rule, dict(r.parameters)) for r in plan_runs(configured, delivery(name))] for name in FIXTURE_NAMES
    }
    assert found == {
        "webhook_comment_created.json": [("zul-stories", {"depth": "2"})],
        "webhook_issue_created.json": [("kan-only", {})],
        "webhook_issue_updated.json": [],
    }


def test_bad_rules_are_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="workflow"):
        TriggerRule.model_validate({"name": "x", "events": ["comment_created"], "workflow": "deploy"})
    with pytest.raises(ValueError, match="events"):
        TriggerRule.model_validate({"name": "x", "events": ["issue_deleted"], "workflow": "scan"})


def test_the_job_records_each_pending_run_once() -> None:
    queue = InMemoryJobQueue()
    handler = jira_webhook_handler(DEFAULT_RULES, queue, clock=lambda: NOW)
    body = labelled("webhook_issue_created.json")
    job = queue.enqueue(
        kind=JIRA_WEBHOOK,
        payload={"identifier": "delivery-1", "event": body["webhookEvent"], "issue_key": "KAN-3", "body": body},
        now=NOW,
    )
    result = asyncio.run(handler(job))
    again = asyncio.run(handler(job))
    assert result["started"] == again["started"], "a re-run records nothing twice"
    (run,) = result["started"]
    assert (run["rule"], run["workflow"], run["issue"], run["status"]) == (
        "label-ts-suggest",
        "suggest",
        "KAN-3",
        "pending",
    )
    pending = queue.get(job_id=run["job"])
    assert (pending.kind, pending.state, pending.payload["delivery"]) == (
        "workflow.suggest",
        JobState.QUEUED,
        "delivery-1",
    )
    assert [j.kind for j in queue.list()].count("workflow.suggest") == 1
    quiet = queue.enqueue(
        kind=JIRA_WEBHOOK, payload={"identifier": "d-2", "body": delivery("webhook_issue_created.json")}, now=NOW
    )
    assert asyncio.run(handler(quiet))["started"] == []


SECRET = "trigger-secret-0123"


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_signed_deliveries_through_the_endpoint_record_their_runs(tmp_path: Path, name: str) -> None:
    settings = make_settings(
        tmp_path,
        webhook=WebhookSettings(secret=SecretStr(SECRET)),
        jobs=JobsSettings(poll_interval_seconds=0.05, call_retention_days=0),
    )
    container = build_container(settings)
    body = commented(name, "/ticketsmith rescan") if name != "webhook_issue_created.json" else labelled(name)
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    try:
        with TestClient(create_app(container=container)) as client:
            answer = client.post(
                "/v1/webhooks/jira",
                content=raw,
                headers={"X-Hub-Signature": signature, "X-Atlassian-Webhook-Identifier": f"id-{name}"},
            )
            assert answer.status_code == 202
            job_id = answer.json()["jobId"]
            deadline = time.monotonic() + 10
            while (job := container.job_queue.get(job_id=job_id)).state is not JobState.SUCCEEDED:
                assert time.monotonic() < deadline, job
                time.sleep(0.05)
            while any(
                j.kind in ("workflow.scan", "workflow.suggest") and j.state is JobState.QUEUED
                for j in container.job_queue.list()
            ):
                assert time.monotonic() < deadline, "the workflow job was not taken up"
                time.sleep(0.05)
        assert job.result is not None
        workflows = [run["workflow"] for run in job.result["started"]]
        assert workflows == (["suggest"] if name == "webhook_issue_created.json" else ["scan"])
        pending = [j for j in container.job_queue.list() if j.kind.startswith("workflow.")]
        # The workflow job is taken up at once; with nothing indexed it fails, saying so.
        (started,) = pending
        assert (started.kind, started.state) == (f"workflow.{workflows[0]}", JobState.FAILED)
        assert started.last_error == "nothing is indexed yet"
    finally:
        container.close()


@pytest.mark.parametrize(
    "body",
    [
        {"webhookEvent": "jira:issue_created", "issue": {"key": "OPS-1", "fields": {"labels": 5}}},
        {"webhookEvent": "jira:issue_updated", "issue": {"key": "OPS-1"}, "changelog": {"items": 7}},
        {"webhookEvent": "jira:issue_updated", "issue": {"key": "OPS-1"}, "changelog": {"items": [3, None]}},
        {"webhookEvent": "comment_created", "comment": {"body": {"type": "doc", "content": 9}}},
        {"webhookEvent": "comment_created", "comment": {"body": {"type": "doc", "content": [{"text": 1}]}}},
        {"webhookEvent": 12, "issue": "OPS-1", "comment": "x"},
    ],
)
def test_malformed_delivery_bodies_plan_nothing_instead_of_failing(body: dict[str, Any]) -> None:
    assert plan_runs(DEFAULT_RULES, body) == []


def test_a_deeply_nested_comment_body_is_read_without_a_recursion_error() -> None:
    node: dict[str, Any] = {"type": "text", "text": "/ts rescan"}
    for _ in range(5000):
        node = {"type": "paragraph", "content": [node]}
    body = {"webhookEvent": "comment_created", "issue": {"key": "OPS-1"}, "comment": {"body": node}}
    plan_runs(DEFAULT_RULES, body)  # must not raise
