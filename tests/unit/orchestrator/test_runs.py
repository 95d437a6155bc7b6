"""RunService and the workflow jobs on the in-memory run store and job queue, with a stand-in engine."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from service.adapters.storage.memory import InMemoryJobQueue
from service.adapters.storage.memory_runs import InMemoryRunStore
from service.domain.action_calls import Trigger
from service.domain.jobs import Job, JobState
from service.domain.runs import Budget, Run, RunState
from service.errors import InvalidInput, NotFound
from service.orchestrator.job import WORKFLOW_SCAN, jira_scan_handler, workflow_run_handler
from service.orchestrator.runs import WORKFLOW_RUN, BudgetRequest, RunService

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
DEFAULT = Budget(max_steps=50, max_tokens=1000, max_seconds=60.0, max_tickets=5)


def service(store: InMemoryRunStore, queue: InMemoryJobQueue) -> RunService:
    return RunService(store=store, queue=queue, budget=DEFAULT, workflows=("scan",), clock=lambda: NOW)


def start(runs: RunService, **overrides: object) -> Run:
    options: dict[str, object] = {
        "workflow": "scan",
        "repository": "demo",
        "parameters": {"since": None, "dry_run": False},
        "trigger": Trigger.REST,
        "principal": "chat",
    } | overrides
    return runs.start(**options)  # type: ignore[arg-type]


class Engine:
    """Stands in for the workflow engine: each advance finishes the run, or raises what it was given."""

    def __init__(self, store: InMemoryRunStore, error: Exception | None = None) -> None:
        self.store, self.error, self.calls = store, error, 0

    def advance(self, run_id: str) -> Run:
        self.calls += 1
        if self.error is not None:
            run = self.store.get(run_id)
            self.store.save(replace(run, state=RunState.RUNNING, step="file"))
            raise self.error
        run = self.store.get(run_id)
        return self.store.save(replace(run, state=RunState.SUCCEEDED, step=None, result={"tickets": 1}))


def test_start_queues_the_run_and_one_job_for_it() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    run = start(service(store, queue))
    assert (run.state, run.trigger, run.principal, run.budget) == (RunState.QUEUED, Trigger.REST, "chat", DEFAULT)
    assert run.planner == "deterministic"
    (job,) = queue.list()
    assert (job.kind, job.payload, job.dedup_key) == (WORKFLOW_RUN, {"run_id": run.id}, run.id)


def test_a_deduplicated_start_returns_the_first_run_and_queues_nothing_new() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    runs = service(store, queue)
    first = start(runs, dedup_key="jira:d-1:rescan")
    again = start(runs, dedup_key="jira:d-1:rescan")
    assert again.id == first.id
    assert len(queue.list()) == 1


def test_the_budget_may_be_lowered_never_raised() -> None:
    runs = service(InMemoryRunStore(), InMemoryJobQueue())
    lower = start(runs, budget=BudgetRequest(max_steps=10, max_tickets=0))
    assert lower.budget == replace(DEFAULT, max_steps=10, max_tickets=0)
    with pytest.raises(InvalidInput, match="max_tickets 6 is above this service's limit of 5") as raised:
        start(runs, budget=BudgetRequest(max_tickets=6))
    assert "never raise" in (raised.value.hint or "")
    with pytest.raises(InvalidInput, match="max_seconds"):
        start(runs, budget=BudgetRequest(max_seconds=61.0))
    with pytest.raises(InvalidInput, match="positive"):
        start(runs, budget=BudgetRequest(max_steps=0))


def test_an_unknown_workflow_names_the_known_ones() -> None:
    runs = service(InMemoryRunStore(), InMemoryJobQueue())
    with pytest.raises(InvalidInput, match="unknown workflow 'scna'") as raised:
        start(runs, workflow="scna")
    assert raised.value.hint == "known workflows: scan"


def test_cancel_a_queued_run_and_its_job_does_not_run_it() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    runs = service(store, queue)
    run = start(runs)
    cancelled = runs.cancel(run.id, by="chat")
    assert (cancelled.state, cancelled.error, cancelled.finished_at) == (
        RunState.CANCELLED,
        "cancelled by chat while queued",
        NOW,
    )
    assert runs.cancel(run.id, by="other") == cancelled, "cancelling an ended run changes nothing"
    engine = Engine(store)
    job = queue.claim(worker_id="w", kinds=[WORKFLOW_RUN], now=NOW, lease_seconds=30)
    assert job is not None
    result = asyncio.run(workflow_run_handler(store, engine)(job))
    assert result == {"run_id": run.id, "state": "cancelled"}
    assert engine.calls == 0
    with pytest.raises(NotFound):
        runs.cancel("nope", by="chat")


def test_a_running_run_is_marked_cancelled_for_the_engine_to_see() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    runs = service(store, queue)
    run = start(runs)
    running = store.save(replace(run, state=RunState.RUNNING, step="triage"))
    cancelled = runs.cancel(run.id, by="chat")
    assert cancelled.state is RunState.CANCELLED
    assert cancelled.version == running.version + 1, "the engine's next save of its stale copy conflicts"


def test_the_job_advances_the_run_and_returns_its_state() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    run = start(service(store, queue))
    job = queue.claim(worker_id="w", kinds=[WORKFLOW_RUN], now=NOW, lease_seconds=30)
    assert job is not None
    assert asyncio.run(workflow_run_handler(store, Engine(store))(job)) == {"run_id": run.id, "state": "succeeded"}


def _claimed(queue: InMemoryJobQueue, attempts: int) -> Job:
    job = queue.list()[0]
    claimed = None
    for n in range(attempts):
        # Each claim comes after the previous holder's lease expired (a dead worker).
        claimed = queue.claim(worker_id=f"w{n}", kinds=[WORKFLOW_RUN], now=NOW + timedelta(minutes=n), lease_seconds=30)
    assert claimed is not None
    assert (claimed.id, claimed.attempts) == (job.id, attempts)
    return claimed


def test_a_run_whose_workers_kept_dying_is_failed_with_the_reason() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    run = start(service(store, queue))
    store.save(replace(store.get(run.id), state=RunState.RUNNING, step="file"))
    job = _claimed(queue, attempts=6)  # max_attempts is 5: five workers died holding it
    engine = Engine(store)
    result = asyncio.run(workflow_run_handler(store, engine, clock=lambda: NOW)(job))
    assert engine.calls == 0
    failed = store.get(run.id)
    assert (failed.state, result["state"]) == (RunState.FAILED, "failed")
    assert failed.error is not None
    assert "gave up after 5 attempts" in failed.error
    assert "step file" in failed.error
    assert [s.attributes["error"] for s in store.spans(run.id)] == [failed.error]


def test_an_error_on_the_last_attempt_fails_the_run_and_an_earlier_one_leaves_it_for_the_retry() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    run = start(service(store, queue))
    engine = Engine(store, error=RuntimeError("Jira is down"))
    handler = workflow_run_handler(store, engine)
    first = _claimed(queue, attempts=1)
    with pytest.raises(RuntimeError):
        asyncio.run(handler(first))
    assert store.get(run.id).state is RunState.RUNNING
    last = replace(first, attempts=first.max_attempts)
    with pytest.raises(RuntimeError):
        asyncio.run(handler(last))
    assert (store.get(run.id).state, store.get(run.id).error) == (RunState.FAILED, "RuntimeError: Jira is down")


def test_a_bad_payload_or_unknown_run_fails_the_job_at_once() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    handler = workflow_run_handler(store, Engine(store))
    bad = queue.enqueue(kind=WORKFLOW_RUN, payload={"run": 3}, now=NOW)
    with pytest.raises(InvalidInput):
        asyncio.run(handler(bad))
    unknown = queue.enqueue(kind=WORKFLOW_RUN, payload={"run_id": "gone"}, now=NOW)
    with pytest.raises(NotFound):
        asyncio.run(handler(unknown))


def test_a_jira_rescan_becomes_one_scan_run_with_the_jira_trigger() -> None:
    store, queue = InMemoryRunStore(), InMemoryJobQueue()
    runs = service(store, queue)
    asked: list[str | None] = []

    def default_repository(name: str | None) -> str:
        asked.append(name)
        return name or "only-one"

    handler = jira_scan_handler(runs, default_repository=default_repository)
    payload = {
        "rule": "comment-rescan",
        "workflow": "scan",
        "issue": "OPS-7",
        "project": "OPS",
        "parameters": {"since": "main~3", "dry_run": "true", "arguments": "please"},
        "trigger_job": "j1",
        "delivery": "d-9",
    }
    job = queue.enqueue(kind=WORKFLOW_SCAN, payload=payload, now=NOW)
    result = asyncio.run(handler(job))
    again = asyncio.run(handler(job))
    assert result == again
    run = store.get(result["run_id"])
    assert (run.workflow, run.trigger, run.principal, run.repository) == (
        "scan",
        Trigger.JIRA_WEBHOOK,
        "jira-webhook",
        "only-one",
    )
    assert run.parameters == {
        "since": "main~3",
        "dry_run": True,
        "issue": "OPS-7",
        "project": "OPS",
        "rule": "comment-rescan",
        "arguments": "please",
    }
    assert asked == [None, None]
    assert [j.kind for j in queue.list(state=JobState.QUEUED)].count(WORKFLOW_RUN) == 1
