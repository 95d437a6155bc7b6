"""One contract for :class:`JobQueue`, run against every implementation: in-memory, SQLite, PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from service.adapters.storage.jobs import SqlJobQueue
from service.adapters.storage.memory import InMemoryJobQueue
from service.domain.jobs import JobRequest, JobState
from service.errors import Conflict, InvalidInput, NotFound
from service.ports.job_queue import JobQueue

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
KINDS = ["sync"]


@pytest.fixture
def queue(database: Engine | None) -> JobQueue:
    return InMemoryJobQueue() if database is None else SqlJobQueue(database)


def test_enqueue_claim_complete(queue: JobQueue) -> None:
    job = queue.enqueue(kind="sync", payload={"repo": "ticketsmith", "n": [1, 2]}, now=T0)
    assert (job.state, job.attempts, job.payload) == (JobState.QUEUED, 0, {"repo": "ticketsmith", "n": [1, 2]})
    claimed = queue.claim(worker_id="w1", kinds=KINDS, now=T0, lease_seconds=30)
    assert claimed is not None
    assert (claimed.id, claimed.state, claimed.attempts, claimed.lease_owner) == (job.id, JobState.RUNNING, 1, "w1")
    assert claimed.lease_expires_at == T0 + timedelta(seconds=30)
    assert queue.claim(worker_id="w2", kinds=KINDS, now=T0, lease_seconds=30) is None
    done = queue.complete(job_id=job.id, worker_id="w1", result={"files": 3}, now=T0 + timedelta(seconds=1))
    assert (done.state, done.result, done.lease_owner) == (JobState.SUCCEEDED, {"files": 3}, None)
    assert queue.get(job_id=job.id) == done


def test_only_requested_kinds_and_due_jobs_are_claimed(queue: JobQueue) -> None:
    queue.enqueue(kind="other", payload={}, now=T0)
    later = queue.enqueue(kind="sync", payload={}, now=T0, run_after=T0 + timedelta(minutes=5))
    assert queue.claim(worker_id="w", kinds=KINDS, now=T0, lease_seconds=30) is None
    assert queue.claim(worker_id="w", kinds=[], now=T0, lease_seconds=30) is None
    claimed = queue.claim(worker_id="w", kinds=KINDS, now=T0 + timedelta(minutes=5), lease_seconds=30)
    assert claimed is not None
    assert claimed.id == later.id


def test_oldest_due_job_first(queue: JobQueue) -> None:
    second = queue.enqueue(kind="sync", payload={"i": 2}, now=T0, run_after=T0 + timedelta(seconds=2))
    first = queue.enqueue(kind="sync", payload={"i": 1}, now=T0, run_after=T0 + timedelta(seconds=1))
    now = T0 + timedelta(seconds=3)
    order = [queue.claim(worker_id="w", kinds=KINDS, now=now, lease_seconds=30) for _ in range(2)]
    assert [job.id for job in order if job] == [first.id, second.id]


def test_dedup_key_returns_the_existing_job(queue: JobQueue) -> None:
    first = queue.enqueue(kind="sync", payload={"a": 1}, now=T0, dedup_key="webhook-123")
    again = queue.enqueue(kind="sync", payload={"a": 2}, now=T0 + timedelta(seconds=1), dedup_key="webhook-123")
    assert again.id == first.id
    assert again.payload == {"a": 1}
    assert len(queue.list()) == 1


def test_enqueue_many_answers_each_request_in_order(queue: JobQueue) -> None:
    old = queue.enqueue(kind="sync", payload={"old": True}, now=T0, dedup_key="taken")
    later = T0 + timedelta(seconds=1)
    body = {"text": 'é \u2603 "quoted"', "n": [1, 2.5, None, {"deep": [True]}], "big": 2**63}
    results = queue.enqueue_many(
        [
            JobRequest("sync", body, later, dedup_key="fresh"),
            JobRequest("sync", {"second": 1}, later, dedup_key="taken"),
            JobRequest("sync", {"third": 1}, later, dedup_key="fresh"),  # same key as the first: a duplicate
            JobRequest("sync", {"keyless": 1}, later, run_after=later + timedelta(minutes=1), max_attempts=2),
            JobRequest("sync", {"keyless": 2}, later),
        ]
    )
    assert [r.created for r in results] == [True, False, False, True, True]
    first, taken, again, keyless, keyless2 = (r.job for r in results)
    assert taken == old
    assert again.id == first.id
    assert len({first.id, keyless.id, keyless2.id, old.id}) == 4
    # A created job is answered without reading it back; it equals what the store now holds.
    for job in (first, keyless, keyless2):
        assert queue.get(job_id=job.id) == job
    assert (first.payload, first.state, first.attempts, first.created_at) == (body, JobState.QUEUED, 0, later)
    assert (keyless.run_after, keyless.max_attempts) == (later + timedelta(minutes=1), 2)
    assert len(queue.list()) == 4
    assert queue.enqueue_many([]) == []


def test_enqueue_many_is_all_or_nothing_on_bad_input(queue: JobQueue) -> None:
    with pytest.raises(InvalidInput):
        queue.enqueue_many([JobRequest("sync", {}, T0, dedup_key="a"), JobRequest("sync", {}, T0, max_attempts=0)])
    assert queue.list() == []
    claimed = queue.enqueue_many([JobRequest("sync", {"i": i}, T0 + timedelta(seconds=i)) for i in range(3)])
    job = queue.claim(worker_id="w", kinds=KINDS, now=T0 + timedelta(seconds=5), lease_seconds=10)
    assert job is not None
    assert job.id == claimed[0].job.id  # batch-queued jobs are ordinary jobs: oldest due first


def test_expired_lease_is_claimed_again_and_the_old_holder_cannot_finish(queue: JobQueue) -> None:
    job = queue.enqueue(kind="sync", payload={}, now=T0)
    queue.claim(worker_id="dead", kinds=KINDS, now=T0, lease_seconds=10)
    assert queue.claim(worker_id="w2", kinds=KINDS, now=T0 + timedelta(seconds=5), lease_seconds=10) is None
    taken = queue.claim(worker_id="w2", kinds=KINDS, now=T0 + timedelta(seconds=11), lease_seconds=10)
    assert taken is not None
    assert (taken.id, taken.attempts, taken.lease_owner) == (job.id, 2, "w2")
    with pytest.raises(Conflict):
        queue.complete(job_id=job.id, worker_id="dead", result={}, now=T0 + timedelta(seconds=12))
    assert (
        queue.complete(job_id=job.id, worker_id="w2", result={}, now=T0 + timedelta(seconds=12)).state
        is JobState.SUCCEEDED
    )


def test_a_renewed_lease_keeps_the_job_and_a_lost_one_cannot_be_renewed(queue: JobQueue) -> None:
    job = queue.enqueue(kind="sync", payload={}, now=T0)
    queue.claim(worker_id="w1", kinds=KINDS, now=T0, lease_seconds=10)
    renewed = queue.renew(job_id=job.id, worker_id="w1", now=T0 + timedelta(seconds=8), lease_seconds=10)
    assert (renewed.state, renewed.lease_owner, renewed.attempts) == (JobState.RUNNING, "w1", 1)
    assert renewed.lease_expires_at == T0 + timedelta(seconds=18)
    assert queue.claim(worker_id="w2", kinds=KINDS, now=T0 + timedelta(seconds=12), lease_seconds=10) is None
    with pytest.raises(Conflict):
        queue.renew(job_id=job.id, worker_id="w2", now=T0 + timedelta(seconds=12), lease_seconds=10)
    taken = queue.claim(worker_id="w2", kinds=KINDS, now=T0 + timedelta(seconds=19), lease_seconds=10)
    assert taken is not None
    with pytest.raises(Conflict):
        queue.renew(job_id=job.id, worker_id="w1", now=T0 + timedelta(seconds=20), lease_seconds=10)


def test_failures_retry_until_attempts_are_used_up(queue: JobQueue) -> None:
    job = queue.enqueue(kind="sync", payload={}, now=T0, max_attempts=2)
    queue.claim(worker_id="w", kinds=KINDS, now=T0, lease_seconds=10)
    retry_at = T0 + timedelta(seconds=30)
    failed_once = queue.fail(job_id=job.id, worker_id="w", error="boom", retry_at=retry_at, now=T0)
    assert (failed_once.state, failed_once.last_error, failed_once.run_after) == (JobState.QUEUED, "boom", retry_at)
    assert queue.claim(worker_id="w", kinds=KINDS, now=T0 + timedelta(seconds=29), lease_seconds=10) is None
    queue.claim(worker_id="w", kinds=KINDS, now=retry_at, lease_seconds=10)
    dead = queue.fail(job_id=job.id, worker_id="w", error="boom again", retry_at=retry_at, now=retry_at)
    assert (dead.state, dead.attempts, dead.last_error) == (JobState.FAILED, 2, "boom again")
    assert dead.state.terminal
    assert queue.claim(worker_id="w", kinds=KINDS, now=retry_at + timedelta(days=1), lease_seconds=10) is None


def test_a_failure_that_retrying_cannot_cure_fails_at_once(queue: JobQueue) -> None:
    job = queue.enqueue(kind="sync", payload={}, now=T0, max_attempts=5)
    queue.claim(worker_id="w", kinds=KINDS, now=T0, lease_seconds=10)
    dead = queue.fail(
        job_id=job.id, worker_id="w", error="unknown ref", retry_at=T0 + timedelta(seconds=30), now=T0, retry=False
    )
    assert (dead.state, dead.attempts, dead.last_error) == (JobState.FAILED, 1, "unknown ref")
    assert queue.claim(worker_id="w", kinds=KINDS, now=T0 + timedelta(days=1), lease_seconds=10) is None


def test_finishing_a_job_that_is_not_held_is_a_conflict(queue: JobQueue) -> None:
    job = queue.enqueue(kind="sync", payload={}, now=T0)
    with pytest.raises(Conflict):
        queue.fail(job_id=job.id, worker_id="w", error="x", retry_at=T0, now=T0)


def test_list_get_and_bad_input(queue: JobQueue) -> None:
    a = queue.enqueue(kind="sync", payload={}, now=T0)
    b = queue.enqueue(kind="sync", payload={}, now=T0 + timedelta(seconds=1))
    queue.claim(worker_id="w", kinds=KINDS, now=T0 + timedelta(seconds=2), lease_seconds=10)
    assert [j.id for j in queue.list()] == [b.id, a.id]
    assert [j.id for j in queue.list(state=JobState.RUNNING)] == [a.id]
    with pytest.raises(NotFound):
        queue.get(job_id="nope")
    with pytest.raises(InvalidInput):
        queue.list(limit=0)
    with pytest.raises(InvalidInput):
        queue.enqueue(kind="sync", payload={}, now=T0, max_attempts=0)


def test_concurrent_workers_claim_each_job_exactly_once(queue: JobQueue) -> None:
    total = 60
    for i in range(total):
        queue.enqueue(kind="sync", payload={"i": i}, now=T0)
    claimed: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(worker: str) -> None:
        try:
            while (job := queue.claim(worker_id=worker, kinds=KINDS, now=T0, lease_seconds=60)) is not None:
                queue.complete(job_id=job.id, worker_id=worker, result={"by": worker}, now=T0)
                with lock:
                    claimed.append(job.id)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(claimed) == total
    assert len(set(claimed)) == total
    assert all(job.state is JobState.SUCCEEDED for job in queue.list(limit=1000))
