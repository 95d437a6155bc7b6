"""``GET /v1/runs/{runId}/trace``: a run's recorded spans, ours or as Amazon Bedrock agent trace events.

The run itself (start, get, list, cancel) is the ``runs`` action group's, at the same prefix; this router adds
only the trace. ``format=bedrock`` answers the events ``InvokeAgent`` would have streamed, each as the
``{"trace": TracePart}`` stream member (:mod:`service.traces.bedrock`). Callers need the ``runs`` scope.
"""

from __future__ import annotations

import math
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request

from service.api.auth import principal_of
from service.domain.runs import Run, Span
from service.errors import Forbidden, InvalidInput
from service.ports.run_store import RunStore
from service.traces.bedrock import as_json, bedrock_trace, session_id

SCOPE = "runs"
PREFIX = "/v1/runs"
FORMATS = ("ticketsmith", "bedrock")
MAX_SPANS = 10_000
router = APIRouter(prefix=PREFIX, tags=["runs"])


def _store(request: Request) -> RunStore:
    principal = principal_of(request)
    if not principal.may_call(SCOPE):
        raise Forbidden(
            f"API key {principal.name!r} may not read runs",
            hint=f"add {SCOPE!r} to the key's action_groups in TICKETSMITH_API_KEYS",
        )
    store: RunStore = request.app.state.container.run_store
    return store


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as null: JSON has no such numbers (a score can be NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def span_body(span: Span) -> dict[str, Any]:
    """One span in our JSON shape."""
    return {
        "sequence": span.sequence,
        "traceId": span.trace_id,
        "kind": span.kind.value,
        "name": span.name,
        "startedAt": span.started_at.isoformat(),
        "durationMs": _finite(span.duration_ms),
        "status": span.status,
        "attributes": _finite(span.attributes),
    }


def trace_body(run: Run, spans: list[Span], *, format: str = "ticketsmith") -> dict[str, Any]:
    """The trace answer for ``run``: our spans, or the Bedrock events (also what ``runs show --json`` prints)."""
    if format == "bedrock":
        events = [{"trace": event} for event in _finite(as_json(bedrock_trace(run, spans)))]
        return {"runId": run.id, "sessionId": session_id(run), "events": events}
    return {
        "runId": run.id,
        "workflow": run.workflow,
        "state": run.state.value,
        "spans": [span_body(span) for span in spans],
    }


@router.get("/{runId}/trace")
async def get_run_trace(
    request: Request,
    run_id: str = Path(alias="runId", description="The run's id."),
    format: str | None = Query(default=None, description="ticketsmith (default) or bedrock."),
    after_sequence: int = Query(
        default=-1, alias="afterSequence", ge=-1, le=2**31 - 1, description="Only spans after this sequence."
    ),
    limit: int = Query(default=MAX_SPANS, ge=1, le=MAX_SPANS, description="At most this many spans."),
) -> dict[str, Any]:
    """The run's spans in sequence order, or (``format=bedrock``) the Bedrock agent trace events."""
    store = _store(request)
    shape = format or "ticketsmith"
    if shape not in FORMATS:
        raise InvalidInput(f"unknown trace format {format!r}", hint=f"use one of: {', '.join(FORMATS)}")
    run = await anyio.to_thread.run_sync(store.get, run_id)  # NotFound (404) for an unknown run
    spans = await anyio.to_thread.run_sync(lambda: store.spans(run.id, after_sequence=after_sequence, limit=limit))
    return trace_body(run, spans, format=shape)
