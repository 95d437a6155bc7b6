"""``POST /v1/chat``: one chat turn (a message, or the confirmation of a paused one), as JSON or streamed (SSE).

Body ``{"sessionId": "...", "message": "..."}`` asks; ``{"sessionId": "...", "confirm": {"runId": "...",
"approve": true}}`` approves or refuses the action a paused turn waits for. ``GET /v1/chat/{sessionId}`` lists
a session's messages. Callers need the ``chat`` scope (tools are then limited to the groups their key may call).

With ``Accept: text/event-stream`` (or ``?stream=true``) the answer is a stream of server-sent events:
``delta`` (``{"text"}``, a piece of the answer as it is written), ``citation`` (a code location), ``tool``
(an action ran), ``confirmation`` (``{"runId", "action", "input", "reason"}``: the turn paused), then one
``done`` with the whole answer (``{"sessionId", "runId", "state", "answer", "citations", "confirmation",
"model"}``), or ``error`` (``{"error": {"code", "message", "hint"}}``) when the turn failed. Bad requests are
refused before the stream starts, with the usual JSON error and status.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from service.api.auth import principal_of
from service.domain.principals import Principal
from service.errors import ConfigurationError, Forbidden, HandlerFailed, InvalidInput, TicketsmithError
from service.orchestrator.chat import ChatAnswer, ChatService

logger = logging.getLogger(__name__)

SCOPE = "chat"
SESSION_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
EVENT_STREAM = "text/event-stream"
router = APIRouter(prefix="/v1/chat", tags=["chat"])
_running: set[asyncio.Task[Any]] = set()  # turns whose stream was left: they finish and are saved anyway


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    run_id: str = Field(alias="runId", min_length=1, max_length=64, description="The paused turn's run id.")
    approve: bool = Field(description="True runs the action; false refuses it and cancels the turn.")


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    session_id: str = Field(
        alias="sessionId", pattern=SESSION_ID, description="The conversation; a new id starts a new one."
    )
    message: str | None = Field(default=None, max_length=20_000, description="What to ask or ask for.")
    confirm: ConfirmIn | None = Field(default=None, description="Approve or refuse a paused turn's action.")


def _service(request: Request) -> tuple[ChatService, Principal]:
    principal = principal_of(request)
    if not principal.may_call(SCOPE):
        raise Forbidden(
            f"API key {principal.name!r} may not chat",
            hint=f"add {SCOPE!r} to the key's action_groups in TICKETSMITH_API_KEYS",
        )
    chat: ChatService | None = request.app.state.container.chat
    if chat is None:
        raise ConfigurationError("this service was built without chat", hint="build it with build_container")
    return chat, principal


def _wants_stream(request: Request, stream: bool) -> bool:
    return stream or EVENT_STREAM in request.headers.get("accept", "")


@router.post("")
async def chat(request: Request, body: ChatIn, stream: bool = Query(default=False)) -> Any:
    service, principal = _service(request)
    if (body.message is None) == (body.confirm is None):
        raise InvalidInput(
            "send either a message or a confirm, not both or neither",
            hint='{"sessionId": "s1", "message": "..."} or {"sessionId": "s1", "confirm": {"runId": ..., '
            '"approve": true}}',
        )
    turn: Callable[[Callable[[str, dict[str, Any]], None]], ChatAnswer]
    if body.confirm is not None:
        confirm = body.confirm
        # Refused here, before any stream starts: unknown session, a run not of it, a run that waits for nothing.
        await anyio.to_thread.run_sync(lambda: service.waiting_run(body.session_id, confirm.run_id, principal))

        def turn(emit: Callable[[str, dict[str, Any]], None]) -> ChatAnswer:
            return service.confirm(confirm.run_id, confirm.approve, principal, emit)
    else:
        message = body.message or ""
        if not message.strip():
            raise InvalidInput("the message is empty", hint='send {"sessionId": ..., "message": "your question"}')
        await anyio.to_thread.run_sync(lambda: service.open(body.session_id, principal))

        def turn(emit: Callable[[str, dict[str, Any]], None]) -> ChatAnswer:
            return service.ask(body.session_id, message, principal, emit)

    if not _wants_stream(request, stream):
        answer = await anyio.to_thread.run_sync(lambda: turn(lambda event, data: None))
        return answer.as_json()
    return StreamingResponse(
        _events(turn),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{sessionId}")
async def history(request: Request, sessionId: str) -> dict[str, Any]:
    service, principal = _service(request)
    messages = await anyio.to_thread.run_sync(lambda: service.history(sessionId, principal))
    return {
        "sessionId": sessionId,
        "messages": [
            {
                "sequence": m.sequence,
                "role": m.role,
                "text": m.text,
                "citations": list(m.citations),
                "runId": m.run_id,
                "createdAt": m.created_at.isoformat(),
            }
            for m in messages
        ],
    }


def sse(event: str, data: Any) -> bytes:
    """One server-sent event (``data`` as one line of JSON)."""
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


_DONE = object()


async def _events(turn: Callable[[Callable[[str, dict[str, Any]], None]], ChatAnswer]) -> AsyncIterator[bytes]:
    """The turn's events as they happen; the turn runs in a worker thread and is finished (and saved) even when
    the client goes away mid-stream."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def emit(event: str, data: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (event, data))

    async def work() -> None:
        try:
            answer = await anyio.to_thread.run_sync(lambda: turn(emit))
            queue.put_nowait(("done", answer.as_json()))
        except TicketsmithError as exc:
            queue.put_nowait(("error", {"error": _err(exc)}))
        except Exception as exc:  # a bug must still end the stream with an event, not a cut connection
            logger.exception("chat turn failed")
            failed = HandlerFailed(f"the chat turn failed ({type(exc).__name__})", hint="the service log has more")
            queue.put_nowait(("error", {"error": _err(failed)}))
        finally:
            queue.put_nowait(_DONE)

    task = asyncio.ensure_future(work())
    _running.add(task)
    task.add_done_callback(_running.discard)
    while True:
        item = await queue.get()
        if item is _DONE:
            return
        event, data = item
        yield sse(event, data)


def _err(exc: TicketsmithError) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message, "hint": exc.hint}
