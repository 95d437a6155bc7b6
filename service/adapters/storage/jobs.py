"""The durable job queue on SQLite or PostgreSQL.

Claims are one ``UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING``. On PostgreSQL the inner select takes
``FOR UPDATE SKIP LOCKED``, so many workers on many machines claim different jobs without waiting on each other;
on SQLite the statement runs under ``BEGIN IMMEDIATE``, which serialises writers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, or_, select, text, update

from service.adapters.storage.engine import utc, write_transaction
from service.adapters.storage.schema import jobs
from service.domain.jobs import Enqueued, Job, JobRequest, JobState
from service.errors import Conflict, InvalidInput, NotFound

_INSERTED = "id, kind, payload, state, attempts, max_attempts, dedup_key, run_after, created_at, updated_at"

# A batch goes in as ONE statement with ONE parameter, a JSON array of rows, as the action-call log does: a
# statement per row means a driver step per row, and every step gives up the GIL and waits to get it back from
# the busy event loop. Each row's payload travels as the text json.dumps made of it, so what is stored is
# byte for byte what SQLAlchemy's JSON type stores. Rows whose dedup_key is taken are skipped (rowcount says
# how many went in); NULL keys never conflict.
_INSERT_MANY = {
    # Datetimes as SQLAlchemy's SQLite DateTime text: naive UTC "YYYY-MM-DD HH:MM:SS.ffffff".
    "sqlite": text(
        f"INSERT INTO jobs ({_INSERTED}) "  # noqa: S608 - module constants only, no input
        "SELECT json_extract(value, '$.id'), json_extract(value, '$.kind'), json_extract(value, '$.payload'), "
        ":queued, 0, json_extract(value, '$.max_attempts'), json_extract(value, '$.dedup_key'), "
        "json_extract(value, '$.run_after'), json_extract(value, '$.created_at'), "
        "json_extract(value, '$.created_at') "
        "FROM json_each(:rows) WHERE true ON CONFLICT (dedup_key) DO NOTHING"
    ),
    "postgresql": text(
        f"INSERT INTO jobs ({_INSERTED}) "  # noqa: S608 - module constants only, no input
        "SELECT r.id, r.kind, CAST(r.payload AS json), :queued, 0, r.max_attempts, r.dedup_key, r.run_after, "
        "r.created_at, r.created_at FROM json_to_recordset(CAST(:rows AS json)) AS r("
        "id varchar, kind varchar, payload text, max_attempts integer, dedup_key varchar, run_after timestamptz, "
        "created_at timestamptz) ON CONFLICT (dedup_key) DO NOTHING"
    ),
}


def _stamp(value: datetime, dialect: str) -> str:
    moment = value.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds") if dialect == "sqlite" else moment.isoformat()


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
        self._dialect = engine.dialect.name
        # Built once and executed with parameters: building a statement per call costs more than running it.
        self._insert_many = _INSERT_MANY[self._dialect]
        self._by_dedup_keys = select(jobs).where(jobs.c.dedup_key.in_(bindparam("keys", expanding=True)))
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
        request = JobRequest(kind, payload, now, dedup_key, run_after, max_attempts)
        return self.enqueue_many([request])[0].job

    def enqueue_many(self, requests: Sequence[JobRequest]) -> list[Enqueued]:
        if any(request.max_attempts < 1 for request in requests):
            raise InvalidInput("max_attempts must be at least 1")
        if not requests:
            return []
        # Of several requests with one key only the first goes to the database; the others share its outcome.
        firsts: dict[str, Job] = {}
        created: list[Job | None] = []
        rows: list[dict[str, Any]] = []
        for request in requests:
            if request.dedup_key is not None and request.dedup_key in firsts:
                created.append(None)
                continue
            job = self._queued(request)
            created.append(job)
            if job.dedup_key is not None:
                firsts[job.dedup_key] = job
            rows.append(
                {
                    "id": job.id,
                    "kind": job.kind,
                    "payload": json.dumps(job.payload),
                    "max_attempts": job.max_attempts,
                    "dedup_key": job.dedup_key,
                    "run_after": _stamp(job.run_after, self._dialect),
                    "created_at": _stamp(job.created_at, self._dialect),
                }
            )
        existing: dict[str, Job] = {}
        with write_transaction(self._engine) as connection:
            inserted = connection.execute(
                self._insert_many, {"rows": json.dumps(rows), "queued": JobState.QUEUED.value}
            )
            if inserted.rowcount != len(rows):  # some keys were taken already: those jobs are the answers
                found = connection.execute(self._by_dedup_keys, {"keys": list(firsts)})
                existing = {row.dedup_key: _job(row) for row in found if row.id != firsts[row.dedup_key].id}
        results: list[Enqueued] = []
        for request, new in zip(requests, created, strict=True):
            if new is not None and new.dedup_key not in existing:
                results.append(Enqueued(new, created=True))
            else:
                key = request.dedup_key
                assert key is not None
                results.append(Enqueued(existing.get(key) or firsts[key], created=False))
        return results

    @staticmethod
    def _queued(request: JobRequest) -> Job:
        now = request.now.astimezone(UTC)
        return Job(
            id=uuid.uuid4().hex,
            kind=request.kind,
            payload=request.payload,
            state=JobState.QUEUED,
            attempts=0,
            max_attempts=request.max_attempts,
            dedup_key=request.dedup_key,
            run_after=(request.run_after or now).astimezone(UTC),
            lease_owner=None,
            lease_expires_at=None,
            last_error=None,
            result=None,
            created_at=now,
            updated_at=now,
        )

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
