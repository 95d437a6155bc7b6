"""The console's router: every page answers HTML, errors included (never a 500, never the JSON error body)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.auth import principal_of
from service.console.templating import render
from service.domain.principals import Principal
from service.errors import Forbidden, HandlerFailed, NotFound, TicketsmithError, validation_failed

logger = logging.getLogger(__name__)


def error_page(request: Request, error: TicketsmithError) -> Response:
    """The error as a page, with its status code."""
    status = error.status_code if 400 <= error.status_code < 600 and error.status_code != 500 else 424
    return render(request, "error.html", {"title": "Error", "active": "", "error": error}, status_code=status)


class ConsoleRoute(APIRoute):
    """A route whose errors are rendered as the console's error page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except TicketsmithError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                return error_page(request, validation_failed(exc.errors(), subject="request"))
            except StarletteHTTPException as exc:
                error = NotFound(str(exc.detail)) if exc.status_code == 404 else TicketsmithError(str(exc.detail))
                return error_page(request, error)
            except Exception as exc:
                logger.error("console page %s failed", request.url.path, exc_info=exc)
                return error_page(
                    request,
                    HandlerFailed(f"this page failed ({type(exc).__name__})", hint="the service log has details"),
                )

        return guarded


router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def require_scope(request: Request, scope: str) -> Principal:
    """The caller, if its key may use the ``scope`` action group; else :class:`Forbidden`."""
    principal = principal_of(request)
    if not principal.may_call(scope):
        raise Forbidden(
            f"API key {principal.name!r} may not use {scope}",
            hint=f"add {scope!r} to the key's action_groups in TICKETSMITH_API_KEYS",
        )
    return principal
