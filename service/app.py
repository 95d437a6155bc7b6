"""``create_app(settings)``: the FastAPI application with every router, middleware and error handler."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import Scope

from service import __version__, console
from service.action_groups.envelope import echo_of, error_envelope
from service.action_groups.rest_binding import build_router
from service.api import bedrock, chat, health, knowledge_bases, runs, webhooks
from service.api.auth import PUBLIC_PATHS, ApiKeyAuthenticator, ApiKeyMiddleware, principal_of
from service.api.errors import install_error_handlers
from service.api.limits import BodySizeLimit
from service.container import Container, build_container, build_worker
from service.errors import PayloadTooLarge
from service.settings import Settings

WORKER_SHUTDOWN_GRACE_SECONDS = 10.0


def _too_large_body(scope: Scope, error: PayloadTooLarge) -> dict[str, Any]:
    if scope.get("path") == bedrock.BEDROCK_ACTIONS_PATH:
        return error_envelope(echo_of(None), error)
    return error.to_dict()


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    """The application for ``settings`` (read from the environment when None).

    The container is built here unless one is given (tests pass one with fakes). The lifespan runs a job
    worker in-process (unless ``jobs.in_process_worker`` is off) and closes the container at shutdown.
    """
    settings = settings or (container.settings if container else Settings())
    container = container or build_container(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything built so far (routes, schemas, models, the container) lives as long as the process. Moving
        # it out of the collector's view keeps full collections short; without this they stalled requests for
        # tens of milliseconds under load (bench/bedrock_dispatch.py: p99 95 ms with, 24 ms with GC disabled).
        gc.collect()
        gc.freeze()
        stop = asyncio.Event()
        worker_task = None
        if settings.jobs.in_process_worker:
            worker = build_worker(container, worker_id=f"{socket.gethostname()}:{os.getpid()}:serve")
            worker_task = asyncio.create_task(worker.run(stop), name="in-process-worker")
        try:
            yield
        finally:
            stop.set()
            if worker_task is not None:
                # A job still running after the grace period is cancelled; its lease then expires and another
                # worker (or this service after a restart) runs it again.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(worker_task, timeout=WORKER_SHUTDOWN_GRACE_SECONDS)
            container.close()

    app = FastAPI(
        title="Ticketsmith",
        version=__version__,
        description="Bedrock Agent action groups, a code knowledge base and Jira tickets without duplicates.",
        lifespan=lifespan,
    )
    app.state.container = container
    install_error_handlers(app)
    # Added last, runs first: unauthenticated callers are refused before their body is read.
    app.add_middleware(BodySizeLimit, max_bytes=settings.server.max_body_bytes, render=_too_large_body)
    # Jira signs its webhooks with the shared secret instead of presenting an API key.
    authenticator = ApiKeyAuthenticator(settings.api_keys)
    app.add_middleware(
        ApiKeyMiddleware,
        authenticator=authenticator,
        public_paths=PUBLIC_PATHS | {webhooks.JIRA_WEBHOOK_PATH} | console.PUBLIC_PATHS,
    )
    # The web console at /: its sign-in cookie becomes the API key the middleware above checks.
    console.install(app, authenticator=authenticator)
    app.include_router(health.router)
    app.include_router(knowledge_bases.router)
    app.include_router(runs.router)
    app.include_router(chat.router)
    app.router.routes.append(bedrock.route)
    app.router.routes.append(webhooks.route)
    for group in container.registry:
        app.include_router(
            build_router(
                group,
                dispatcher_of=lambda request: request.app.state.container.dispatcher,
                principal_of=principal_of,
            )
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            bedrock.describe(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
