"""`ticketsmith runs list` and `ticketsmith runs show ID`: workflow runs and their traces."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from service.api.runs import FORMATS, trace_body
from service.cli._common import JsonOption, app, fail, out, with_container
from service.container import Container
from service.domain.runs import Run, RunState
from service.errors import InvalidInput
from service.traces.timeline import timeline

runs_app = typer.Typer(help="Workflow runs and their traces.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

_STATES = ", ".join(state.value for state in RunState)


def run_row(run: Run) -> dict[str, Any]:
    """A run as JSON (what ``runs list --json`` prints per run)."""
    return {
        "id": run.id,
        "workflow": run.workflow,
        "state": run.state.value,
        "trigger": run.trigger.value,
        "principal": run.principal,
        "repository": run.repository,
        "parameters": run.parameters,
        "step": run.step,
        "planner": run.planner,
        "budget": run.budget.as_dict(),
        "usage": run.usage.as_dict(),
        "result": run.result,
        "error": run.error,
        "version": run.version,
        "created_at": run.created_at.isoformat(),
        "updated_at": run.updated_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


@runs_app.command("list")
def runs_list(
    state: Annotated[str | None, typer.Option(help=f"Only runs in this state: {_STATES}.")] = None,
    workflow: Annotated[str | None, typer.Option(help="Only runs of this workflow (scan, suggest, ...).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List workflow runs, newest first."""
    try:
        wanted = RunState(state) if state is not None else None
    except ValueError:
        fail(InvalidInput(f"unknown state {state!r}", hint=f"use one of: {_STATES}"), as_json=as_json)
    runs: list[Run] = with_container(
        as_json, in_memory=False, work=lambda c: c.run_store.list(state=wanted, workflow=workflow, limit=limit)
    )
    if as_json:
        out.print_json(data={"runs": [run_row(run) for run in runs]})
        return
    if not runs:
        out.print("no runs")
        return
    table = Table()
    # ids are what the next command needs: never wrapped or cut, whatever the terminal's width
    table.add_column("id", no_wrap=True, min_width=max(len(run.id) for run in runs))
    for column in ("workflow", "state", "step", "tokens", "tickets", "created", "error"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run.id,
            run.workflow,
            run.state.value,
            run.step or "",
            str(run.usage.tokens),
            str(run.usage.tickets),
            run.created_at.isoformat(timespec="seconds"),
            escape(run.error or ""),
        )
    out.print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run's id (see `ticketsmith runs list`).")],
    format: Annotated[
        str | None, typer.Option("--format", help="Print the trace as JSON in this shape: ticketsmith or bedrock.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a run: a readable timeline of its trace, or (--json / --format) the run and its spans as JSON."""
    if format is not None and format not in FORMATS:
        fail(InvalidInput(f"unknown trace format {format!r}", hint=f"use one of: {', '.join(FORMATS)}"), as_json=True)

    def load(container: Container) -> tuple[Run, list[Any]]:
        run = container.run_store.get(run_id)
        return run, container.run_store.spans(run.id)

    run, spans = with_container(as_json or format is not None, in_memory=False, work=load)
    if format == "bedrock":
        out.print_json(data=trace_body(run, spans, format="bedrock"))
    elif as_json or format is not None:
        out.print_json(data={"run": run_row(run), **trace_body(run, spans)})
    else:
        out.print(timeline(run, spans), markup=False, highlight=False)
