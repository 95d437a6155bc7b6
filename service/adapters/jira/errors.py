"""Jira answers and transport failures translated into our error tree, with a hint that says the fix.

Jira's error body is ``{"errorMessages": [...], "errors": {"field": "message"}}`` (``ErrorCollection`` in
Atlassian's OpenAPI v3 document; examples in tests/fixtures/jira/error_400*.json).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from service.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OutcomeUnknown,
    PayloadTooLarge,
    TicketsmithError,
    Unauthorized,
    UpstreamFailed,
)


@dataclass(frozen=True)
class Answer:
    """One HTTP answer from Jira, whichever client got it."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""

    def json(self) -> Any:
        return json.loads(self.text) if self.text.strip() else None


class HttpFailure(Exception):
    """A non-2xx answer; the retry loop decides whether to try again, then :func:`translate` it."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


class TransportFailure(Exception):
    """No answer. ``sent`` is False only when the request certainly never reached Jira (connect failed)."""

    def __init__(self, cause: Exception, *, sent: bool) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause
        self.sent = sent


def jira_messages(answer: Answer) -> tuple[str, dict[str, str]]:
    """Jira's own words: the joined ``errorMessages`` and ``errors`` of the body (or its text)."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return (answer.text.strip()[:300] or f"HTTP {answer.status}"), {}
    errors = {str(k): str(v) for k, v in (body.get("errors") or {}).items()}
    parts = [str(m) for m in body.get("errorMessages") or []] + [f"{k}: {v}" for k, v in errors.items()]
    return ("; ".join(parts) or f"HTTP {answer.status}"), errors


def translate(answer: Answer, *, what: str, auth_hint: str) -> TicketsmithError:
    """The error for a final non-2xx answer to ``what`` (e.g. "create issue in OPS")."""
    message, errors = jira_messages(answer)
    status = answer.status
    details = {"status": status, "errors": errors} if errors else {"status": status}
    if status == 401:
        return Unauthorized(f"Jira refused the credentials for {what}: {message}", hint=auth_hint, details=details)
    if status == 403:
        return Forbidden(
            f"Jira does not allow {what}: {message}",
            hint="give the Jira account the project permission this needs (Browse, Create, Edit, Transition issues)",
            details=details,
        )
    if status == 404:
        return NotFound(f"Jira has no such thing for {what}: {message}", hint="check the issue or project key")
    if status == 409:
        return Conflict(f"Jira reports a conflict for {what}: {message}", hint="read the issue again and retry")
    if status == 413:
        return PayloadTooLarge(f"Jira refused {what} as too large: {message}", hint="shorten the text")
    if status == 429:
        return UpstreamFailed(
            f"Jira kept rate-limiting {what} (429) after our retries",
            hint="slow down, or raise TICKETSMITH_JIRA__MAX_RETRIES",
            details=details,
        )
    if status >= 500 or status == 410:
        return UpstreamFailed(f"Jira failed {what} (HTTP {status}): {message}", hint="try again later", details=details)
    return InvalidInput(
        f"Jira refused {what}: {message}",
        hint="correct the named fields; `ticketsmith jira check` lists the fields the project requires",
        details=details,
    )


def unknown_outcome(what: str, cause: str) -> OutcomeUnknown:
    return OutcomeUnknown(
        f"{what}: the answer was lost ({cause}); it may or may not have happened",
        hint="look the ticket up by its fingerprint label before trying again",
    )


def unreachable(what: str, cause: str, url: str) -> UpstreamFailed:
    return UpstreamFailed(
        f"cannot reach Jira at {url} for {what}: {cause}",
        hint="check TICKETSMITH_JIRA__URL, the network and any proxy, then retry",
    )
