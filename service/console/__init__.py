"""The web console: server-rendered pages over the same services the REST API uses, at ``/``.

Pages (``routes_*`` modules): runs and starting a scan, a run's trace as a timeline, findings, tickets and
their dedup decisions, knowledge-base search and code, pending confirmations. Templates and static assets ship
inside the package (nothing comes from a CDN); every value from code, Jira or a model is HTML-escaped by the
template engine. Authentication is the REST API's (:mod:`service.console.session`), CSRF tokens guard forms.
"""

from __future__ import annotations

from fastapi import FastAPI

from service.api.auth import ApiKeyAuthenticator
from service.console.pages import router
from service.console.session import AUTHENTICATOR_STATE, PUBLIC_PATHS, ConsoleAuth, path_matcher

__all__ = ["PUBLIC_PATHS", "install"]


def install(app: FastAPI, *, authenticator: ApiKeyAuthenticator) -> None:
    """Add the console's routes and its login gate to ``app``. Call after the API-key middleware is added, so
    the gate runs first (it turns the console's login cookie into the key the API-key middleware checks)."""
    setattr(app.state, AUTHENTICATOR_STATE, authenticator)
    app.include_router(router)
    is_console_path = path_matcher(getattr(route, "path", "/") for route in router.routes)
    app.add_middleware(ConsoleAuth, authenticator=authenticator, is_console_path=is_console_path)
