"""The background job that runs the checks on a repository and stores the run under the job's id."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread

from service.domain.findings import CheckRun, SkippedCheck
from service.domain.jobs import Job
from service.errors import Conflict, InvalidInput
from service.ports.finding_store import FindingStore
from service.quality.checker import Checker
from service.quality.runner import run_checks

QUALITY_CHECK = "quality.check"


def check_payload(root: Path, since: str | None) -> dict[str, Any]:
    """The payload of a :data:`QUALITY_CHECK` job."""
    return {"root": str(root), "since": since}


def quality_check_handler(
    store: FindingStore,
    checkers: Callable[[], list[Checker]],
    *,
    scratch_parent: Path,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[Job], Awaitable[dict[str, Any]]]:
    """Handler: run the checks named in the payload and save them as check run ``job.id``. Idempotent."""

    def work(job: Job) -> dict[str, Any]:
        root, since = job.payload.get("root"), job.payload.get("since")
        if not isinstance(root, str) or not (since is None or isinstance(since, str)):
            raise InvalidInput(f"bad {QUALITY_CHECK} payload: {job.payload!r}")
        report = run_checks(Path(root), checkers(), since=since, scratch_parent=scratch_parent)
        run = CheckRun(
            id=job.id,
            root=str(report.root),
            commit=report.commit,
            since=since,
            files_checked=report.files_checked,
            findings_count=len(report.findings),
            seconds=report.seconds,
            skipped=tuple(SkippedCheck(checker=s.name, reason=s.reason) for s in report.skipped),
            created_at=clock(),
        )
        # Conflict: an earlier attempt of this job saved it before its lease ran out; that run stands.
        with contextlib.suppress(Conflict):
            store.save_run(run, report.findings)
        return {"run_id": job.id, "findings": len(report.findings), "files_checked": report.files_checked}

    async def handle(job: Job) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(work, job)

    return handle
