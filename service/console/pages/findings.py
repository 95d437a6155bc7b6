"""Findings by severity and file with their code excerpts: a scan run's (kept in its checkpoint) or a stored
quality-check run's (the finding store)."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request, Response

from service.console.routing import require_scope, router
from service.console.templating import render
from service.console.views import group_findings, scan_findings
from service.domain.runs import Run
from service.orchestrator.steps.check import finding_data

MAX_FINDINGS = 1000
RECENT_SCANS = 20


def _page(request: Request, context: dict[str, Any]) -> Response:
    return render(request, "findings.html", {"title": "Findings", "active": "findings", **context})


@router.get("/runs/{run_id}/findings")
def run_findings(request: Request, run_id: str) -> Response:
    """The findings a scan run's check step found (already through the redaction gate)."""
    require_scope(request, "runs")
    run: Run = request.app.state.container.runs.get(run_id)
    found = scan_findings(run)
    return _page(
        request,
        {"run": run, "check_run": None, "groups": group_findings(found, run.repository), "total": len(found)},
    )


@router.get("/findings")
def findings_page(
    request: Request, check_run: str | None = Query(default=None, max_length=64, alias="check_run")
) -> Response:
    """A stored check run's findings (``?check_run=ID``); without one, the recent scans that have findings."""
    container = request.app.state.container
    if check_run:
        require_scope(request, "quality")
        stored = container.finding_store.get_run(run_id=check_run)  # NotFound: the 404 page
        found = [finding_data(f) for f in container.finding_store.findings(run_id=stored.id, limit=MAX_FINDINGS)]
        return _page(
            request, {"run": None, "check_run": stored, "groups": group_findings(found, None), "total": len(found)}
        )
    require_scope(request, "runs")
    scans: list[Run] = container.runs.list(workflow="scan", limit=RECENT_SCANS)
    counted = [(run, len(scan_findings(run))) for run in scans]
    recent = [{"run": run, "findings": count} for run, count in counted if count]
    return _page(request, {"run": None, "check_run": None, "groups": [], "total": 0, "recent": recent})
