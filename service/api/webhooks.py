"""``POST /v1/webhooks/jira``: verify, deduplicate, persist, answer 202 — the work happens in a job.

Jira retries a delivery on 408/409/425/429/5xx and timeouts, with the same ``X-Atlassian-Webhook-Identifier``;
so the answer comes as soon as the delivery is safely in the job queue, duplicates are recognised by that
identifier, and payloads we will never accept get a 4xx (never a 5xx, which would make Jira retry forever).
The signature is ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` with the shared secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.routing import Route

from service.domain.jobs import JobRequest
from service.errors import Forbidden, InvalidInput, TicketsmithError, Unauthorized
from service.jobs.jira_webhooks import JIRA_WEBHOOK

JIRA_WEBHOOK_PATH = "/v1/webhooks/jira"


def signature_matches(raw_body: bytes, header: str | None, secret: str) -> bool:
    """True when ``header`` is ``sha256=<hex HMAC-SHA256(secret, raw_body)>``; compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256=") :].strip().lower())


def _actor(payload: dict[str, Any]) -> str | None:
    comment = payload.get("comment")
    for holder in (payload.get("user"), comment.get("author") if isinstance(comment, dict) else None):
        if isinstance(holder, dict) and isinstance(holder.get("accountId"), str):
            return str(holder["accountId"])
    return None


def _error(error: TicketsmithError) -> JSONResponse:
    return JSONResponse(status_code=error.status_code, content=error.to_dict())


async def receive_jira_webhook(request: Request) -> Response:
    container = request.app.state.container
    settings = container.settings.webhook
    if settings.secret is None:
        return _error(
            Forbidden("Jira webhooks are disabled", hint="set TICKETSMITH_WEBHOOK__SECRET to the webhook's secret")
        )
    raw = await request.body()
    if not signature_matches(raw, request.headers.get("x-hub-signature"), settings.secret.get_secret_value()):
        return _error(Unauthorized("missing or wrong X-Hub-Signature", hint="check the webhook secret in Jira"))
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _error(InvalidInput("the webhook body is not JSON"))
    except RecursionError:  # the JSON decoder recurses once per nested array or object
        return _error(InvalidInput("the webhook body nests too deeply"))
    if not isinstance(payload, dict):
        return _error(InvalidInput("the webhook body is not a JSON object"))
    actor = _actor(payload)
    if actor is not None and actor in settings.ignore_account_ids:
        return JSONResponse(
            status_code=202, content={"status": "ignored", "reason": "event caused by an ignored account"}
        )
    identifier = request.headers.get("x-atlassian-webhook-identifier") or "sha256:" + hashlib.sha256(raw).hexdigest()
    now = datetime.now(UTC)
    issue_field = payload.get("issue")
    issue: dict[str, Any] = issue_field if isinstance(issue_field, dict) else {}
    # Joins the other deliveries arriving now in one transaction; returns after the commit that stored it.
    queued = await container.job_intake.enqueue(
        JobRequest(
            kind=JIRA_WEBHOOK,
            payload={
                "identifier": identifier,
                "event": payload.get("webhookEvent"),
                "issue_key": issue.get("key"),
                "actor": actor,
                "retry": request.headers.get("x-atlassian-webhook-retry"),
                "body": payload,
            },
            now=now,
            dedup_key=f"jira-webhook:{identifier}",
        )
    )
    status = "accepted" if queued.created else "duplicate"
    return JSONResponse(status_code=202, content={"status": status, "jobId": queued.job.id})


route = Route(JIRA_WEBHOOK_PATH, receive_jira_webhook, methods=["POST"], include_in_schema=False)
