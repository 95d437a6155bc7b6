"""Group commit: what arrives while a batch is written goes in the next transaction, together; every waiter
gets its own outcome after the commit; a failed batch stores nothing and fails each of its waiters.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from service.adapters.storage.engine import create_database_engine
from service.adapters.storage.jobs import SqlJobQueue
from service.adapters.storage.memory import InMemoryJobQueue
from service.adapters.storage.migrate import upgrade_to_head
from service.domain.jobs import Enqueued, JobRequest
from service.errors import HandlerFailed, InvalidInput
from service.jobs.group_commit import GroupCommit
from service.ports.job_queue import JobQueue

T0 = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


class HeldQueue:
    """A real queue whose first ``enqueue_many`` waits for ``release``, so that later requests pile up behind it.

    Records the requests of every batch it is given.
    """

    def __init__(self, inner: JobQueue) -> None:
        self.inner = inner
        self.batches: list[list[JobRequest]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def enqueue_many(self, requests: Sequence[JobRequest]) -> list[Enqueued]:
        self.batches.append(list(requests))
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(10)
        return self.inner.enqueue_many(requests)

    def __getattr__(self, name: str) -> object:  # the rest of the JobQueue port, unchanged
        return getattr(self.inner, name)


def _request(n: int, key: str | None = None, kind: str = "sync") -> JobRequest:
    return JobRequest(kind=kind, payload={"n": n}, now=T0, dedup_key=key)


async def _behind_a_held_batch(
    intake: GroupCommit, held: HeldQueue, first: JobRequest, rest: list[JobRequest]
) -> list[Enqueued | BaseException]:
    """Enqueue ``first`` and wait until its batch is being written; then enqueue ``rest``; then let it go."""
    head = asyncio.ensure_future(intake.enqueue(first))
    assert await asyncio.to_thread(held.entered.wait, 10)
    tail = [asyncio.ensure_future(intake.enqueue(request)) for request in rest]
    await asyncio.sleep(0.05)  # every request of `rest` is queued behind the held batch
    held.release.set()
    return await asyncio.gather(head, *tail, return_exceptions=True)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    upgrade_to_head(engine)
    yield engine
    engine.dispose()


def test_requests_that_arrive_together_share_one_transaction() -> None:
    held = HeldQueue(InMemoryJobQueue())
    intake = GroupCommit(held)
    try:
        outcomes = asyncio.run(_behind_a_held_batch(intake, held, _request(0), [_request(n) for n in range(1, 11)]))
    finally:
        intake.close()
    assert [len(batch) for batch in held.batches] == [1, 10]
    assert [request.payload["n"] for request in held.batches[1]] == list(range(1, 11)), "first come, first written"
    assert all(isinstance(o, Enqueued) and o.created for o in outcomes)
    jobs = [o.job for o in outcomes if isinstance(o, Enqueued)]
    assert [job.payload["n"] for job in jobs] == list(range(11)), "each waiter gets its own job"
    assert len({job.id for job in jobs}) == 11


def test_a_batch_is_no_larger_than_max_batch() -> None:
    held = HeldQueue(InMemoryJobQueue())
    intake = GroupCommit(held, max_batch=4)
    try:
        outcomes = asyncio.run(_behind_a_held_batch(intake, held, _request(0), [_request(n) for n in range(1, 11)]))
    finally:
        intake.close()
    assert [len(batch) for batch in held.batches] == [1, 4, 4, 2]
    assert all(isinstance(o, Enqueued) and o.created for o in outcomes)


def test_duplicates_inside_one_batch_get_the_first_job(sqlite_engine: Engine) -> None:
    queue = SqlJobQueue(sqlite_engine)
    existing = queue.enqueue(kind="sync", payload={"old": True}, now=T0, dedup_key="delivery-old")
    held = HeldQueue(queue)
    intake = GroupCommit(held)
    rest = [
        _request(1, "delivery-a"),
        _request(2, "delivery-a"),
        _request(3, "delivery-old"),
        _request(4, "delivery-a"),
    ]
    try:
        outcomes = asyncio.run(_behind_a_held_batch(intake, held, _request(0, "delivery-0"), rest))
    finally:
        intake.close()
    assert [len(batch) for batch in held.batches] == [1, 4]
    answers = [o for o in outcomes if isinstance(o, Enqueued)]
    assert [o.created for o in answers] == [True, True, False, False, False]
    assert answers[2].job.id == answers[4].job.id == answers[1].job.id
    assert answers[3].job == existing
    with sqlite_engine.connect() as connection:
        keys = connection.execute(text("SELECT dedup_key, COUNT(*) FROM jobs GROUP BY dedup_key")).all()
    assert sorted(keys) == [("delivery-0", 1), ("delivery-a", 1), ("delivery-old", 1)]


def test_a_failing_batch_fails_every_waiter_and_stores_nothing_of_it(sqlite_engine: Engine) -> None:
    with sqlite_engine.begin() as connection:  # the database refuses the third row of the batch
        connection.execute(
            text(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON jobs WHEN NEW.kind = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'poison refused'); END"
            )
        )
    held = HeldQueue(SqlJobQueue(sqlite_engine))
    intake = GroupCommit(held)
    rest = [_request(1, "a"), _request(2, "b"), _request(3, "c", kind="poison"), _request(4, "d")]

    async def scenario() -> tuple[list[Enqueued | BaseException], Enqueued]:
        outcomes = await _behind_a_held_batch(intake, held, _request(0, "first"), rest)
        after = await intake.enqueue(_request(5, "a"))  # the writer goes on; the key was never stored
        return outcomes, after

    try:
        outcomes, after = asyncio.run(scenario())
    finally:
        intake.close()
    assert [len(batch) for batch in held.batches] == [1, 4, 1]
    assert isinstance(outcomes[0], Enqueued)
    assert outcomes[0].created
    failures = outcomes[1:]
    assert all(isinstance(f, HandlerFailed) for f in failures)
    assert len({id(f) for f in failures}) == 4, "each waiter gets its own exception"
    message = str(failures[0])
    assert "nothing of this batch of 4 was stored" in message
    assert "poison refused" in message
    assert after.created
    with sqlite_engine.connect() as connection:
        stored = connection.execute(text("SELECT dedup_key FROM jobs ORDER BY dedup_key")).scalars().all()
    assert stored == ["a", "first"]


def test_bad_requests_are_refused_before_joining_a_batch() -> None:
    held = HeldQueue(InMemoryJobQueue())
    held.release.set()
    intake = GroupCommit(held)
    try:
        with pytest.raises(InvalidInput):
            asyncio.run(intake.enqueue(JobRequest("sync", {}, T0, max_attempts=0)))
    finally:
        intake.close()
    assert held.batches == []
    with pytest.raises(InvalidInput):
        GroupCommit(held, max_batch=0)


def test_close_writes_what_is_pending_and_refuses_more() -> None:
    queue = InMemoryJobQueue()
    held = HeldQueue(queue)
    intake = GroupCommit(held)

    async def scenario() -> list[Enqueued | BaseException]:
        head = asyncio.ensure_future(intake.enqueue(_request(0)))
        assert await asyncio.to_thread(held.entered.wait, 10)
        tail = [asyncio.ensure_future(intake.enqueue(_request(n))) for n in (1, 2)]
        await asyncio.sleep(0.05)
        closing = asyncio.ensure_future(asyncio.to_thread(intake.close))
        await asyncio.sleep(0.05)
        with pytest.raises(HandlerFailed, match="shutting down"):
            await intake.enqueue(_request(3))
        held.release.set()
        await closing
        return await asyncio.gather(head, *tail, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, Enqueued) and o.created for o in outcomes)
    assert sorted(job.payload["n"] for job in queue.list()) == [0, 1, 2]
    intake.close()  # twice is fine


def test_a_cancelled_waiter_does_not_stop_the_others() -> None:
    queue = InMemoryJobQueue()
    held = HeldQueue(queue)
    intake = GroupCommit(held)

    async def scenario() -> Enqueued:
        head = asyncio.ensure_future(intake.enqueue(_request(0)))
        assert await asyncio.to_thread(held.entered.wait, 10)
        gone = asyncio.ensure_future(intake.enqueue(_request(1)))
        stays = asyncio.ensure_future(intake.enqueue(_request(2)))
        await asyncio.sleep(0.05)
        gone.cancel()
        held.release.set()
        await head
        return await stays

    try:
        assert asyncio.run(scenario()).created
    finally:
        intake.close()
    # The cancelled request was already queued: it is stored (a sender that gave up sends it again as a duplicate).
    assert sorted(job.payload["n"] for job in queue.list()) == [0, 1, 2]
