"""`ticketsmith schemas export|check`: the action-group schema files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.action_groups import schema_export
from service.cli._common import (
    EXIT_FAILED,
    JsonOption,
    SchemaDirOption,
    err,
    out,
    schemas_app,
    with_container,
)


@schemas_app.command("export")
def schemas_export(
    directory: SchemaDirOption = Path("agent_schemas"),
    functions: Annotated[bool, typer.Option("--functions", help="Also write the function-details form.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write agent_schemas/<group>.json (OpenAPI 3.0) for every action group."""
    written = with_container(
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
    report = with_container(as_json, in_memory=True, work=lambda c: schema_export.check(c.registry, directory))
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
