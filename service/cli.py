"""The ``ticketsmith`` command: thin over the same container, dispatcher and handlers as the service.

Every command takes ``--json`` for machine-readable output and exits non-zero on failure: 1 when the work
failed or found problems, 2 when the command could not run as asked (bad input or configuration).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from service import __version__
from service.action_groups import schema_export
from service.action_groups.operations import CallContext
from service.container import Container, build_container, build_worker, migrate_database, redacted_database_url
from service.domain.action_calls import Trigger
from service.domain.findings import Finding, Severity
from service.domain.jobs import Job, JobState
from service.domain.principals import LOCAL_OPERATOR
from service.errors import ConfigurationError, InvalidInput, TicketsmithError
from service.jobs.worker import Worker
from service.quality.checkers import all_checkers
from service.quality.runner import CheckReport, run_checks
from service.quality.sarif import to_sarif
from service.settings import Settings, is_loopback

app = typer.Typer(
    name="ticketsmith",
    help="Put an AI agent to work on your codebase and your Jira.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schemas_app = typer.Typer(help="Export and check the action-group schemas in agent_schemas/.", no_args_is_help=True)
actions_app = typer.Typer(help="List and call action-group operations locally.", no_args_is_help=True)
bedrock_app = typer.Typer(help="Work with Bedrock action-group events.", no_args_is_help=True)
db_app = typer.Typer(help="The service database.", no_args_is_help=True)
jobs_app = typer.Typer(help="The durable job queue.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
app.add_typer(actions_app, name="actions")
app.add_typer(bedrock_app, name="bedrock")
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
SchemaDirOption = Annotated[Path, typer.Option("--dir", help="Directory of the schema files.")]

EXIT_FAILED = 1
EXIT_USAGE = 2


def _fail(error: TicketsmithError, *, as_json: bool) -> NoReturn:
    if as_json:
        out.print_json(data=error.to_dict())
    else:
        err.print(f"[bold red]error:[/] {error.message}", highlight=False)
        if error.hint:
            err.print(f"[bold]hint:[/] {error.hint}", highlight=False)
    usage = isinstance(error, ConfigurationError | InvalidInput)
    raise typer.Exit(EXIT_USAGE if usage else EXIT_FAILED)


def _settings(as_json: bool) -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        _fail(
            ConfigurationError(f"invalid settings: {problems}", hint="see .env.example for every TICKETSMITH_ setting"),
            as_json=as_json,
        )


def _with_container(as_json: bool, *, in_memory: bool, work: Callable[[Container], Any]) -> Any:
    settings = _settings(as_json)
    try:
        container = build_container(settings, in_memory=in_memory)
    except TicketsmithError as exc:
        _fail(exc, as_json=as_json)
    try:
        return work(container)
    except TicketsmithError as exc:
        _fail(exc, as_json=as_json)
    finally:
        container.close()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default from settings: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings: 8000).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Server processes (default from settings: 1).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Start the HTTP service (REST, Bedrock endpoint, health checks)."""
    import uvicorn

    from service.app import create_app

    settings = _settings(as_json)
    overrides = {k: v for k, v in (("host", host), ("port", port), ("workers", workers)) if v is not None}
    server = settings.server.model_copy(update=overrides)
    settings = settings.model_copy(update={"server": server})
    if not settings.auth_enabled and not is_loopback(server.host):
        _fail(
            ConfigurationError(
                f"refusing to listen on {server.host}: no API keys are configured, so anyone could call the service",
                hint='set TICKETSMITH_API_KEYS=\'[{"name":"me","key":"<openssl rand -hex 24>"}]\' or bind 127.0.0.1',
            ),
            as_json=as_json,
        )
    logging.basicConfig(
        level=settings.logging.level, format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
    )
    if not settings.auth_enabled:
        err.print(f"no API keys configured: serving on loopback only ({server.host}), every caller is trusted")
    err.print(
        f"ticketsmith {__version__} on http://{server.host}:{server.port} with {server.workers} worker(s) "
        f"(storage: {redacted_database_url(settings)})"
    )
    log_level = settings.logging.level.lower()
    if server.workers == 1:
        try:
            application = create_app(settings)
        except TicketsmithError as exc:
            _fail(exc, as_json=as_json)
        uvicorn.run(application, host=server.host, port=server.port, log_level=log_level)
        return
    # Several processes: migrate once here, so the workers (which build their own container from the same
    # environment) do not race each other through the migrations.
    try:
        if settings.database.auto_migrate:
            migrate_database(settings)
    except TicketsmithError as exc:
        _fail(exc, as_json=as_json)
    os.environ["TICKETSMITH_DATABASE__AUTO_MIGRATE"] = "false"
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=server.host,
        port=server.port,
        workers=server.workers,
        log_level=log_level,
    )


