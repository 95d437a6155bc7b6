"""``create_app(settings)``: the FastAPI application with every router, middleware and error handler."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import Scope

from service import __version__
from service.action_groups.envelope import echo_of, error_envelope
from service.action_groups.rest_binding import build_router
from service.api import bedrock, health
from service.api.auth import ApiKeyAuthenticator, principal_of, require_principal
from service.api.errors import install_error_handlers
from service.api.limits import BodySizeLimit
from service.container import Container, build_container
from service.errors import PayloadTooLarge
from service.settings import Settings


def _too_large_body(scope: Scope, error: PayloadTooLarge) -> dict[str, Any]:
    if scope.get("path") == bedrock.BEDROCK_ACTIONS_PATH:
        return error_envelope(echo_of(None), error)
    return error.to_dict()


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    """The application for ``settings`` (read from the environment when None).

    The container is built here unless one is given (tests pass one with fakes); the lifespan closes it.
    """
    settings = settings or (container.settings if container else Settings())
    container = container or build_container(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            container.close()

    app = FastAPI(
        title="Ticketsmith",
        version=__version__,
        description="Bedrock Agent action groups, a code knowledge base and Jira tickets without duplicates.",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.authenticator = ApiKeyAuthenticator(settings.api_keys)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.server.max_body_bytes, render=_too_large_body)
    app.include_router(health.router)
    app.include_router(bedrock.router)
    for group in container.registry:
        app.include_router(
            build_router(
                group,
                dispatcher_of=lambda request: request.app.state.container.dispatcher,
                principal_of=principal_of,
                dependencies=[Depends(require_principal)],
            )
        )
    return app
