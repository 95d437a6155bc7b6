"""The durable job queue on SQLite or PostgreSQL.

Claims are one ``UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING``. On PostgreSQL the inner select takes
``FOR UPDATE SKIP LOCKED``, so many workers on many machines claim different jobs without waiting on each other;
on SQLite the statement runs under ``BEGIN IMMEDIATE``, which serialises writers.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from service.adapters.storage.engine import utc, write_transaction
from service.adapters.storage.schema import jobs
from service.domain.jobs import Job, JobState
from service.errors import Conflict, InvalidInput, NotFound


def _job(row: Any) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        payload=dict(row.payload),
        state=JobState(row.state),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        dedup_key=row.dedup_key,
        run_after=utc(row.run_after),
        lease_owner=row.lease_owner,
        lease_expires_at=utc(row.lease_expires_at) if row.lease_expires_at is not None else None,
        last_error=row.last_error,
        result=dict(row.result) if row.result is not None else None,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
    )


class SqlJobQueue:
    """:class:`service.ports.job_queue.JobQueue` on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(jobs)
        # Built once and executed with parameters: building a statement per call costs more than running it.
        self._insert = insert.returning(*jobs.c)
        self._insert_dedup = insert.on_conflict_do_nothing(index_elements=["dedup_key"]).returning(*jobs.c)
        self._by_dedup_key = select(jobs).where(jobs.c.dedup_key == bindparam("key"))
        self._claim = self._claim_statement()
        pick = select(jobs.c.id, jobs.c.run_after, jobs.c.created_at).where(
            jobs.c.kind.in_(bindparam("kinds", expanding=True))
        )
        order = (jobs.c.run_after, jobs.c.created_at)
        self._due_queued = (
            pick.where(jobs.c.state == JobState.QUEUED.value, jobs.c.run_after <= bindparam("now"))
            .order_by(*order)
            .limit(1)
        )
        self._due_expired = (
            pick.where(jobs.c.state == JobState.RUNNING.value, jobs.c.lease_expires_at < bindparam("now"))
            .order_by(*order)
            .limit(1)
        )
        self._claim_by_id = (
            update(jobs)
            .where(jobs.c.id == bindparam("chosen"))
            .values(
                state=JobState.RUNNING.value,
                lease_owner=bindparam("worker"),
                lease_expires_at=bindparam("expires"),
                attempts=jobs.c.attempts + 1,
                updated_at=bindparam("now"),
            )
            .returning(*jobs.c)
        )

    def enqueue(
        self,
        *,
        kind: str,
        payload: dict[str, Any],
        now: datetime,
        dedup_key: str | None = None,
        run_after: datetime | None = None,
        max_attempts: int = 5,
    ) -> Job:
        if max_attempts < 1:
            raise InvalidInput("max_attempts must be at least 1")
        now = now.astimezone(UTC)
        values = {
            "id": uuid.uuid4().hex,
            "kind": kind,
            "payload": payload,
            "state": JobState.QUEUED.value,
            "attempts": 0,
            "max_attempts": max_attempts,
            "dedup_key": dedup_key,
            "run_after": (run_after or now).astimezone(UTC),
            "created_at": now,
            "updated_at": now,
        }
        row: Any
        with write_transaction(self._engine) as connection:
            if dedup_key is None:
                row = connection.execute(self._insert, values).one()
            else:
                row = connection.execute(self._insert_dedup, values).first()
                if row is None:  # already queued under this key: the existing job
                    row = connection.execute(self._by_dedup_key, {"key": dedup_key}).one()
        return _job(row)

    def _claim_statement(self) -> Any:
        now: Any = bindparam("now")
        due = or_(
            and_(jobs.c.state == JobState.QUEUED.value, jobs.c.run_after <= now),
            and_(jobs.c.state == JobState.RUNNING.value, jobs.c.lease_expires_at < now),
        )
        candidate = (
            select(jobs.c.id)
            .where(jobs.c.kind.in_(bindparam("kinds", expanding=True)), due)
            .order_by(jobs.c.run_after, jobs.c.created_at)
            .limit(1)
        )
        if self._engine.dialect.name == "postgresql":
            candidate = candidate.with_for_update(skip_locked=True)
        return (
            update(jobs)
            .where(jobs.c.id == candidate.scalar_subquery())
            .values(
                state=JobState.RUNNING.value,
                lease_owner=bindparam("worker"),
                lease_expires_at=bindparam("expires"),
                attempts=jobs.c.attempts + 1,
                updated_at=now,
            )
            .returning(*jobs.c)
        )

    def claim(self, *, worker_id: str, kinds: Collection[str], now: datetime, lease_seconds: float) -> Job | None:
        if not kinds:
            return None
        now = now.astimezone(UTC)
        parameters = {
            "now": now,
            "kinds": list(kinds),
            "worker": worker_id,
            "expires": now + timedelta(seconds=lease_seconds),
        }
        with write_transaction(self._engine) as connection:
            if self._engine.dialect.name == "sqlite":
                row = self._claim_sqlite(connection, parameters)
            else:
                row = connection.execute(self._claim, parameters).first()
        return _job(row) if row is not None else None

    def _claim_sqlite(self, connection: Any, parameters: dict[str, Any]) -> Any:
        """The same claim as two index-ordered lookups (queued and due; running with an expired lease) and an
        update by id, all under the BEGIN IMMEDIATE of the caller. One query with OR makes SQLite sort every
        due job for each claim, which grows with the backlog while the write lock is held.
        """
        found = [
            connection.execute(self._due_queued, parameters).first(),
            connection.execute(self._due_expired, parameters).first(),
        ]
        candidates = [row for row in found if row is not None]
        if not candidates:
            return None
        chosen = min(candidates, key=lambda row: (row.run_after, row.created_at))
        return connection.execute(self._claim_by_id, {**parameters, "chosen": chosen.id}).first()

    def _finish(self, job_id: str, worker_id: str, values: dict[str, Any]) -> Job:
        statement = (
            update(jobs)
            .where(
                jobs.c.id == job_id,
                jobs.c.lease_owner == worker_id,
                jobs.c.state == JobState.RUNNING.value,
            )
            .values(**values)
            .returning(*jobs.c)
        )
        with write_transaction(self._engine) as connection:
            row = connection.execute(statement).first()
        if row is None:
            raise Conflict(
                f"job {job_id!r} is not held by worker {worker_id!r}",
                hint="its lease expired and another worker took it over; the result was not recorded",
            )
        return _job(row)

    def renew(self, *, job_id: str, worker_id: str, now: datetime, lease_seconds: float) -> Job:
        now = now.astimezone(UTC)
        return self._finish(
            job_id, worker_id, {"lease_expires_at": now + timedelta(seconds=lease_seconds), "updated_at": now}
        )

    def complete(self, *, job_id: str, worker_id: str, result: dict[str, Any], now: datetime) -> Job:
        return self._finish(
            job_id,
            worker_id,
            {
                "state": JobState.SUCCEEDED.value,
                "result": result,
                "lease_owner": None,
                "lease_expires_at": None,
                "updated_at": now.astimezone(UTC),
            },
        )

    def fail(
        self, *, job_id: str, worker_id: str, error: str, retry_at: datetime, now: datetime, retry: bool = True
    ) -> Job:
        current = self.get(job_id=job_id)
        final = not retry or current.attempts >= current.max_attempts
        return self._finish(
            job_id,
            worker_id,
            {
                "state": (JobState.FAILED if final else JobState.QUEUED).value,
                "last_error": error[:4000],
                "run_after": current.run_after if final else retry_at.astimezone(UTC),
                "lease_owner": None,
                "lease_expires_at": None,
                "updated_at": now.astimezone(UTC),
            },
        )

    def get(self, *, job_id: str) -> Job:
        with self._engine.connect() as connection:
            row = connection.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"no job {job_id!r}", hint="list jobs with `ticketsmith jobs list`")
        return _job(row)

    def list(self, *, state: JobState | None = None, limit: int = 50) -> list[Job]:
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        query = select(jobs).order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(jobs.c.state == state.value)
        with self._engine.connect() as connection:
            return [_job(row) for row in connection.execute(query)]
