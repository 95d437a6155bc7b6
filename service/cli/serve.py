"""`ticketsmith serve`: the HTTP service."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from service import __version__
from service.cli._common import (
    JsonOption,
    app,
    err,
    fail,
    load_settings,
)
from service.container import migrate_database, redacted_database_url
from service.errors import ConfigurationError, TicketsmithError
from service.settings import is_loopback


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default from settings: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings: 8000).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Server processes (default from settings: 1).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Start the HTTP service (REST, Bedrock endpoint, health checks)."""
    import uvicorn

    from service.app import create_app

    settings = load_settings(as_json)
    overrides = {k: v for k, v in (("host", host), ("port", port), ("workers", workers)) if v is not None}
    server = settings.server.model_copy(update=overrides)
    settings = settings.model_copy(update={"server": server})
    if not settings.auth_enabled and not is_loopback(server.host):
        fail(
            ConfigurationError(
                f"refusing to listen on {server.host}: no API keys are configured, so anyone could call the service",
                hint='set TICKETSMITH_API_KEYS=\'[{"name":"me","key":"<openssl rand -hex 24>"}]\' or bind 127.0.0.1',
            ),
            as_json=as_json,
        )
    logging.basicConfig(
        level=settings.logging.level, format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
    )
    if not settings.auth_enabled:
        err.print(f"no API keys configured: serving on loopback only ({server.host}), every caller is trusted")
    err.print(
        f"ticketsmith {__version__} on http://{server.host}:{server.port} with {server.workers} worker(s) "
        f"(storage: {redacted_database_url(settings)})"
    )
    log_level = settings.logging.level.lower()
    if server.workers == 1:
        try:
            application = create_app(settings)
        except TicketsmithError as exc:
            fail(exc, as_json=as_json)
        uvicorn.run(application, host=server.host, port=server.port, log_level=log_level)
        return
    # Several processes: migrate once here, so the workers (which build their own container from the same
    # environment) do not race each other through the migrations.
    try:
        if settings.database.auto_migrate:
            migrate_database(settings)
    except TicketsmithError as exc:
        fail(exc, as_json=as_json)
    os.environ["TICKETSMITH_DATABASE__AUTO_MIGRATE"] = "false"
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=server.host,
        port=server.port,
        workers=server.workers,
        log_level=log_level,
    )
