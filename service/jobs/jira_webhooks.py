"""The job behind every accepted Jira webhook delivery.

Configurable triggers (e.g. "label ts-suggest → suggest workflow") are not built yet; until they are, the job
records which event arrived for which issue, and that it started nothing.
"""

from __future__ import annotations

from typing import Any

from service.domain.jobs import Job

JIRA_WEBHOOK = "jira.webhook"


async def record_jira_webhook(job: Job) -> dict[str, Any]:
    """Handler: summarise the delivery in the job's result. Idempotent."""
    return {
        "event": job.payload.get("event"),
        "issue": job.payload.get("issue_key"),
        "actor": job.payload.get("actor"),
        "started": [],
        "note": "no webhook triggers are configured in this version",
    }
