"""Knowledge-base search with the query's words marked and each hit cited, the repositories' index status, and
a read-only view of an indexed file with the cited lines marked."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request, Response

from service.console.routing import require_scope, router
from service.console.templating import render
from service.console.views import code_link, highlight, query_terms
from service.errors import TicketsmithError
from service.knowledge_base.library import MODES, RepositoryStatus, SearchResults
from service.knowledge_base.navigation import Navigator

SCOPE = "codebase"
SHOWN_LINES = 30
CONTEXT_LINES = 12
MAX_VIEW_LINES = 400


@router.get("/search")
def search_page(
    request: Request,
    q: str = Query(default="", max_length=2000),
    repo: str = Query(default="", max_length=200),
    mode: str = Query(default="hybrid", max_length=20),
    k: int = Query(default=10, ge=1, le=50),
) -> Response:
    """The search form, the index status of every repository and, with a query, the best chunks for it."""
    require_scope(request, SCOPE)
    knowledge = request.app.state.container.knowledge
    statuses: list[RepositoryStatus] = knowledge.statuses()
    results: SearchResults | None = None
    hits: list[dict[str, Any]] = []
    error: TicketsmithError | None = None
    chosen = repo or (statuses[0].repository.name if len(statuses) == 1 else "")
    if q.strip():
        try:
            name = knowledge.default_repository(chosen or None)
            chosen = name
            results = knowledge.search(q, repository=name, k=k, mode=mode)
        except TicketsmithError as exc:
            error = exc
    if results is not None:
        terms = query_terms(q)
        for hit in results.hits:
            chunk = hit.chunk
            lines = chunk.text.splitlines()
            text = "\n".join(lines[:SHOWN_LINES])
            hits.append(
                {
                    "chunk": chunk,
                    "score": hit.score,
                    "pieces": highlight(text, terms),
                    "cut": len(lines) > SHOWN_LINES,
                    "link": code_link(chunk.repository, chunk.path, chunk.start_line, chunk.end_line),
                    "commit": (chunk.commit or "")[:12],
                }
            )
    context = {
        "title": "Code search",
        "active": "search",
        "q": q,
        "repo": chosen,
        "mode": mode,
        "modes": MODES,
        "k": k,
        "statuses": statuses,
        "results": results,
        "hits": hits,
        "search_error": error,
    }
    return render(request, "search.html", context, status_code=error.status_code if error else 200)


@router.get("/code/{repository}/{path:path}")
def code_page(
    request: Request,
    repository: str,
    path: str,
    start: int | None = Query(default=None, ge=1, le=10_000_000),
    end: int | None = Query(default=None, ge=1, le=10_000_000),
) -> Response:
    """An indexed file at the indexed commit; ``start``-``end`` (a citation) is marked and shown in context."""
    require_scope(request, SCOPE)
    knowledge = request.app.state.container.knowledge
    first = max((start or 1) - CONTEXT_LINES, 1) if start else 1
    last = (end or start or 1) + CONTEXT_LINES if start else MAX_VIEW_LINES
    found = Navigator(knowledge).read_file(repository, path, first, max(last, first))
    lines = found.text.split("\n") if found.text else []
    marked = range(start, (end or start) + 1) if start else range(0)
    numbered = [
        {"number": found.start_line + i, "text": text, "marked": found.start_line + i in marked}
        for i, text in enumerate(lines)
    ]
    context = {
        "title": f"{found.path} in {repository}",
        "active": "search",
        "repository": repository,
        "file": found,
        "lines": numbered,
        "start": start,
        "end": end,
        "whole": code_link(repository, found.path) if start else None,
        "earlier": first > 1,
        "later": found.end_line < found.total_lines,
    }
    return render(request, "code.html", context)
