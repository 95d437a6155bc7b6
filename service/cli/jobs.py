"""`ticketsmith worker` and `ticketsmith jobs list`: background jobs."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import Annotated, Any

import typer
from rich.table import Table

from service.cli._common import (
    JsonOption,
    app,
    err,
    fail,
    jobs_app,
    out,
    with_container,
)
from service.container import Container, build_worker
from service.domain.jobs import Job, JobState
from service.errors import InvalidInput
from service.jobs.worker import Worker


def _job_row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state.value,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "run_after": job.run_after.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "last_error": job.last_error,
        "result": job.result,
    }


def _print_jobs(rows: list[dict[str, Any]], *, as_json: bool, empty: str) -> None:
    if as_json:
        out.print_json(data={"jobs": rows})
        return
    if not rows:
        out.print(empty)
        return
    table = Table("id", "kind", "state", "attempts", "updated", "error")
    for row in rows:
        table.add_row(
            row["id"],
            row["kind"],
            row["state"],
            f"{row['attempts']}/{row['max_attempts']}",
            row["updated_at"],
            row["last_error"] or "",
        )
    out.print(table)


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Run the jobs that are due, then exit.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run background jobs until stopped (SIGINT or SIGTERM), or once with --once."""
    worker_id = f"{socket.gethostname()}:{os.getpid()}:worker"
    logging.basicConfig(format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")

    def work(container: Container) -> list[Job]:
        logging.getLogger().setLevel(container.settings.logging.level)
        runner = build_worker(container, worker_id=worker_id)
        if once:
            return asyncio.run(runner.drain())
        asyncio.run(_run_until_signalled(runner))
        return []

    finished = with_container(as_json, in_memory=False, work=work)
    if once:
        _print_jobs([_job_row(job) for job in finished], as_json=as_json, empty="no jobs were due")


async def _run_until_signalled(runner: Worker) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    err.print(f"worker {runner.worker_id} running; Ctrl-C to stop")
    await runner.run(stop)


@jobs_app.command("list")
def jobs_list(
    state: Annotated[
        str | None, typer.Option(help="Only jobs in this state: queued, running, succeeded, failed.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List jobs, newest first."""
    try:
        wanted = JobState(state) if state is not None else None
    except ValueError:
        fail(InvalidInput(f"unknown state {state!r}", hint="use queued, running, succeeded or failed"), as_json=as_json)
    jobs = with_container(as_json, in_memory=False, work=lambda c: c.job_queue.list(state=wanted, limit=limit))
    _print_jobs([_job_row(job) for job in jobs], as_json=as_json, empty="no jobs")
