"""`ticketsmith scan`: the scan workflow on a repository, run here as a persisted, resumable run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli._common import EXIT_FAILED, JsonOption, app, err, out, print_run_trouble, status_line, with_container
from service.cli.knowledge import container_factory
from service.container import Container, default_budget, ticket_project, workflow_engine
from service.domain.action_calls import Trigger
from service.domain.runs import Run, RunState
from service.errors import ConfigurationError, InvalidInput
from service.knowledge_base.sources import default_name, is_url, without_credentials
from service.orchestrator.scan import new_scan_run

CLI_PRINCIPAL = "cli"


def _unchanged_text(text: str) -> str:
    return text


def _target(container: Container, given: str) -> tuple[str | None, str]:
    """(source to index or None, repository name) for a path, clone URL or indexed repository's name."""
    if is_url(given):
        name = default_name(given)
        if without_credentials(given) != given:
            # Cloned here first so the credentials stay in the clone's remote and never enter the stored run;
            # the run's own sync then re-syncs the clone by name.
            container.knowledge.sync(given, name=name, ref=None)
            return None, name
        return given, name
    path = Path(given).expanduser()
    if path.exists():
        return str(path.resolve()), default_name(str(path))
    if container.knowledge.known(given):
        return None, given
    raise InvalidInput(
        f"{given} is neither a path, a clone URL nor the name of an indexed repository",
        hint="give a repository path, or index it first: ticketsmith index PATH --name NAME",
    )


def _print(run: Run) -> None:
    result = run.result or {}
    print_run_trouble(run, "scan")
    if result.get("dry_run"):
        for draft in (run.checkpoint.get("write") or {}).get("drafts", ()):
            out.print(f"[bold]{draft['summary']}[/]", highlight=False)
            out.print(draft["description"], highlight=False, markup=False)
    text = result.get("text")
    if text:
        out.print(text.rstrip(), highlight=False, markup=False)
    else:
        out.print(
            f"{result.get('created', 0)} tickets created, {result.get('updated', 0)} updated, "
            f"{result.get('skipped', 0)} skipped; {result.get('not_filed', 0)} problems not filed",
            highlight=False,
        )
        for ticket in result.get("tickets", ()):
            key = f" {ticket['key']}" if ticket.get("key") else ""
            url = f" ({ticket['url']})" if ticket.get("url") else ""
            out.print(f"- {ticket['action']}{key}: {ticket['summary']}{url}", highlight=False, markup=False)
    out.print(f"run {run.id} {run.state.value}; the trace: ticketsmith runs show {run.id}", highlight=False)


def _json(run: Run) -> dict[str, Any]:
    return {
        "run": {
            "id": run.id,
            "workflow": run.workflow,
            "state": run.state.value,
            "error": run.error,
            "planner": run.planner,
            "usage": run.usage.as_dict(),
            "budget": run.budget.as_dict(),
        },
        "result": run.result,
        "drafts": (run.checkpoint.get("write") or {}).get("drafts", []) if (run.result or {}).get("dry_run") else [],
    }


@app.command()
def scan(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A git repository path, a clone URL, or an indexed repository's name.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write the tickets and print them; file nothing.")] = False,
    since: Annotated[str | None, typer.Option(help="Only files changed since this commit, branch or tag.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Scan a repository: sync its knowledge base, run the checks, and file one ticket per problem found."""
    show = not as_json and err.is_terminal

    def work(container: Container) -> Run:
        settings = container.settings
        source, name = _target(container, target)
        project = ticket_project(settings)
        if project is None:
            raise ConfigurationError(
                "no project to file tickets in", hint="set TICKETSMITH_JIRA__PROJECT_KEY (or TICKETSMITH_TICKETS__*)"
            )
        store = container.run_store
        with status_line(show, "scanning") as echo:
            engine = workflow_engine(container, echo=echo)
            run = store.create(
                new_scan_run(
                    repository=name,
                    source=source,
                    since=since,
                    dry_run=dry_run,
                    trigger=Trigger.CLI,
                    principal=CLI_PRINCIPAL,
                    budget=default_budget(settings),
                    planner=container.runs.planner,
                )
            )
            return engine.advance(run.id)

    run: Run = with_container(as_json, in_memory=False, work=work, factory=container_factory(ctx))
    if as_json:
        out.print_json(data=_json(run))
    else:
        _print(run)
    if run.state is RunState.FAILED:
        raise typer.Exit(EXIT_FAILED)
