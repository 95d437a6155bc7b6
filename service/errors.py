"""The one exception tree. Every error a caller can see is one of these, rendered at the edges.

::

    TicketsmithError                      (status 400 unless a subclass says otherwise)
    ├── InvalidInput            400  the request is malformed (bad JSON, bad event shape)
    │   └── ValidationFailed    422  well-formed but a parameter or body field is missing or mistyped
    ├── Unauthorized            401  no or unknown API key
    ├── Forbidden               403  the key exists but its scopes do not cover the target
    ├── NotFound                404  unknown path, function, action group or record
    ├── HandlerTimeout          408  the handler ran past its time limit
    ├── Conflict                409  the target changed under us
    ├── PayloadTooLarge         413  the body is over the configured limit
    ├── Cancelled               499  the caller went away before the handler finished (recorded, never sent)
    ├── HandlerFailed           424  the handler or a dependency it calls failed
    │   └── UpstreamFailed      502  a remote service (Jira, Bedrock, an LLM) failed after our retries
    │       └── OutcomeUnknown  502  a remote write may or may not have happened (look it up before retrying)
    └── ConfigurationError      (not an HTTP error: the service cannot start as configured)

Edges: ``api/errors.py`` renders JSON for REST, ``action_groups/envelope.py`` renders the Bedrock envelope
(``retryable`` errors become ``responseState: REPROMPT`` for function-details groups), ``cli.py`` prints
``message`` and ``hint`` and exits non-zero. No code path lets an exception become an HTTP 500: unknown
exceptions are wrapped in :class:`HandlerFailed` by the dispatcher and by the REST catch-all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class TicketsmithError(Exception):
    """Base of every error we raise on purpose.

    ``code`` is a stable machine-readable token; ``message`` says what happened; ``hint`` says what to do;
    ``details`` carries structured data (e.g. the list of validation errors). ``retryable`` is True when the
    caller (often a model) should correct its input and try again.
    """

    status_code: int = 400
    code: str = "error"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body shared by every edge: ``{"error": {code, message, hint?, details?}}``."""
        body: dict[str, Any] = {"code": self.code, "message": self.message, "retryable": self.retryable}
        if self.hint:
            body["hint"] = self.hint
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class InvalidInput(TicketsmithError):
    status_code = 400
    code = "invalid_input"
    retryable = True


class ValidationFailed(InvalidInput):
    status_code = 422
    code = "validation_failed"


def validation_failed(
    errors: Iterable[Mapping[str, Any]], *, subject: str, loc_prefix: tuple[str, ...] = ()
) -> ValidationFailed:
    """One :class:`ValidationFailed` from pydantic-style errors (``loc``, ``msg``, ``type``).

    Shared by the REST edge and the Bedrock dispatcher so both name invalid fields the same way. ``loc_prefix``
    is put in front of every ``loc`` in the details (e.g. ``("parameters",)``) and left out of the summary.
    """
    details = [
        {
            "loc": [*loc_prefix, *(str(p) for p in err.get("loc", ()))],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in errors
    ]
    summary = "; ".join(f"{'.'.join(d['loc'][len(loc_prefix) :]) or subject}: {d['msg']}" for d in details)
    return ValidationFailed(
        f"invalid {subject}: {summary}", hint="correct the named fields and call again", details=details
    )


class Unauthorized(TicketsmithError):
    status_code = 401
    code = "unauthorized"


class Forbidden(TicketsmithError):
    status_code = 403
    code = "forbidden"


class NotFound(TicketsmithError):
    status_code = 404
    code = "not_found"
    retryable = True


class HandlerTimeout(TicketsmithError):
    status_code = 408
    code = "handler_timeout"


class Conflict(TicketsmithError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(TicketsmithError):
    status_code = 413
    code = "payload_too_large"


class Cancelled(TicketsmithError):
    status_code = 499
    code = "cancelled"


class HandlerFailed(TicketsmithError):
    status_code = 424
    code = "handler_failed"


class StoreUnavailable(HandlerFailed):
    """The service's own database could not store the request: nothing of it was kept. A 503, so senders that
    retry on 5xx (Jira's webhooks do) send it again."""

    status_code = 503
    code = "store_unavailable"


class UpstreamFailed(HandlerFailed):
    """A remote service failed or stayed unreachable after the adapter's own retries."""

    status_code = 502
    code = "upstream_failed"


class OutcomeUnknown(UpstreamFailed):
    """A remote write (a ticket create) may have happened: timeout, 5xx or a dropped connection after sending.

    Never retry blindly: look the result up (e.g. by the fingerprint label) first.
    """

    code = "outcome_unknown"


class ConfigurationError(TicketsmithError):
    """The service cannot start as configured. Raised at start-up, printed by the CLI."""

    status_code = 400
    code = "configuration_error"
