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


def require_principal(request: Request) -> Principal:
    """FastAPI dependency: authenticate the request and keep the principal on ``request.state``."""
    authenticator: ApiKeyAuthenticator = request.app.state.authenticator
    principal = authenticator.authenticate(request.headers)
    request.state.principal = principal
    return principal


def principal_of(request: Request) -> Principal:
    """The principal :func:`require_principal` stored for this request."""
    principal: Principal = request.state.principal
    return principal
