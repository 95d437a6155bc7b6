"""Shared pieces of the CLI: the Typer apps, consoles, options, and error rendering."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from service import __version__
from service.container import Container, build_container
from service.domain.runs import Run, RunState
from service.errors import ConfigurationError, InvalidInput, TicketsmithError
from service.settings import Settings

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


def fail(error: TicketsmithError, *, as_json: bool) -> NoReturn:
    if as_json:
        out.print_json(data=error.to_dict())
    else:
        err.print(f"[bold red]error:[/] {error.message}", highlight=False)
        if error.hint:
            err.print(f"[bold]hint:[/] {error.hint}", highlight=False)
    usage = isinstance(error, ConfigurationError | InvalidInput)
    raise typer.Exit(EXIT_USAGE if usage else EXIT_FAILED)


def load_settings(as_json: bool) -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        fail(
            ConfigurationError(f"invalid settings: {problems}", hint="see .env.example for every TICKETSMITH_ setting"),
            as_json=as_json,
        )


def with_container(
    as_json: bool,
    *,
    in_memory: bool,
    work: Callable[[Container], Any],
    factory: Callable[[Settings], Container] | None = None,
) -> Any:
    """Run ``work`` with a container built from the settings (by ``factory`` when given: tests pass fakes)."""
    settings = load_settings(as_json)
    try:
        container = factory(settings) if factory is not None else build_container(settings, in_memory=in_memory)
    except TicketsmithError as exc:
        fail(exc, as_json=as_json)
    try:
        return work(container)
    except TicketsmithError as exc:
        fail(exc, as_json=as_json)
    finally:
        container.close()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit()


@contextmanager
def status_line(show: bool, label: str) -> Iterator[Callable[[str], None]]:
    """A receiver of progress messages: shown on a stderr status line under ``label`` when ``show``, else
    dropped."""
    if not show:
        yield lambda message: None
        return
    with err.status(label) as status:
        yield lambda message: status.update(message)


def print_run_trouble(run: Run, what: str) -> None:
    """On stderr: the error of a failed run and the limit of a spent budget (``what`` names the workflow)."""
    result = run.result or {}
    if run.state is RunState.FAILED:
        err.print(f"[bold red]{what} failed:[/] {run.error}", highlight=False)
    if result.get("stopped_by"):
        err.print(f"[yellow]stopped:[/] the run's {result['stopped_by']} budget was spent", highlight=False)
