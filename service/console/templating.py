"""The console's Jinja2 templates (shipped in ``templates/``), rendered with HTML autoescaping always on.

Every value a template prints is escaped unless a template marks it safe, and none does: code, Jira text and
model output reach the page as text. Responses carry a Content-Security-Policy that allows only this site's
own scripts and styles.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from service.api.auth import principal_of
from service.console.session import CSRF_COOKIE, CSRF_FIELD, csrf_token, set_cookie

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

NAVIGATION = (
    ("runs", "/", "Runs"),
    ("confirmations", "/confirmations", "Confirmations"),
    ("findings", "/findings", "Findings"),
    ("tickets", "/tickets", "Tickets"),
    ("search", "/search", "Code search"),
)


def duration(seconds: float | None) -> str:
    """``850ms``, ``12.3s``, ``4m 05s``, ``2h 03m``; an empty string for None."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def when(value: datetime | None) -> str:
    """A UTC time as ``2026-12-02 09:00:00 UTC``."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else ""


def pretty(value: Any) -> str:
    """JSON for people (indented); plain text stays as it is. Escaped by the template like any string."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def web_url(value: Any) -> str | None:
    """``value`` when it is an http(s) address a link may point to, else None (no ``javascript:`` links)."""
    if isinstance(value, str) and urlsplit(value).scheme.lower() in ("http", "https"):
        return value
    return None


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("service.console", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(duration=duration, when=when, pretty=pretty, web_url=web_url)
    return env


ENVIRONMENT = _environment()


def render(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    """``template`` filled with ``context`` and what every page shows (who is signed in, the CSRF token)."""
    token, new = csrf_token(request)
    principal = getattr(request.state, "principal", None)
    authenticator = getattr(request.app.state, "console_authenticator", None)
    page = ENVIRONMENT.get_template(template).render(
        **context,
        navigation=NAVIGATION,
        principal=principal_of(request).name if principal is not None else None,
        signed_in=bool(authenticator is not None and authenticator.enabled and principal is not None),
        csrf_field=CSRF_FIELD,
        csrf_token=token,
    )
    response = HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)
    if new:
        set_cookie(response, CSRF_COOKIE, token, secure=request.url.scheme == "https")
    return response
