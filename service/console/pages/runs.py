"""Runs: the list (with live progress), starting a scan, one run with its trace as a timeline."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from service.action_groups.operations import CallContext
from service.console.routing import require_scope, router
from service.console.session import check_csrf, read_form
from service.console.templating import render
from service.console.views import ACTIVE, result_tickets, run_row, scan_findings, timeline, usage_totals
from service.domain.action_calls import Trigger
from service.domain.runs import Run, RunState
from service.errors import InvalidInput, TicketsmithError
from service.knowledge_base.library import RepositoryStatus

SCOPE = "runs"
LIST_LIMIT = 50
MAX_POLLED = 50


def _container(request: Request) -> Any:
    return request.app.state.container


def _statuses(request: Request) -> list[RepositoryStatus]:
    try:
        statuses: list[RepositoryStatus] = _container(request).knowledge.statuses()
    except TicketsmithError:
        return []
    return statuses


def _runs_page(
    request: Request, *, form: dict[str, str] | None = None, error: TicketsmithError | None = None
) -> Response:
    state = request.query_params.get("state")
    chosen = RunState(state) if state in {s.value for s in RunState} else None
    runs: list[Run] = _container(request).runs.list(state=chosen, limit=LIST_LIMIT)
    rows = [run_row(run) for run in runs]
    context = {
        "title": "Runs",
        "active": "runs",
        "runs": rows,
        "any_active": any(row["active"] for row in rows),
        "refresh": any(row["active"] for row in rows),
        "states": [s.value for s in RunState],
        "state": chosen.value if chosen else "",
        "repositories": [s.repository.name for s in _statuses(request)],
        "form": form or {},
        "form_error": error,
    }
    return render(request, "runs.html", context, status_code=error.status_code if error else 200)


@router.get("/")
def runs_page(request: Request) -> Response:
    """The newest runs, a state filter and the form that starts a scan."""
    require_scope(request, SCOPE)
    return _runs_page(request)


@router.get("/runs.json")
def runs_progress(request: Request) -> Response:
    """Where the runs named by ``?run=ID&run=ID`` are (state, step, steps taken, tickets, seconds), for the
    list's live progress; unknown ids are left out."""
    require_scope(request, SCOPE)
    service = _container(request).runs
    rows = []
    for run_id in request.query_params.getlist("run")[:MAX_POLLED]:
        try:
            rows.append(run_row(service.get(run_id)))
        except TicketsmithError:
            continue
    body = [{**row, "created_at": row["created_at"].isoformat()} for row in rows]
    return JSONResponse({"runs": body}, headers={"Cache-Control": "no-store"})


@router.post("/runs")
async def start_scan(request: Request) -> Response:
    """Start a scan as the ``runs`` action group's startRun does (same validation, policy and audit record)."""
    principal = require_scope(request, SCOPE)
    form = await read_form(request)
    check_csrf(request, form)
    repository = form.get("repository", "").strip() or None
    values: dict[str, Any] = {"workflow": "scan", "dryRun": form.get("dry_run") == "on"}
    if repository:
        values["repository"] = repository
    if since := form.get("since", "").strip():
        values["since"] = since
    if tickets := form.get("max_tickets", "").strip():
        if not tickets.isdigit():
            return await anyio.to_thread.run_sync(
                lambda: _runs_page(request, form=form, error=InvalidInput("the most tickets must be a whole number"))
            )
        values["maxTickets"] = int(tickets)
    container = _container(request)
    try:
        started = await container.dispatcher.call(
            "runs", "startRun", CallContext(trigger=Trigger.REST, principal=principal), values
        )
    except TicketsmithError as exc:
        refused = exc
        return await anyio.to_thread.run_sync(lambda: _runs_page(request, form=form, error=refused))
    run_id = str(started.model_dump()["run_id"])
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str) -> Response:
    """One run: its state, usage and result, the tickets it filed and its trace as a timeline."""
    require_scope(request, SCOPE)
    container = _container(request)
    run: Run = container.runs.get(run_id)  # NotFound: the 404 page
    spans = container.run_store.spans(run.id)
    result = run.result if isinstance(run.result, dict) else {}
    context = {
        "title": f"Run {run.id}",
        "active": "runs",
        "run": run,
        "row": run_row(run),
        "steps": timeline(run, spans),
        "models": usage_totals(spans),
        "summary": result.get("text") or result.get("summary"),
        "counts": {k: result.get(k) for k in ("findings", "groups", "created", "updated", "skipped", "not_filed")},
        "tickets": result_tickets(run),
        "has_findings": bool(scan_findings(run)),
        "pending": run.checkpoint.get("pending_confirmation") if run.state is RunState.PAUSED else None,
        "decision": run.checkpoint.get("confirmation")
        if isinstance(run.checkpoint.get("confirmation"), dict)
        else None,
        "refresh": run.state in ACTIVE,
    }
    return render(request, "run.html", context)
