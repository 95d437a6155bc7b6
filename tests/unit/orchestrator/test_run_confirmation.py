"""The confirmation pause: a PAUSED run waits for one action; RunService.confirm approves or refuses it, and the
confirmRun operation is that call over REST."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.adapters.storage.memory import InMemoryJobQueue
from service.adapters.storage.memory_runs import InMemoryRunStore
from service.app import create_app
from service.container import Container, build_container
from service.domain.action_calls import Trigger
from service.domain.runs import Budget, Run, RunState
from service.errors import Conflict, NotFound
from service.orchestrator.runs import CONFIRMATION, PENDING_CONFIRMATION, WORKFLOW_RUN, RunService
from service.settings import JobsSettings
from tests.conftest import make_settings

NOW = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
ISSUE = {"project": "OPS", "summary": "Rotate the key"}


def service(store: InMemoryRunStore, queue: InMemoryJobQueue) -> RunService:
    return RunService(store=store, queue=queue, budget=Budget(), workflows=("scan",), clock=lambda: NOW)


def paused(runs: RunService) -> Run:
    run = runs.start(workflow="scan", repository="demo", parameters={}, trigger=Trigger.REST, principal="ana")
    return runs.pause(run, action="jira.createIssue", input=ISSUE, reason="writes: needs a confirmation")


def test_pause_saves_the_pending_action_in_the_checkpoint() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    run = paused(service(store, queue))
    stored = store.get(run.id)
    assert stored.state is RunState.PAUSED
    assert stored.checkpoint[PENDING_CONFIRMATION] == {
        "action": "jira.createIssue",
        "input": ISSUE,
        "reason": "writes: needs a confirmation",
        "requested_at": NOW.isoformat(),
    }


def test_approve_confirms_the_action_and_queues_the_run_once() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    runs = service(store, queue)
    run = paused(runs)
    approved = runs.confirm(run.id, True, "ben")
    assert approved.state is RunState.QUEUED
    assert PENDING_CONFIRMATION not in approved.checkpoint
    assert approved.checkpoint[CONFIRMATION] == {
        "action": "jira.createIssue",
        "input": ISSUE,
        "approved": True,
        "by": "ben",
        "at": NOW.isoformat(),
    }
    assert approved.parameters["confirmed_actions"] == ["jira.createIssue"]
    assert runs.confirm(run.id, True, "ben") == approved, "the same decision again changes nothing"
    jobs = [job for job in queue.list() if job.kind == WORKFLOW_RUN]
    assert len(jobs) == 2, "the start's job and one for the confirmation, not one per call"
    with pytest.raises(Conflict, match="waits for no confirmation"):
        runs.confirm(run.id, False, "ben")


def test_refuse_cancels_the_run() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    runs = service(store, queue)
    run = paused(runs)
    refused = runs.confirm(run.id, False, "ben")
    assert (refused.state, refused.error, refused.finished_at) == (
        RunState.CANCELLED,
        "jira.createIssue was refused by ben",
        NOW,
    )
    assert refused.checkpoint[CONFIRMATION]["approved"] is False
    with pytest.raises(Conflict):
        runs.confirm(run.id, True, "ben")


def test_a_registered_resumer_continues_approved_runs_of_its_workflow() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    runs = service(store, queue)
    seen: list[Run] = []

    def resume(run: Run) -> Run:
        seen.append(run)
        return run

    runs.resume_with("scan", resume)
    run = paused(runs)
    runs.confirm(run.id, True, "ben")
    assert [r.id for r in seen] == [run.id]
    assert len(queue.list()) == 1, "only the start's job: the resumer continued it"


def test_unknown_and_unpaused_runs() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    runs = service(store, queue)
    with pytest.raises(NotFound):
        runs.confirm("nope", True, "ben")
    run = runs.start(workflow="scan", repository="demo", parameters={}, trigger=Trigger.REST, principal="ana")
    with pytest.raises(Conflict, match="queued and waits for no confirmation"):
        runs.confirm(run.id, True, "ben")


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    settings = make_settings(tmp_path, jobs=JobsSettings(in_process_worker=False, call_retention_days=0))
    built = build_container(settings, in_memory=True)
    yield built
    built.close()


def test_confirm_run_over_rest(container: Container) -> None:
    run = paused(container.runs)
    with TestClient(create_app(container=container), raise_server_exceptions=False) as client:
        shown = client.get(f"/v1/runs/{run.id}").json()
        assert shown["state"] == "paused"
        assert shown["pendingConfirmation"] == {
            "action": "jira.createIssue",
            "input": ISSUE,
            "reason": "writes: needs a confirmation",
            "requestedAt": shown["pendingConfirmation"]["requestedAt"],
        }
        refused = client.post(f"/v1/runs/{run.id}/confirmation", json={"approve": False})
        assert refused.status_code == 200, refused.text
        assert (refused.json()["state"], refused.json()["pendingConfirmation"]) == ("cancelled", None)
        again = client.post(f"/v1/runs/{run.id}/confirmation", json={"approve": True})
        assert again.status_code == 409, again.text
        assert client.post("/v1/runs/nope/confirmation", json={"approve": True}).status_code == 404
        assert client.post(f"/v1/runs/{run.id}/confirmation", json={}).status_code == 422
        assert client.post(f"/v1/runs/{run.id}/confirmation", json={"approve": "maybe"}).status_code == 422
