"""The job behind every accepted Jira webhook delivery: evaluate the trigger rules, record the runs they ask for.

Workflows (suggest, scan) are run by the orchestrator; until it is built, each run a rule asks for is recorded
as a queued job of kind ``workflow.<name>`` (no worker handles those kinds yet, so they wait for it), and the
webhook job's result lists them with the rule that matched. Re-running the job (a lease that expired) records
nothing twice: each planned run is deduplicated on (delivery identifier, rule).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread

from service.domain.jobs import Job
from service.jobs.triggers import PlannedRun, plan_runs
from service.jobs.worker import JobHandler
from service.ports.job_queue import JobQueue
from service.settings import TriggerRule

JIRA_WEBHOOK = "jira.webhook"
WORKFLOW_JOB_PREFIX = "workflow."


def _summary(job: Job) -> dict[str, Any]:
    return {
        "event": job.payload.get("event"),
        "issue": job.payload.get("issue_key"),
        "actor": job.payload.get("actor"),
    }


def jira_webhook_handler(
    rules: Sequence[TriggerRule],
    queue: JobQueue,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> JobHandler:
    """Handler: the runs ``rules`` ask for, each recorded as a pending ``workflow.<name>`` job. Idempotent."""

    def record(job: Job, run: PlannedRun) -> dict[str, Any]:
        pending = queue.enqueue(
            kind=f"{WORKFLOW_JOB_PREFIX}{run.workflow}",
            payload={**run.as_dict(), "trigger_job": job.id, "delivery": job.payload.get("identifier")},
            now=clock(),
            dedup_key=f"trigger:{job.payload.get('identifier') or job.id}:{run.rule}",
        )
        return {**run.as_dict(), "job": pending.id, "status": "pending"}

    async def handle(job: Job) -> dict[str, Any]:
        body = job.payload.get("body")
        runs = plan_runs(rules, body if isinstance(body, dict) else {})
        started = [await anyio.to_thread.run_sync(record, job, run) for run in runs]
        note = (
            "recorded the runs the matching rules ask for; the orchestrator starts them"
            if started
            else "no trigger rule matched this event"
        )
        return {**_summary(job), "started": started, "note": note}

    return handle
