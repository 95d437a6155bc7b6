"""Durable background jobs: what is queued, who holds it, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobState(StrEnum):
    """A job's place in its life. ``SUCCEEDED`` and ``FAILED`` are terminal."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED)


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of background work.

    ``kind`` selects the handler; ``payload`` and ``result`` are JSON objects. A running job is held by
    ``lease_owner`` until ``lease_expires_at``; a job whose lease expired is claimed again, so work survives a
    worker that dies. ``attempts`` counts claims; after ``max_attempts`` failures the job is ``FAILED``.
    ``dedup_key``, when set, is unique: enqueueing the same key again returns the existing job.
    """

    id: str
    kind: str
    payload: dict[str, Any]
    state: JobState
    attempts: int
    max_attempts: int
    dedup_key: str | None
    run_after: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A job to queue, as one value: the arguments of ``JobQueue.enqueue``, for ``enqueue_many``."""

    kind: str
    payload: dict[str, Any]
    now: datetime
    dedup_key: str | None = None
    run_after: datetime | None = None
    max_attempts: int = 5


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What queueing one :class:`JobRequest` did: ``created`` False means ``job`` already had its dedup key."""

    job: Job
    created: bool
