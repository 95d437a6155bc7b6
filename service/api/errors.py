"""Render every error as JSON with its status code. Nothing escapes as an HTTP 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import HandlerFailed, TicketsmithError, validation_failed

logger = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}


def error_response(error: TicketsmithError) -> JSONResponse:
    return JSONResponse(status_code=error.status_code, content=error.to_dict())


async def _ticketsmith_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TicketsmithError)
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(validation_failed(exc.errors(), subject="request"))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code if 400 <= exc.status_code < 500 else 424
    body = {"error": {"code": _HTTP_CODES.get(status, "http_error"), "message": str(exc.detail), "retryable": False}}
    return JSONResponse(status_code=status, content=body, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(HandlerFailed(f"internal error: {type(exc).__name__}", hint="the service log has details"))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the shared JSON error body."""
    app.add_exception_handler(TicketsmithError, _ticketsmith_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
