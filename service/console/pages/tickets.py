"""Tickets: every fingerprint the ledger holds with its ticket and Jira link, and the filing decisions
(created, updated, skipped and why) of recent scans."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request, Response

from service.console.routing import require_scope, router
from service.console.templating import render
from service.console.views import result_tickets
from service.domain.ledger import LedgerEntry
from service.domain.runs import Run
from service.errors import TicketsmithError

PAGE = 50
RECENT_SCANS = 20


def _matches(text: str | None, needle: str) -> bool:
    return bool(text) and needle in str(text).lower()


@router.get("/tickets")
def tickets_page(
    request: Request,
    q: str = Query(default="", max_length=200, description="Key, summary or fingerprint to look for."),
    page: int = Query(default=1, ge=1, le=10_000),
) -> Response:
    """The ledger's tickets (a page at a time, looked up in the tracker for their link and status) and the
    decisions recent scans took for each finding group. ``q`` is a ticket's key (that ticket only) or a part of a
    key, summary, fingerprint, decision or reason."""
    require_scope(request, "jira")
    container = request.app.state.container
    needle = q.strip().lower()
    decisions: list[dict[str, Any]] = []
    summaries: dict[str, str] = {}
    scans: list[Run] = container.runs.list(workflow="scan", limit=RECENT_SCANS)
    for run in scans:
        for row in result_tickets(run):
            summaries.setdefault(str(row.get("fingerprint")), str(row.get("summary") or ""))
            if not needle or any(
                _matches(row.get(k), needle) for k in ("key", "summary", "fingerprint", "action", "reason")
            ):
                decisions.append({**row, "run_id": run.id, "run_created": run.created_at})
    entries: list[LedgerEntry] = container.ticket_ledger.entries()
    exact = [e for e in entries if (e.ticket_key or "").lower() == needle]
    if exact:  # a ticket's key names that ticket (LOCAL-1 is not LOCAL-12)
        entries = exact
        decisions = [d for d in decisions if str(d.get("key") or "").lower() == needle]
    elif needle:
        entries = [
            e
            for e in entries
            if _matches(e.ticket_key, needle)
            or _matches(e.fingerprint, needle)
            or _matches(summaries.get(e.fingerprint), needle)
        ]
    shown = entries[(page - 1) * PAGE : page * PAGE]
    tickets = []
    for entry in shown:
        ticket, problem = None, None
        if entry.ticket_key:
            try:
                ticket = container.issue_tracker.get(key=entry.ticket_key)
            except TicketsmithError as exc:
                problem = exc.message
        tickets.append(
            {"entry": entry, "ticket": ticket, "problem": problem, "summary": summaries.get(entry.fingerprint)}
        )
    context = {
        "title": "Tickets",
        "active": "tickets",
        "q": q,
        "tickets": tickets,
        "decisions": decisions,
        "tracker": container.issue_tracker.name,
        "sends": container.issue_tracker.sends,
        "page": page,
        "more": len(entries) > page * PAGE,
        "total": len(entries),
    }
    return render(request, "tickets.html", context)
