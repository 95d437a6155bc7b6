"""Port: the durable job queue shared by every worker process."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

from service.domain.jobs import Enqueued, Job, JobRequest, JobState


class JobQueue(Protocol):
    """A durable queue with leases. Safe for many workers in many processes at once.

    Every method that changes a job takes ``now`` (UTC) from the caller, so time is injectable in tests.
    """

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
        """Add a job, or return the existing one with the same ``dedup_key`` (whatever its state)."""
        ...

    def enqueue_many(self, requests: Sequence[JobRequest]) -> list[Enqueued]:
        """Queue every request in ONE transaction; one :class:`Enqueued` per request, in order.

        All or nothing: when the store fails, nothing of the call is stored and the store's error is raised.
        A request whose ``dedup_key`` is already queued gets that job back (``created`` False); of several
        requests in one call with the same key, the first is queued and the later ones get it back. A created
        job's ``payload`` is the object given. Raises :class:`service.errors.InvalidInput` (nothing stored)
        when a request has ``max_attempts`` below 1.
        """
        ...

    def claim(self, *, worker_id: str, kinds: Collection[str], now: datetime, lease_seconds: float) -> Job | None:
        """Take the oldest due job of one of ``kinds`` (queued, or running with an expired lease), or None.

        Atomic: two workers never hold the same job at once. The returned job is RUNNING, held by
        ``worker_id``, with ``attempts`` already counting this claim.
        """
        ...

    def renew(self, *, job_id: str, worker_id: str, now: datetime, lease_seconds: float) -> Job:
        """Extend the lease of a job ``worker_id`` holds to ``now + lease_seconds`` (a heartbeat of a long job).

        Raises :class:`service.errors.Conflict` if ``worker_id`` lost the lease.
        """
        ...

    def complete(self, *, job_id: str, worker_id: str, result: dict[str, Any], now: datetime) -> Job:
        """Mark the job SUCCEEDED. Raises :class:`service.errors.Conflict` if ``worker_id`` lost the lease."""
        ...

    def fail(
        self, *, job_id: str, worker_id: str, error: str, retry_at: datetime, now: datetime, retry: bool = True
    ) -> Job:
        """Record a failed attempt: QUEUED again at ``retry_at``, or FAILED when attempts are used up or when
        ``retry`` is False (the error will not go away by trying again, e.g. an unknown git ref).

        Raises :class:`service.errors.Conflict` if ``worker_id`` lost the lease.
        """
        ...

    def get(self, *, job_id: str) -> Job:
        """The job with this id. Raises :class:`service.errors.NotFound`."""
        ...

    def list(self, *, state: JobState | None = None, limit: int = 50) -> list[Job]:
        """Newest first, at most ``limit`` (1..1000), optionally only jobs in ``state``."""
        ...
