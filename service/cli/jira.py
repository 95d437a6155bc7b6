"""`ticketsmith jira check` and `ticketsmith tickets list|show`: the issue tracker from the command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from service.cli._common import EXIT_FAILED, JsonOption, app, fail, out, with_container
from service.container import Container, ticket_project
from service.domain.tickets import Ticket, TrackerReport
from service.errors import ConfigurationError

jira_app = typer.Typer(help="The Jira connection.", no_args_is_help=True)
tickets_app = typer.Typer(help="Tickets in the local dry-run store (used when no Jira is configured).")
app.add_typer(jira_app, name="jira")
app.add_typer(tickets_app, name="tickets", no_args_is_help=True)

DRY_RUN = (
    "Jira is not configured: local dry-run mode. Tickets are kept in the local database and nothing is sent "
    "anywhere; list them with `ticketsmith tickets list`. To file in Jira, set TICKETSMITH_JIRA__URL and its "
    "credentials (see .env.example)."
)


def _report_json(report: TrackerReport, *, sends: bool) -> dict[str, Any]:
    return {
        "tracker": report.tracker,
        "sends": sends,
        "mode": "jira" if sends else "dry-run",
        "url": report.url,
        "account": report.account,
        "projectKey": report.project_key,
        "issueTypes": list(report.issue_types),
        "requiredFields": {name: list(fields) for name, fields in report.required_fields.items()},
        "ok": report.ok,
        "problems": [{"what": p.what, "fix": p.fix} for p in report.problems],
    }


def _print_report(report: TrackerReport, *, sends: bool) -> None:
    if not sends:
        out.print(DRY_RUN, highlight=False)
    out.print(f"tracker: {report.tracker}" + (f" at {report.url}" if report.url else ""), highlight=False)
    if report.account:
        out.print(f"account: {report.account}", highlight=False)
    if report.project_key:
        out.print(f"project: {report.project_key}", highlight=False)
    if report.issue_types:
        out.print(f"issue types: {', '.join(report.issue_types)}", highlight=False)
    for name, fields in report.required_fields.items():
        out.print(f"required on create ({name}): {', '.join(fields) or 'nothing beyond the basics'}", highlight=False)
    if report.ok:
        out.print("[bold green]ok:[/] no problems found")
        return
    for problem in report.problems:
        out.print(f"[bold red]problem:[/] {problem.what}", highlight=False)
        out.print(f"  [bold]fix:[/] {problem.fix}", highlight=False)


@jira_app.command("check")
def jira_check(as_json: JsonOption = False) -> None:
    """Check the connection, credentials, project, issue types and required fields; exit 1 on problems."""

    def work(container: Container) -> tuple[TrackerReport, bool]:
        tracker = container.issue_tracker
        return tracker.check(project_key=ticket_project(container.settings)), tracker.sends

    report, sends = with_container(as_json, in_memory=False, work=work)
    if as_json:
        out.print_json(data=_report_json(report, sends=sends))
    else:
        _print_report(report, sends=sends)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


def _ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "key": ticket.key,
        "url": ticket.url,
        "project": ticket.project_key,
        "summary": ticket.summary,
        "issueType": ticket.issue_type,
        "status": ticket.status,
        "statusCategory": ticket.status_category.value,
        "labels": list(ticket.labels),
        "created": ticket.created.isoformat() if ticket.created else None,
        "updated": ticket.updated.isoformat() if ticket.updated else None,
    }


def _local(container: Container, as_json: bool) -> Container:
    if container.issue_tracker.sends:
        fail(
            ConfigurationError(
                f"tickets are filed in {container.issue_tracker.name}, not in the local store",
                hint="search them in Jira, or with the jira action group (searchIssues)",
            ),
            as_json=as_json,
        )
    return container


@tickets_app.command("list")
def tickets_list(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the tickets of the local dry-run store, newest first."""
    found: list[Ticket] = with_container(
        as_json,
        in_memory=False,
        work=lambda c: _local(c, as_json).issue_tracker.search(jql="order by created desc", limit=limit),
    )
    if as_json:
        out.print_json(data={"tickets": [_ticket_json(t) for t in found]})
        return
    if not found:
        out.print("no tickets in the local store")
        return
    table = Table("key", "status", "type", "summary", "labels")
    for ticket in found:
        table.add_row(ticket.key, ticket.status, ticket.issue_type, ticket.summary, " ".join(ticket.labels))
    out.print(table)


@tickets_app.command("show")
def tickets_show(
    key: Annotated[str, typer.Argument(help="Ticket key, e.g. LOCAL-1.")], as_json: JsonOption = False
) -> None:
    """Show one ticket of the local dry-run store with its description and comments."""

    def work(container: Container) -> dict[str, Any]:
        tracker = _local(container, as_json).issue_tracker
        ticket = tracker.get(key=key)
        data = _ticket_json(ticket)
        data["description"] = ticket.description
        data["comments"] = [
            {"id": c.id, "author": c.author, "created": c.created.isoformat() if c.created else None, "body": c.body}
            for c in tracker.comments(key=ticket.key)
        ]
        return data

    data = with_container(as_json, in_memory=False, work=work)
    if as_json:
        out.print_json(data=data)
        return
    out.print(f"[bold]{data['key']}[/] {data['summary']}", highlight=False)
    out.print(f"{data['issueType']} · {data['status']} · labels: {' '.join(data['labels']) or '-'}", highlight=False)
    out.print("")
    out.print(data["description"], highlight=False, markup=False)
    for comment in data["comments"]:
        out.print(f"\n[bold]comment by {comment['author']} at {comment['created']}:[/]", highlight=False)
        out.print(comment["body"], highlight=False, markup=False)
