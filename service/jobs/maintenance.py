"""Housekeeping jobs that keep the service's own storage bounded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread

from service.domain.jobs import Job
from service.errors import InvalidInput
from service.jobs.worker import JobHandler
from service.ports.action_call_log import ActionCallLog

PRUNE_ACTION_CALLS = "maintenance.prune_action_calls"


def prune_action_calls(log: ActionCallLog, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> JobHandler:
    """Handler: delete action-call records older than the job's ``older_than_days``. Idempotent."""

    async def handle(job: Job) -> dict[str, Any]:
        days = job.payload.get("older_than_days")
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise InvalidInput(f"older_than_days must be a positive integer, not {days!r}")
        before = clock() - timedelta(days=days)
        deleted = await anyio.to_thread.run_sync(lambda: log.prune(before=before))
        return {"deleted": deleted, "before": before.isoformat()}

    return handle
