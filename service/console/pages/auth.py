"""Signing in with an API key (kept in an HttpOnly, SameSite=Strict cookie) and signing out."""

from __future__ import annotations

import anyio.to_thread
from fastapi import Query, Request, Response
from fastapi.responses import RedirectResponse

from service.api.auth import ApiKeyAuthenticator
from service.console.routing import router
from service.console.session import (
    AUTHENTICATOR_STATE,
    CSRF_COOKIE,
    KEY_COOKIE,
    LOGIN_PATH,
    LOGOUT_PATH,
    check_csrf,
    new_token,
    read_form,
    safe_next,
    set_cookie,
)
from service.console.templating import render
from service.errors import Unauthorized


def _authenticator(request: Request) -> ApiKeyAuthenticator:
    authenticator: ApiKeyAuthenticator = getattr(request.app.state, AUTHENTICATOR_STATE)
    return authenticator


@router.get(LOGIN_PATH)
def login_page(request: Request, next: str = Query(default="/", max_length=2000)) -> Response:
    """The sign-in form; with no keys configured there is nothing to sign in to."""
    if not _authenticator(request).enabled:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"title": "Sign in", "active": "", "next": safe_next(next), "failed": None})


@router.post(LOGIN_PATH)
async def login(request: Request) -> Response:
    """Check the key; on success keep it in the cookie, start a new CSRF token and go where the user was."""
    form = await read_form(request)
    check_csrf(request, form)
    target = safe_next(form.get("next"))
    authenticator = _authenticator(request)
    if not authenticator.enabled:
        return RedirectResponse(target, status_code=303)
    key = form.get("api_key", "").strip()
    try:
        await anyio.to_thread.run_sync(lambda: authenticator.authenticate({"x-api-key": key}))
    except Unauthorized as exc:
        context = {"title": "Sign in", "active": "", "next": target, "failed": exc}
        return render(request, "login.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    set_cookie(response, KEY_COOKIE, key, secure=secure)
    set_cookie(response, CSRF_COOKIE, new_token(), secure=secure)
    return response


@router.post(LOGOUT_PATH)
async def logout(request: Request) -> Response:
    """Forget the key (and the CSRF token) in this browser."""
    form = await read_form(request)
    check_csrf(request, form)
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(KEY_COOKIE, path="/", httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", httponly=True, samesite="strict")
    return response
