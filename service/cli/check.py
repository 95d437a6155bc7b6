"""`ticketsmith check`: the quality checks on a repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from service.cli._common import (
    EXIT_FAILED,
    JsonOption,
    app,
    err,
    fail,
    load_settings,
    out,
    with_container,
)
from service.cli.knowledge import container_factory
from service.container import Container
from service.domain.findings import Finding, Severity
from service.errors import InvalidInput, TicketsmithError
from service.quality.checkers import all_checkers
from service.quality.runner import CheckReport, run_checks
from service.quality.sarif import to_sarif

SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


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


def _repository_root(ctx: typer.Context, path: Path, *, as_json: bool) -> Path:
    """``path`` when it exists, else the work tree of the indexed repository of that name."""
    if path.exists():
        return path
    name = str(path)

    def work(container: Container) -> Path:
        if not container.knowledge.known(name):
            raise InvalidInput(
                f"{name} is neither a directory nor the name of an indexed repository",
                hint=f"give a repository path, or index it under that name first: ticketsmith index PATH --name {name}",
            )
        return container.knowledge.work_tree(name)

    root: Path = with_container(as_json, in_memory=False, work=work, factory=container_factory(ctx))
    return root


@app.command()
def check(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="A git repository to check, or the name of an indexed repository.")
    ] = Path("."),
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
        fail(InvalidInput(f"unknown severity {fail_on!r}", hint="critical, high, medium, low or info"), as_json=as_json)
    settings = load_settings(as_json)
    path = _repository_root(ctx, path, as_json=as_json)
    checkers = all_checkers()
    try:
        if as_json or not out.is_terminal:
            report = run_checks(path, checkers, since=since, scratch_parent=settings.data_dir / "scratch")
        else:
            with Progress(*Progress.get_default_columns(), transient=True, console=err) as bar:
                task = bar.add_task("checking", total=len(checkers))

                def advance(name: str) -> None:
                    bar.update(task, advance=1, description=f"{name} done")

                report = run_checks(
                    path, checkers, since=since, scratch_parent=settings.data_dir / "scratch", progress=advance
                )
    except TicketsmithError as exc:
        fail(exc, as_json=as_json)
    if sarif is not None:
        try:
            sarif.write_text(json.dumps(to_sarif(report), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            fail(InvalidInput(f"cannot write {sarif}: {exc.strerror}"), as_json=as_json)
    if as_json:
        out.print_json(
            data={
                "root": str(report.root),
                "commit": report.commit,
                "files_checked": report.files_checked,
                "seconds": report.seconds,
                "suppressed": report.suppressed,
                "checkers_run": report.checkers_run,
                "timings_seconds": report.timings,
                "skipped": [{"checker": s.name, "reason": s.reason} for s in report.skipped],
                "findings": [f.as_dict() for f in report.findings],
            }
        )
    else:
        _print_report(report)
    if any(f.severity.rank <= threshold.rank for f in report.findings):
        raise typer.Exit(EXIT_FAILED)
