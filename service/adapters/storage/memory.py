"""In-memory audit log and job queue: the fakes for tests and for commands that never serve."""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from service.domain.action_calls import ActionCall
from service.domain.findings import Category, CheckRun, Finding, Severity
from service.domain.jobs import Enqueued, Job, JobRequest, JobState
from service.errors import Conflict, InvalidInput, NotFound


class InMemoryActionCallLog:
    """:class:`service.ports.action_call_log.ActionCallLog` kept in a dict; thread-safe; lost on exit."""

    def __init__(self) -> None:
        self._calls: dict[str, ActionCall] = {}
        self._lock = threading.Lock()

    def record(self, call: ActionCall) -> None:
        self.record_many([call])

    def record_many(self, calls: Sequence[ActionCall]) -> None:
        with self._lock:
            for call in calls:
                self._calls.setdefault(call.id, call)

    def recent(self, *, limit: int = 50, action_group: str | None = None) -> list[ActionCall]:
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        with self._lock:
            calls = [c for c in self._calls.values() if action_group is None or c.action_group == action_group]
        calls.sort(key=lambda c: (c.started_at, c.id), reverse=True)
        return calls[:limit]

    def prune(self, *, before: datetime) -> int:
        with self._lock:
            old = [call_id for call_id, call in self._calls.items() if call.started_at < before]
            for call_id in old:
                del self._calls[call_id]
        return len(old)

    def get(self, *, call_id: str) -> ActionCall:
        with self._lock:
            call = self._calls.get(call_id)
        if call is None:
            raise NotFound(f"no action call {call_id!r}", hint="list recent calls with listCalls")
        return call


class InMemoryJobQueue:
    """:class:`service.ports.job_queue.JobQueue` in memory; thread-safe; lost on exit. For tests and one-shot CLI."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

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
        results: list[Enqueued] = []
        with self._lock:
            by_key = {job.dedup_key: job for job in self._jobs.values() if job.dedup_key is not None}
            for request in requests:
                existing = by_key.get(request.dedup_key) if request.dedup_key is not None else None
                if existing is not None:
                    results.append(Enqueued(existing, created=False))
                    continue
                job = Job(
                    id=uuid.uuid4().hex,
                    kind=request.kind,
                    payload=copy.deepcopy(request.payload),
                    state=JobState.QUEUED,
                    attempts=0,
                    max_attempts=request.max_attempts,
                    dedup_key=request.dedup_key,
                    run_after=request.run_after or request.now,
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=None,
                    result=None,
                    created_at=request.now,
                    updated_at=request.now,
                )
                self._jobs[job.id] = job
                if job.dedup_key is not None:
                    by_key[job.dedup_key] = job
                results.append(Enqueued(job, created=True))
        return results

    def claim(self, *, worker_id: str, kinds: Collection[str], now: datetime, lease_seconds: float) -> Job | None:
        with self._lock:
            due = [
                job
                for job in self._jobs.values()
                if job.kind in kinds
                and (
                    (job.state is JobState.QUEUED and job.run_after <= now)
                    or (
                        job.state is JobState.RUNNING
                        and job.lease_expires_at is not None
                        and job.lease_expires_at < now
                    )
                )
            ]
            if not due:
                return None
            oldest = min(due, key=lambda job: (job.run_after, job.created_at))
            claimed = replace(
                oldest,
                state=JobState.RUNNING,
                lease_owner=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=oldest.attempts + 1,
                updated_at=now,
            )
            self._jobs[claimed.id] = claimed
            return claimed

    def _held(self, job_id: str, worker_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.lease_owner != worker_id or job.state is not JobState.RUNNING:
            raise Conflict(
                f"job {job_id!r} is not held by worker {worker_id!r}",
                hint="its lease expired and another worker took it over; the result was not recorded",
            )
        return job

    def renew(self, *, job_id: str, worker_id: str, now: datetime, lease_seconds: float) -> Job:
        with self._lock:
            job = replace(
                self._held(job_id, worker_id), lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now
            )
            self._jobs[job_id] = job
            return job

    def complete(self, *, job_id: str, worker_id: str, result: dict[str, Any], now: datetime) -> Job:
        with self._lock:
            job = replace(
                self._held(job_id, worker_id),
                state=JobState.SUCCEEDED,
                result=copy.deepcopy(result),
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
            self._jobs[job_id] = job
            return job

    def fail(
        self, *, job_id: str, worker_id: str, error: str, retry_at: datetime, now: datetime, retry: bool = True
    ) -> Job:
        with self._lock:
            held = self._held(job_id, worker_id)
            final = not retry or held.attempts >= held.max_attempts
            job = replace(
                held,
                state=JobState.FAILED if final else JobState.QUEUED,
                last_error=error[:4000],
                run_after=held.run_after if final else retry_at,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
            self._jobs[job_id] = job
            return job

    def get(self, *, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}", hint="list jobs with `ticketsmith jobs list`")
        return job

    def list(self, *, state: JobState | None = None, limit: int = 50) -> list[Job]:
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        with self._lock:
            found = [job for job in self._jobs.values() if state is None or job.state is state]
        found.sort(key=lambda job: (job.created_at, job.id), reverse=True)
        return found[:limit]


class InMemoryFindingStore:
    """:class:`service.ports.finding_store.FindingStore` in memory; thread-safe; lost on exit."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[CheckRun, list[Finding]]] = {}
        self._lock = threading.Lock()

    def save_run(self, run: CheckRun, findings: Sequence[Finding]) -> None:
        with self._lock:
            if run.id in self._runs:
                raise Conflict(f"check run {run.id!r} is already stored")
            self._runs[run.id] = (run, list(findings))

    def get_run(self, *, run_id: str) -> CheckRun:
        with self._lock:
            stored = self._runs.get(run_id)
        if stored is None:
            raise NotFound(f"no check run {run_id!r}")
        return stored[0]

    def findings(
        self,
        *,
        run_id: str,
        min_severity: Severity | None = None,
        category: Category | None = None,
        path_prefix: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Finding]:
        if not 1 <= limit <= 1000 or offset < 0:
            raise InvalidInput("limit must be 1..1000 and offset at least 0")
        self.get_run(run_id=run_id)
        with self._lock:
            indexed = list(enumerate(self._runs[run_id][1]))
        kept = [
            (seq, f)
            for seq, f in indexed
            if (min_severity is None or f.severity.rank <= min_severity.rank)
            and (category is None or f.category is category)
            and (not path_prefix or f.path.startswith(path_prefix))
        ]
        kept.sort(key=lambda item: (item[1].severity.rank, item[1].path, item[1].start_line, item[0]))
        return [f for _, f in kept[offset : offset + limit]]