@schemas_app.command("export")
def schemas_export(
    directory: SchemaDirOption = Path("agent_schemas"),
    functions: Annotated[bool, typer.Option("--functions", help="Also write the function-details form.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write agent_schemas/<group>.json (OpenAPI 3.0) for every action group."""
    written = _with_container(
        as_json, in_memory=True, work=lambda c: schema_export.export(c.registry, directory, functions=functions)
    )
    if as_json:
        out.print_json(data={"written": [str(p) for p in written]})
    else:
        for path in written:
            out.print(f"wrote {path}")


@schemas_app.command("check")
def schemas_check(directory: SchemaDirOption = Path("agent_schemas"), as_json: JsonOption = False) -> None:
    """Fail when a committed schema drifts from the code or breaks a Bedrock rule."""
    report = _with_container(as_json, in_memory=True, work=lambda c: schema_export.check(c.registry, directory))
    if as_json:
        out.print_json(
            data={
                "ok": not report,
                "problems": [
                    {"file": file, "operation": p.operation, "rule": p.rule, "message": p.message}
                    for file, problems in report.items()
                    for p in problems
                ],
            }
        )
    elif not report:
        out.print(f"all schemas in {directory} match the code and follow the Bedrock rules")
    else:
        for file, problems in report.items():
            err.print(f"[bold]{file}[/]", highlight=False)
            for problem in problems:
                err.print(f"  {problem}", highlight=False)
        err.print("run `ticketsmith schemas export` after changing operations, and commit the result")
    if report:
        raise typer.Exit(EXIT_FAILED)


@actions_app.command("list")
def actions_list(as_json: JsonOption = False) -> None:
    """List action groups and their operations."""

    def rows(container: Container) -> list[dict[str, str]]:
        return [
            {
                "group": g.name,
                "operation": op.operation_id,
                "method": op.method,
                "path": g.full_path(op),
                "description": op.description,
            }
            for g in container.registry
            for op in g.operations
        ]

    listed = _with_container(as_json, in_memory=True, work=rows)
    if as_json:
        out.print_json(data={"operations": listed})
        return
    table = Table("group", "operation", "method", "path", "description")
    for row in listed:
        table.add_row(*row.values())
    out.print(table)


def _parse_params(params: list[str], body: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidInput(f"--param {item!r} is not NAME=VALUE")
        values[name] = value
    if body is not None:
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            raise InvalidInput(f"--body is not valid JSON: {exc}") from None
        if not isinstance(decoded, dict):
            raise InvalidInput("--body must be a JSON object")
        values.update(decoded)
    return values


@actions_app.command("call")
def actions_call(
    group: Annotated[str, typer.Argument(help="Action group name, e.g. system.")],
    operation: Annotated[str, typer.Argument(help="operationId, e.g. getServiceInfo.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE; repeatable.")] = None,
    body: Annotated[str | None, typer.Option("--body", help="JSON object of body fields.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Call an operation through the same handlers the service uses."""

    def work(container: Container) -> BaseModel:
        values = _parse_params(param or [], body)
        ctx = CallContext(trigger=Trigger.CLI, principal=LOCAL_OPERATOR)
        return asyncio.run(container.dispatcher.call(group, operation, ctx, values))

    result = _with_container(as_json, in_memory=False, work=work)
    out.print_json(result.model_dump_json(by_alias=True))


@bedrock_app.command("replay")
def bedrock_replay(
    event_file: Annotated[Path, typer.Argument(help="A Bedrock action-group event as JSON ('-' for stdin).")],
    as_json: JsonOption = False,
) -> None:
    """Answer a recorded Bedrock event locally and print the response envelope."""
    try:
        payload = sys.stdin.buffer.read() if str(event_file) == "-" else event_file.read_bytes()
    except OSError as exc:
        _fail(InvalidInput(f"cannot read {event_file}: {exc.strerror}"), as_json=as_json)

    def work(container: Container) -> dict[str, Any]:
        return asyncio.run(
            container.dispatcher.handle_event_bytes(payload, trigger=Trigger.CLI, principal=LOCAL_OPERATOR)
        )

    envelope = _with_container(as_json, in_memory=False, work=work)
    out.print_json(data=envelope)
    response = envelope.get("response", {})
    failed = response.get("httpStatusCode", 200) >= 400 or "responseState" in response.get("functionResponse", {})
    if failed:
        raise typer.Exit(EXIT_FAILED)


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

    finished = _with_container(as_json, in_memory=False, work=work)
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
        _fail(
            InvalidInput(f"unknown state {state!r}", hint="use queued, running, succeeded or failed"), as_json=as_json
        )
    jobs = _with_container(as_json, in_memory=False, work=lambda c: c.job_queue.list(state=wanted, limit=limit))
    _print_jobs([_job_row(job) for job in jobs], as_json=as_json, empty="no jobs")


SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def _finding_row(finding: Finding) -> dict[str, Any]:
    return {
        "rule_id": finding.rule_id,
        "tool": finding.tool,
        "category": finding.category.value,
        "severity": finding.severity.value,
        "path": finding.path,
        "start_line": finding.start_line,
        "end_line": finding.end_line,
        "symbol": finding.symbol,
        "message": finding.message,
        "snippet": finding.snippet,
        "fingerprint": finding.fingerprint,
        "help_url": finding.help_url,
    }


def _print_report(report: CheckReport) -> None:
    by_file: dict[str, list[Finding]] = {}
    for finding in report.findings:
        by_file.setdefault(finding.path or "(repository)", []).append(finding)
    for path in sorted(by_file):
        out.print(f"[bold]{path}[/]", highlight=False)
        for finding in sorted(by_file[path], key=lambda f: (f.severity.rank, f.start_line)):
            where = f"{finding.start_line:>5}" if finding.start_line else "     "
            style = SEVERITY_STYLE[finding.severity.value]
            symbol = f" in {finding.symbol}" if finding.symbol else ""
            out.print(
                f"  {where}  [{style}]{finding.severity.value:<8}[/] {finding.rule_id}{symbol}: {finding.message}",
                highlight=False,
            )
    counts = {s.value: sum(1 for f in report.findings if f.severity is s) for s in Severity}
    summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "no findings"
    out.print(
        f"{summary} in {report.files_checked} files ({report.seconds:.1f} s"
        f"{f', {report.suppressed} suppressed' if report.suppressed else ''})",
        highlight=False,
    )
    for skipped in report.skipped:
        err.print(f"[yellow]skipped[/] {skipped.name}: {skipped.reason}", highlight=False)


@app.command()
def check(
    path: Annotated[Path, typer.Argument(help="A git repository to check.")] = Path("."),
    since: Annotated[str | None, typer.Option(help="Only files changed since this commit, branch or tag.")] = None,
    fail_on: Annotated[
        str, typer.Option(help="Exit 1 when a finding is at least this severe: critical, high, medium, low, info.")
    ] = "low",
    sarif: Annotated[Path | None, typer.Option("--sarif", help="Also write the findings as SARIF 2.1.0 here.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the quality checkers (lint, security, complexity, secrets, markers, hygiene) on a repository."""
    try:
        threshold = Severity(fail_on)
    except ValueError:
        _fail(
            InvalidInput(f"unknown severity {fail_on!r}", hint="critical, high, medium, low or info"), as_json=as_json
        )
    settings = _settings(as_json)
    checkers = all_checkers()
    try:
        if as_json or not out.is_terminal:
            report = run_checks(path, checkers, since=since, scratch_parent=settings.data_dir / "scratch")
        else:
            with Progress(*Progress.get_default_columns(), transient=True, console=err) as bar:
                task = bar.add_task("checking", total=len(checkers))

                def advance(name: str) -> None:
                    bar.update(task, advance=1, description=f"running {name}")

                report = run_checks(
                    path, checkers, since=since, scratch_parent=settings.data_dir / "scratch", progress=advance
                )
    except TicketsmithError as exc:
        _fail(exc, as_json=as_json)
    if sarif is not None:
        try:
            sarif.write_text(json.dumps(to_sarif(report), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            _fail(InvalidInput(f"cannot write {sarif}: {exc.strerror}"), as_json=as_json)
    if as_json:
        out.print_json(
            data={
                "root": str(report.root),
                "commit": report.commit,
                "files_checked": report.files_checked,
                "seconds": report.seconds,
                "suppressed": report.suppressed,
                "checkers_run": report.checkers_run,
                "skipped": [{"checker": s.name, "reason": s.reason} for s in report.skipped],
                "findings": [_finding_row(f) for f in report.findings],
            }
        )
    else:
        _print_report(report)
    if any(f.severity.rank <= threshold.rank for f in report.findings):
        raise typer.Exit(EXIT_FAILED)


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOption = False) -> None:
    """Apply pending database migrations (the service does this at start unless auto_migrate is off)."""
    settings = _settings(as_json)
    try:
        revision = migrate_database(settings)
    except TicketsmithError as exc:
        _fail(exc, as_json=as_json)
    if as_json:
        out.print_json(data={"revision": revision, "database": redacted_database_url(settings)})
    else:
        out.print(f"database at revision {revision}")


def main() -> None:
    """Console-script entry point."""
    app()
