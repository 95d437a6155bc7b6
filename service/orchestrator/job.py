"""The background jobs that run workflows.

``workflow.run`` advances one run through the engine until it ends or pauses. The engine saves the run's step,
checkpoint and usage after every step, so when a worker dies mid-run its job's lease expires, another worker
claims the job and the engine continues from the saved step (a step cut short is done again; the ticket filer's
claims keep that from filing a ticket twice). When the job's attempts are used up, the run is marked ``FAILED``
with the reason, so no run stays ``RUNNING`` for ever.

``workflow.scan`` is what a Jira trigger rule queues (``service/jobs/jira_webhooks.py``): it becomes a scan run
with trigger ``jira``, deduplicated on the delivery and rule; ``workflow.suggest`` likewise becomes a suggest run
for the issue the delivery was about.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

import anyio.to_thread

from service.domain.action_calls import Trigger
from service.domain.jobs import Job
from service.domain.runs import Run, RunState
from service.errors import Conflict, InvalidInput, TicketsmithError
from service.jobs.jira_webhooks import WORKFLOW_JOB_PREFIX
from service.jobs.worker import PERMANENT_ERRORS, JobHandler
from service.orchestrator.runs import RunService
from service.ports.run_store import RunStore
from service.traces.recorder import TraceRecorder

logger = logging.getLogger(__name__)

WORKFLOW_SCAN = f"{WORKFLOW_JOB_PREFIX}scan"
"""Job kind a Jira trigger rule queues for a scan (payload: rule, workflow, issue, project, parameters, ...)."""

WORKFLOW_SUGGEST = f"{WORKFLOW_JOB_PREFIX}suggest"
"""Job kind a Jira trigger rule queues for a suggestion on the delivery's issue (same payload as a scan's)."""

JIRA_PRINCIPAL = "jira-webhook"


class RunAdvancer(Protocol):
    """What the job needs of the workflow engine."""

    def advance(self, run_id: str) -> Run:
        """Run the run's remaining steps from its saved step and return it as saved.

        A run that ended (succeeded, cancelled, spent its budget, failed) comes back in that state, one that
        waits for a person ``PAUSED``; one another worker is advancing comes back as that worker saved it.
        Other errors propagate with the run left at the step that failed (the job is retried).
        """
        ...


def _error_text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, TicketsmithError) else f"{type(exc).__name__}: {exc}"


def mark_failed(store: RunStore, run_id: str, reason: str, *, clock: Callable[[], datetime]) -> Run:
    """Mark the run ``FAILED`` with ``reason`` unless it has ended already (then it is returned unchanged)."""
    for _ in range(5):
        run = store.get(run_id)
        if run.state.terminal:
            return run
        now = clock()
        try:
            failed = store.save(replace(run, state=RunState.FAILED, error=reason, updated_at=now, finished_at=now))
        except Conflict:
            continue
        TraceRecorder(store, run_id).failure(error=reason, where=run.step or "run")
        return failed
    raise Conflict(f"run {run_id} kept changing while it was being marked failed")


def workflow_run_handler(
    store: RunStore,
    engine: RunAdvancer,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> JobHandler:
    """Handler of ``workflow.run``: advance the run in the payload until it ends or pauses; return its state."""

    def work(job: Job) -> dict[str, Any]:
        run_id = job.payload.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInput(f"bad workflow.run payload: {job.payload!r}")
        run = store.get(run_id)
        if run.state.terminal:
            return {"run_id": run.id, "state": run.state.value}
        if job.attempts > job.max_attempts:
            # Every earlier attempt ended with its worker gone (the lease expired): the job is claimed again
            # for ever unless the run is given up here.
            reason = (
                f"gave up after {job.max_attempts} attempts: the worker running it stopped each time "
                f"before it finished (last at step {run.step or 'start'})"
            )
            failed = mark_failed(store, run.id, reason, clock=clock)
            return {"run_id": failed.id, "state": failed.state.value, "error": failed.error}
        if job.attempts > 1:
            logger.info("run resumed id=%s step=%s attempt=%d", run.id, run.step, job.attempts)
        try:
            # Not terminal nor paused afterwards: another worker moved the run on meanwhile and advances it.
            run = engine.advance(run.id)
        except Exception as exc:
            if isinstance(exc, PERMANENT_ERRORS) or job.attempts >= job.max_attempts:
                mark_failed(store, run_id, _error_text(exc), clock=clock)
            raise
        return {"run_id": run.id, "state": run.state.value, **({"error": run.error} if run.error else {})}

    async def handle(job: Job) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(work, job)

    return handle


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def jira_scan_handler(
    runs: RunService,
    *,
    default_repository: Callable[[str | None], str],
) -> JobHandler:
    """Handler of ``workflow.scan`` (queued by a Jira trigger rule): start the scan run it asks for.

    The repository is the rule's ``repository`` parameter, or the only one indexed (``default_repository``);
    ``since`` and ``dry_run`` come from the rule's parameters too. Idempotent: the run is deduplicated on the
    delivery and rule, so a re-claimed job starts nothing twice.
    """

    def work(job: Job) -> dict[str, Any]:
        payload = job.payload
        raw = payload.get("parameters")
        rule_parameters = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        repository = default_repository(rule_parameters.pop("repository", None))
        parameters: dict[str, Any] = {
            "since": rule_parameters.pop("since", None),
            "dry_run": _flag(rule_parameters.pop("dry_run", None)),
            "issue": payload.get("issue"),
            "project": payload.get("project"),
            "rule": payload.get("rule"),
            **rule_parameters,
        }
        run = runs.start(
            workflow="scan",
            repository=repository,
            parameters=parameters,
            trigger=Trigger.JIRA_WEBHOOK,
            principal=JIRA_PRINCIPAL,
            dedup_key=f"jira:{payload.get('delivery') or job.id}:{payload.get('rule')}",
        )
        return {"run_id": run.id, "state": run.state.value, "repository": repository}

    async def handle(job: Job) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(work, job)

    return handle


def jira_suggest_handler(
    runs: RunService,
    *,
    default_repository: Callable[[str | None], str],
) -> JobHandler:
    """Handler of ``workflow.suggest`` (queued by a Jira trigger rule): start a suggest run for the delivery's
    issue. The repository is the rule's ``repository`` parameter or the only one indexed; ``dry_run`` comes from
    the rule's parameters. Idempotent: the run is deduplicated on the delivery and rule. A payload without an
    issue key fails the job with the reason (nothing to suggest for)."""

    def work(job: Job) -> dict[str, Any]:
        payload = job.payload
        issue = payload.get("issue")
        if not isinstance(issue, str) or not issue.strip():
            raise InvalidInput("the Jira delivery names no issue to suggest a change for")
        raw = payload.get("parameters")
        rule_parameters = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        repository = default_repository(rule_parameters.pop("repository", None))
        run = runs.start(
            workflow="suggest",
            repository=repository,
            parameters={
                "issue": issue.strip(),
                "dry_run": _flag(rule_parameters.pop("dry_run", None)),
                "project": payload.get("project"),
                "rule": payload.get("rule"),
            },
            trigger=Trigger.JIRA_WEBHOOK,
            principal=JIRA_PRINCIPAL,
            dedup_key=f"jira:{payload.get('delivery') or job.id}:{payload.get('rule')}",
        )
        return {"run_id": run.id, "state": run.state.value, "repository": repository, "issue": issue.strip()}

    async def handle(job: Job) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(work, job)

    return handle
