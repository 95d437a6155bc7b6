"""Who is looking at the console, and whether a form they send came from one of our pages.

The console accepts the REST API's keys (``TICKETSMITH_API_KEYS``). A browser signs in once through ``/login``:
the key is kept in an HttpOnly, SameSite=Strict cookie, and :class:`ConsoleAuth` presents it as the
``X-Api-Key`` header on console pages only, so :class:`service.api.auth.ApiKeyMiddleware` stays the one place
that decides. The cookie never authenticates ``/v1`` calls. A programmatic client may send the bearer header
itself. With no keys configured every caller is the local operator, as for the API (``serve`` then binds to
loopback only).

Forms that change state carry a CSRF token: a random value kept in its own HttpOnly, SameSite=Strict cookie
(renewed at every sign-in) and repeated in a hidden field; a POST whose field does not match is refused.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.auth import ApiKeyAuthenticator
from service.errors import Forbidden, InvalidInput, TicketsmithError

KEY_COOKIE = "ticketsmith_key"
CSRF_COOKIE = "ticketsmith_csrf"
CSRF_FIELD = "csrf_token"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
STATIC_PREFIX = "/static/"
STATIC_FILES = ("console.css", "console.js", "favicon.svg")
PUBLIC_PATHS = frozenset({LOGIN_PATH, LOGOUT_PATH, *(STATIC_PREFIX + name for name in STATIC_FILES)})
"""Console paths anyone may load: the sign-in form and the assets it needs."""
AUTHENTICATOR_STATE = "console_authenticator"
MAX_FORM_FIELDS = 20
MAX_FORM_BYTES = 64 * 1024


def path_matcher(paths: Iterable[str]) -> Callable[[str], bool]:
    """A test for "is this request path one of the console's", from its route paths: the same first segment
    (``/runs/{id}`` covers ``/runs`` and ``/runs/...``), or the root itself."""
    segments = {"/" + path.strip("/").split("/", 1)[0] for path in paths}

    def matches(path: str) -> bool:
        return any(path == s or (s != "/" and path.startswith(s + "/")) for s in segments)

    return matches


def _cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: S112 - a malformed cookie header is the same as none
                continue
    return {name: morsel.value for name, morsel in jar.items()}


class ConsoleAuth:
    """ASGI middleware in front of the API-key middleware, for console paths only.

    With keys configured: a request carrying ``Authorization`` or ``X-Api-Key`` goes on as it is; one carrying
    the login cookie goes on with the cookie's key as ``X-Api-Key`` when that key is valid; anything else is sent
    to the sign-in page (303), the stale cookie cleared.
    """

    def __init__(
        self, app: ASGIApp, *, authenticator: ApiKeyAuthenticator, is_console_path: Callable[[str], bool]
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.is_console_path = is_console_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.authenticator.enabled
            or scope["path"] in PUBLIC_PATHS
            or not self.is_console_path(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        if any(name in (b"authorization", b"x-api-key") for name, _ in headers):
            await self.app(scope, receive, send)
            return
        key = _cookies(scope).get(KEY_COOKIE)
        if key:
            try:
                self.authenticator.authenticate({"x-api-key": key})
            except TicketsmithError:
                key = None
        if not key:
            await self._to_login(scope, receive, send)
            return
        headers.append((b"x-api-key", key.encode("latin-1")))
        await self.app({**scope, "headers": headers}, receive, send)

    async def _to_login(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = scope["path"]
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        response = RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)
        response.delete_cookie(KEY_COOKIE, path="/", httponly=True, samesite="strict")
        await response(scope, receive, send)


def safe_next(value: str | None) -> str:
    """A path on this site to go back to after signing in: ``value`` when it is one, else ``/``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def csrf_token(request: Request) -> tuple[str, bool]:
    """This browser's CSRF token, and True when it is new (the response must set the cookie)."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and 20 <= len(token) <= 100:
        return token, False
    return new_token(), True


def new_token() -> str:
    return secrets.token_urlsafe(32)


def set_cookie(response: Response, name: str, value: str, *, secure: bool) -> None:
    """Set an HttpOnly, SameSite=Strict cookie for the whole site (``Secure`` over HTTPS)."""
    response.set_cookie(name, value, path="/", httponly=True, samesite="strict", secure=secure)


async def read_form(request: Request) -> dict[str, str]:
    """The URL-encoded form of a POST, first value of each field. Raises :class:`InvalidInput` for anything
    else (a JSON body, too many fields, more than 64 KiB)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidInput("this page takes a form", hint="send application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput("the form is too large")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("the form could not be read", hint="send UTF-8, at most 20 fields") from None
    return {name: values[0] for name, values in parsed.items()}


def check_csrf(request: Request, form: dict[str, str]) -> None:
    """Raise :class:`Forbidden` unless the form's token matches this browser's CSRF cookie."""
    expected = request.cookies.get(CSRF_COOKIE, "")
    presented = form.get(CSRF_FIELD, "")
    if not expected or not presented or not hmac.compare_digest(expected.encode(), presented.encode()):
        raise Forbidden(
            "this form did not come from a console page (its security token is missing or stale)",
            hint="reload the page and send the form again",
        )
