"""The job worker on a real in-memory queue: success, retries with back-off, time limits, periodic jobs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.adapters.storage.memory import InMemoryActionCallLog, InMemoryJobQueue
from service.container import Container
from service.domain.jobs import Job, JobState
from service.errors import InvalidInput, NotFound
from service.jobs.maintenance import PRUNE_ACTION_CALLS, prune_action_calls
from service.jobs.worker import Periodic, Worker
from tests.contract.test_action_call_log import make_call

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def _echo(job: Job) -> dict[str, Any]:
    return {"echo": job.payload}


async def _boom(job: Job) -> dict[str, Any]:
    raise RuntimeError("disk full")


async def _bad_ref(job: Job) -> dict[str, Any]:
    raise NotFound("no ref 'v9' in the repository", hint="give a branch, tag or commit that exists")


async def _slow(job: Job) -> dict[str, Any]:
    await asyncio.sleep(60)
    return {}


def _worker(queue: InMemoryJobQueue, clock: Clock, **options: Any) -> Worker:
    handlers = {"echo": _echo, "boom": _boom, "slow": _slow, "bad-ref": _bad_ref}
    return Worker(queue=queue, handlers=handlers, worker_id="w1", clock=clock, backoff_base_seconds=10, **options)


def test_successful_job_records_its_result() -> None:
    queue, clock = InMemoryJobQueue(), Clock()
    job = queue.enqueue(kind="echo", payload={"x": 1}, now=NOW)
    done = asyncio.run(_worker(queue, clock).run_once())
    assert done is not None
    assert (done.id, done.state, done.result) == (job.id, JobState.SUCCEEDED, {"echo": {"x": 1}})


def test_failures_back_off_then_fail_for_good() -> None:
    queue, clock = InMemoryJobQueue(), Clock()
    job = queue.enqueue(kind="boom", payload={}, now=NOW, max_attempts=2)
    worker = _worker(queue, clock)
    first = asyncio.run(worker.run_once())
    assert first is not None
    assert first.state is JobState.QUEUED
    assert first.last_error == "RuntimeError: disk full"
    assert NOW + timedelta(seconds=5) <= first.run_after <= NOW + timedelta(seconds=10)
    assert asyncio.run(worker.run_once()) is None, "not due before the back-off ends"
    clock.now = first.run_after
    second = asyncio.run(worker.run_once())
    assert second is not None
    assert (second.id, second.state, second.attempts) == (job.id, JobState.FAILED, 2)


def test_an_error_retrying_cannot_cure_fails_the_job_at_once() -> None:
    queue, clock = InMemoryJobQueue(), Clock()
    job = queue.enqueue(kind="bad-ref", payload={}, now=NOW, max_attempts=5)
    failed = asyncio.run(_worker(queue, clock).run_once())
    assert failed is not None
    assert (failed.id, failed.state, failed.attempts) == (job.id, JobState.FAILED, 1)
    assert failed.last_error == "no ref 'v9' in the repository"


def test_unknown_kinds_are_left_for_other_workers() -> None:
    queue, clock = InMemoryJobQueue(), Clock()
    queue.enqueue(kind="not-mine", payload={}, now=NOW)
    assert asyncio.run(_worker(queue, clock).run_once()) is None
    assert queue.list()[0].state is JobState.QUEUED


def test_a_handler_past_its_lease_is_cancelled_and_retried() -> None:
    queue, clock = InMemoryJobQueue(), Clock()
    queue.enqueue(kind="slow", payload={}, now=NOW)
    result = asyncio.run(_worker(queue, clock, lease_seconds=0.2).run_once())
    assert result is not None
    assert result.state is JobState.QUEUED
    assert "did not finish within" in (result.last_error or "")


def test_a_renewing_kind_runs_past_its_lease_and_keeps_it() -> None:
    queue = InMemoryJobQueue()
    queue.enqueue(kind="long", payload={}, now=datetime.now(UTC))
    seen: list[datetime | None] = []

    async def long(job: Job) -> dict[str, Any]:
        for _ in range(4):
            await asyncio.sleep(0.1)
            seen.append(queue.get(job_id=job.id).lease_expires_at)
        return {"done": True}

    worker = Worker(queue=queue, handlers={"long": long}, worker_id="w1", lease_seconds=0.15, renewing={"long"})
    result = asyncio.run(worker.run_once())
    assert result is not None
    assert (result.state, result.result) == (JobState.SUCCEEDED, {"done": True})
    assert len(set(seen)) > 1, "the lease was renewed while the handler ran"


def test_periodic_jobs_are_enqueued_once_per_window_across_workers() -> None:
    queue, clock = InMemoryJobQueue(), Clock()
    periodic = (Periodic(kind="echo", every=timedelta(hours=1), payload={"p": 1}),)
    first, second = _worker(queue, clock, periodic=periodic), _worker(queue, clock, periodic=periodic)
    asyncio.run(first.schedule_periodic())
    asyncio.run(second.schedule_periodic())
    assert len(queue.list()) == 1
    clock.now = NOW + timedelta(hours=1)
    assert [job.kind for job in asyncio.run(first.drain())] == ["echo", "echo"]


def test_run_stops_when_asked() -> None:
    queue, clock = InMemoryJobQueue(), Clock()
    queue.enqueue(kind="echo", payload={}, now=NOW)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(_worker(queue, clock, poll_interval=0.01).run(stop))
        while queue.list()[0].state is not JobState.SUCCEEDED:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=2)

    asyncio.run(main())


def test_prune_handler_deletes_old_calls_and_rejects_bad_payloads() -> None:
    log = InMemoryActionCallLog()
    old, recent = make_call(-40 * 86400), make_call(0)
    log.record_many([old, recent])
    handler = prune_action_calls(log, clock=lambda: old.started_at + timedelta(days=40, seconds=1))
    queue = InMemoryJobQueue()
    job = queue.enqueue(kind=PRUNE_ACTION_CALLS, payload={"older_than_days": 30}, now=NOW)
    assert asyncio.run(handler(job))["deleted"] == 1
    assert [c.id for c in log.recent()] == [recent.id]
    bad = queue.enqueue(kind=PRUNE_ACTION_CALLS, payload={"older_than_days": "30"}, now=NOW)
    with pytest.raises(InvalidInput, match="positive integer"):
        asyncio.run(handler(bad))


def test_serve_runs_an_in_process_worker(client: TestClient, container: Container) -> None:
    finished = asyncio.run(_wait_for_job(container))
    assert finished.kind == PRUNE_ACTION_CALLS
    assert finished.state is JobState.SUCCEEDED


async def _wait_for_job(container: Container) -> Job:
    for _ in range(200):
        done = container.job_queue.list(state=JobState.SUCCEEDED)
        if done:
            return done[0]
        await asyncio.sleep(0.025)
    raise AssertionError(f"no job finished: {container.job_queue.list()}")
