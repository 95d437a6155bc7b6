"""`ticketsmith suggest`: the suggest workflow for one Jira ticket, run here as a persisted, resumable run."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from service.cli._common import EXIT_FAILED, JsonOption, app, err, out, print_run_trouble, status_line, with_container
from service.cli.knowledge import container_factory
from service.container import Container, default_budget, workflow_engine
from service.domain.action_calls import Trigger
from service.domain.runs import Run, RunState
from service.orchestrator.suggest import new_suggest_run

CLI_PRINCIPAL = "cli"


def _print(run: Run) -> None:
    result = run.result or {}
    print_run_trouble(run, "suggest")
    if run.state is RunState.SUCCEEDED and not result.get("model_id"):
        err.print(
            "[yellow]no language model is configured:[/] the suggestion is the relevant code and the mechanical "
            "fixes ruff offers there (no model was used)",
            highlight=False,
        )
    comment = run.checkpoint.get("comment") or {}
    if comment.get("body") and comment.get("action") != "posted":
        out.print(comment["body"].rstrip(), highlight=False, markup=False)
    if comment:
        where = f" comment {comment['id']}" if comment.get("id") else ""
        out.print(f"{comment.get('action')}{where} on {comment.get('key')}: {comment.get('reason')}", highlight=False)
    if result.get("model_diff_dropped"):
        err.print(f"[yellow]the model's diff was dropped:[/] {result['model_diff_dropped']}", highlight=False)
    out.print(f"run {run.id} {run.state.value}; the trace: ticketsmith runs show {run.id}", highlight=False)


def _json(run: Run) -> dict[str, Any]:
    comment = run.checkpoint.get("comment") or {}
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
        "comment_body": comment.get("body"),
    }


@app.command()
def suggest(
    ctx: typer.Context,
    issue: Annotated[str, typer.Argument(help="The Jira issue key to suggest a change for, e.g. OPS-12.")],
    repo: Annotated[
        str | None, typer.Option("--repo", help="The indexed repository (default: the only one indexed).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the suggestion; post no comment.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Suggest the change a Jira ticket asks for: read it, find the code, propose a diff that applies to the
    indexed commit, and post it on the ticket as a comment with citations."""
    show = not as_json and err.is_terminal

    def work(container: Container) -> Run:
        repository = container.knowledge.default_repository(repo)
        store = container.run_store
        with status_line(show, "suggesting") as echo:
            engine = workflow_engine(container, echo=echo)
            run = store.create(
                new_suggest_run(
                    issue=issue,
                    repository=repository,
                    dry_run=dry_run,
                    trigger=Trigger.CLI,
                    principal=CLI_PRINCIPAL,
                    budget=default_budget(container.settings),
                    planner=container.runs.planner,
                )
            )
            return engine.advance(run.id)

    run: Run = with_container(as_json, in_memory=False, work=work, factory=container_factory(ctx))
    if as_json:
        out.print_json(data=_json(run))
    else:
        _print(run)
    if run.state is not RunState.SUCCEEDED:
        raise typer.Exit(EXIT_FAILED)
