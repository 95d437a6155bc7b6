"""The worker: claims durable jobs, runs their handlers, and records the outcome with retries.

Many workers may run at once, in one process or many, on SQLite or PostgreSQL: claims are atomic and leased,
so a job is run by one worker at a time and a worker that dies mid-job only delays it until its lease expires.
Handlers must therefore be idempotent (a job can run twice if a lease expires while it still runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread

from service.domain.jobs import Job, JobState
from service.errors import (
    ConfigurationError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TicketsmithError,
    Unauthorized,
)
from service.ports.job_queue import JobQueue

logger = logging.getLogger(__name__)

JobHandler = Callable[[Job], Awaitable[dict[str, Any]]]
# Errors that trying again cannot cure (a bad payload, an unknown ref or repository, missing rights or settings):
# the job fails at once with the reason instead of sitting queued through its retries.
PERMANENT_ERRORS = (InvalidInput, NotFound, Forbidden, Unauthorized, ConfigurationError)


@dataclass(frozen=True)
class Periodic:
    """A job kind enqueued once per ``every`` window, whatever the number of workers (deduplicated by window)."""

    kind: str
    every: timedelta
    payload: Mapping[str, Any]


class Worker:
    """Runs jobs of the kinds in ``handlers`` from ``queue``.

    A handler gets the job and returns a JSON object recorded as its result; an exception is a failed attempt,
    retried after an exponential back-off with jitter until the job's ``max_attempts`` are used. A handler
    that runs past ``lease_seconds`` is cancelled, so the job is never run by two workers at once, except for
    the kinds in ``renewing`` (long jobs with their own time limit, such as workflow runs): while one of those
    runs, the worker renews its lease every third of ``lease_seconds``, so it is taken over only when the
    worker is gone.
    """

    def __init__(
        self,
        *,
        queue: JobQueue,
        handlers: Mapping[str, JobHandler],
        worker_id: str,
        lease_seconds: float = 300.0,
        poll_interval: float = 1.0,
        periodic: tuple[Periodic, ...] = (),
        renewing: Collection[str] = (),
        backoff_base_seconds: float = 5.0,
        backoff_max_seconds: float = 600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._queue = queue
        self._handlers = dict(handlers)
        self.worker_id = worker_id
        self._lease = lease_seconds
        self._poll = poll_interval
        self._periodic = periodic
        self._renewing = frozenset(renewing)
        self._backoff_base = backoff_base_seconds
        self._backoff_max = backoff_max_seconds
        self._clock = clock

    def _retry_at(self, job: Job, now: datetime) -> datetime:
        delay = min(self._backoff_max, self._backoff_base * 2 ** max(job.attempts - 1, 0))
        return now + timedelta(seconds=delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not secrecy

    async def schedule_periodic(self) -> None:
        """Enqueue each periodic job for the current window (a no-op when another worker already did)."""
        now = self._clock()
        for item in self._periodic:
            seconds = item.every.total_seconds()
            window = datetime.fromtimestamp(now.timestamp() // seconds * seconds, tz=UTC)
            key = f"{item.kind}@{window.isoformat()}"
            await anyio.to_thread.run_sync(self._enqueue_periodic, item, key, now)

    def _enqueue_periodic(self, item: Periodic, key: str, now: datetime) -> None:
        self._queue.enqueue(kind=item.kind, payload=dict(item.payload), now=now, dedup_key=key)

    async def run_once(self) -> Job | None:
        """Claim and run one due job; return it as recorded afterwards, or None when nothing was due."""
        now = self._clock()
        job = await anyio.to_thread.run_sync(
            lambda: self._queue.claim(
                worker_id=self.worker_id, kinds=list(self._handlers), now=now, lease_seconds=self._lease
            )
        )
        if job is None:
            return None
        logger.info("job started id=%s kind=%s attempt=%d", job.id, job.kind, job.attempts)
        try:
            result = await self._call(job)
        except TimeoutError:
            return await self._failed(job, f"did not finish within {self._lease * 0.9:g} s (90% of its lease)")
        except Exception as exc:
            error = exc.message if isinstance(exc, TicketsmithError) else f"{type(exc).__name__}: {exc}"
            return await self._failed(job, error, retry=not isinstance(exc, PERMANENT_ERRORS))
        finished = self._clock()
        done = await anyio.to_thread.run_sync(
            lambda: self._queue.complete(job_id=job.id, worker_id=self.worker_id, result=result, now=finished)
        )
        logger.info("job succeeded id=%s kind=%s", job.id, job.kind)
        return done

    async def _call(self, job: Job) -> dict[str, Any]:
        handler = self._handlers[job.kind]
        if job.kind not in self._renewing:
            async with asyncio.timeout(self._lease * 0.9):
                return await handler(job)
        heartbeat = asyncio.create_task(self._heartbeat(job))
        try:
            return await handler(job)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, job: Job) -> None:
        """Renew ``job``'s lease until cancelled; stop when another worker has taken it over."""
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await anyio.to_thread.run_sync(
                    lambda: self._queue.renew(
                        job_id=job.id, worker_id=self.worker_id, now=self._clock(), lease_seconds=self._lease
                    )
                )
            except Conflict:
                logger.warning("job lease lost id=%s kind=%s: another worker took it over", job.id, job.kind)
                return
            except Exception:
                logger.exception("could not renew the lease of job id=%s; trying again", job.id)

    async def _failed(self, job: Job, error: str, *, retry: bool = True) -> Job:
        logger.warning("job failed id=%s kind=%s attempt=%d error=%s", job.id, job.kind, job.attempts, error)
        finished = self._clock()
        return await anyio.to_thread.run_sync(
            lambda: self._queue.fail(
                job_id=job.id,
                worker_id=self.worker_id,
                error=error,
                retry_at=self._retry_at(job, finished),
                now=finished,
                retry=retry,
            )
        )

    async def drain(self) -> list[Job]:
        """Run due jobs until none is left; return them as recorded."""
        await self.schedule_periodic()
        finished: list[Job] = []
        while (job := await self.run_once()) is not None:
            finished.append(job)
        return finished

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; sleep ``poll_interval`` between empty polls. Store outages are retried."""
        logger.info("worker started id=%s kinds=%s", self.worker_id, ",".join(sorted(self._handlers)))
        while not stop.is_set():
            try:
                await self.schedule_periodic()
                job = await self.run_once()
            except Exception:
                # The queue's store is unreachable; keep the worker alive and try again shortly.
                logger.exception("worker could not reach the job queue; retrying")
                job = None
            if job is None or job.state is JobState.QUEUED:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._poll)
        logger.info("worker stopped id=%s", self.worker_id)
