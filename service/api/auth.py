"""API-key authentication for REST callers.

Keys come from ``TICKETSMITH_API_KEYS``. A request presents one as ``Authorization: Bearer <key>`` or
``X-Api-Key: <key>``. With no keys configured every request is the local operator, which is only safe because
``ticketsmith serve`` then refuses to bind anywhere but loopback.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from service.domain.principals import LOCAL_OPERATOR, Principal
from service.errors import Unauthorized
from service.settings import ApiKeySettings


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class ApiKeyAuthenticator:
    """Maps a presented key to its :class:`Principal`. Comparison is constant-time per configured key."""

    def __init__(self, keys: Sequence[ApiKeySettings]) -> None:
        self._keys = [
            (
                _digest(k.key.get_secret_value()),
                Principal(
                    name=k.name, action_groups=frozenset(k.action_groups), jira_projects=frozenset(k.jira_projects)
                ),
            )
            for k in keys
        ]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller named by ``headers``. Raises :class:`Unauthorized` when keys are on and none matches."""
        if not self._keys:
            return LOCAL_OPERATOR
        presented = headers.get("x-api-key")
        authorization = headers.get("authorization", "")
        if presented is None and authorization[:7].lower() == "bearer ":
            presented = authorization[7:].strip()
        if not presented:
            raise Unauthorized(
                "this service needs an API key",
                hint="send 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'",
            )
        digest = _digest(presented)
        match = None
        for known, principal in self._keys:
            if hmac.compare_digest(known, digest):
                match = principal
        if match is None:
            raise Unauthorized("unknown API key", hint="check the key against TICKETSMITH_API_KEYS")
        return match


PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


class ApiKeyMiddleware:
    """ASGI middleware: every HTTP request except ``public_paths`` must carry a valid key.

    Protected by default, so a new route cannot be exposed by forgetting a dependency. The caller's
    :class:`Principal` is stored in the request state for :func:`principal_of`; a missing or unknown key is
    answered with 401 and the shared JSON error body before any route runs or any body is read.
    """

    def __init__(
        self, app: ASGIApp, *, authenticator: ApiKeyAuthenticator, public_paths: frozenset[str] = PUBLIC_PATHS
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.public_paths:
            headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
            try:
                principal = self.authenticator.authenticate(headers)
            except Unauthorized as exc:
                response = JSONResponse(status_code=exc.status_code, content=exc.to_dict())
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def principal_of(request: Request) -> Principal:
    """The principal :class:`ApiKeyMiddleware` stored for this request."""
    principal: Principal = request.state.principal
    return principal
