"""Step ``read_ticket`` of the suggest workflow: the Jira ticket the suggestion is for.

The ticket's text is written by whoever can edit the ticket: it is kept as data (through the redaction gate)
and only ever reaches a model wrapped by :func:`service.guardrails.untrusted.as_data`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.errors import InvalidInput
from service.orchestrator.workflow import Checkpoint, StepContext, require

ACTION = "jira.getIssue"
ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,63}-[1-9][0-9]{0,17}")
DESCRIPTION_CHARS = 20_000


def issue_key(value: object) -> str:
    """``value`` as a Jira issue key (``OPS-12``); :class:`InvalidInput` for anything else."""
    text = str(value or "").strip().upper()
    if not ISSUE_KEY.fullmatch(text):
        raise InvalidInput(
            f"{value!r} is not a Jira issue key", hint="give the key of the ticket to suggest a change for, e.g. OPS-12"
        )
    return text


@dataclass(frozen=True)
class ReadTicketStep:
    name: str = "read_ticket"

    def run(self, ctx: StepContext) -> Checkpoint:
        key = issue_key(ctx.parameters.get("issue"))
        require(ctx, ACTION)
        ctx.services.echo(f"reading {key}")
        tracker = ctx.services.filer.tracker
        with ctx.recorder.tool(ACTION, {"key": key}) as call:
            ticket = tracker.get(key=key)
            call.observation = {"key": ticket.key, "status": ticket.status, "issue_type": ticket.issue_type}
        gate = ctx.services.redact
        return {
            "read_ticket": {
                "key": ticket.key,
                "url": ticket.url,
                "project_key": ticket.project_key,
                "summary": gate(ticket.summary),
                "description": gate(ticket.description[:DESCRIPTION_CHARS]),
                "issue_type": ticket.issue_type,
                "status": ticket.status,
                "tracker": tracker.name,
            }
        }
