"""Pending confirmations: runs paused until a person approves or denies what they are about to do.

A paused run keeps ``checkpoint["pending_confirmation"] = {action, input, reason, requested_at}``; the answer
goes to ``RunService.confirm(run_id, approve=..., by=<key name>)``, which resumes the run either way.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from service.console.routing import require_scope, router
from service.console.session import check_csrf, read_form
from service.console.templating import render
from service.domain.runs import Run, RunState
from service.errors import InvalidInput

SCOPE = "runs"
LIMIT = 100
DECISIONS = {"approve": True, "deny": False}


def pending(run: Run) -> dict[str, Any]:
    """What a paused run waits for (empty values when its checkpoint does not say)."""
    asked = run.checkpoint.get("pending_confirmation")
    asked = asked if isinstance(asked, dict) else {}
    return {
        "action": asked.get("action") or "",
        "input": asked.get("input"),
        "reason": asked.get("reason") or "",
        "requested_at": asked.get("requested_at") or "",
    }


@router.get("/confirmations")
def confirmations_page(request: Request) -> Response:
    """Every paused run with what it asks to do, and approve / deny buttons."""
    require_scope(request, SCOPE)
    runs: list[Run] = request.app.state.container.runs.list(state=RunState.PAUSED, limit=LIMIT)
    waiting = [{"run": run, "asked": pending(run)} for run in runs]
    done = request.query_params.get("done")
    return render(
        request,
        "confirmations.html",
        {"title": "Confirmations", "active": "confirmations", "waiting": waiting, "done": done},
    )


@router.post("/confirmations/{run_id}")
async def confirm(request: Request, run_id: str) -> Response:
    """Approve or deny what a paused run asks (form field ``decision``), then back to the list."""
    principal = require_scope(request, SCOPE)
    form = await read_form(request)
    check_csrf(request, form)
    decision = form.get("decision", "")
    if decision not in DECISIONS:
        raise InvalidInput(f"unknown decision {decision!r}", hint="approve or deny")
    service = request.app.state.container.runs
    await anyio.to_thread.run_sync(lambda: service.confirm(run_id, approve=DECISIONS[decision], by=principal.name))
    return RedirectResponse(f"/confirmations?done={'approved' if DECISIONS[decision] else 'denied'}", status_code=303)
