"""Step ``write``: the planner writes each problem's ticket (summary, why it matters, where, suggested fix,
citations). The text passes the redaction gate before it is kept; summaries fit Jira's 255 characters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.orchestrator.planner import TicketContext
from service.orchestrator.workflow import Checkpoint, StepContext
from service.tickets.limits import cut_body, cut_summary

SCAN_LABEL = "ticketsmith-scan"


@dataclass(frozen=True)
class WriteStep:
    name: str = "write"

    def run(self, ctx: StepContext) -> Checkpoint:
        contexts = [TicketContext.of(c) for c in ctx.checkpoint["inspect"]["contexts"]]
        planner = ctx.services.planner
        drafts: list[dict[str, Any]] = []
        for number, context in enumerate(contexts, 1):
            ctx.ensure_budget()
            ctx.services.echo(f"writing ticket {number}/{len(contexts)}")
            written = planner.write_ticket(context, recorder=ctx.recorder, budget=ctx.budget)
            drafts.append(
                {
                    "fingerprint": context.fingerprint,
                    "summary": cut_summary(ctx.services.redact(written.summary)),
                    "description": cut_body(ctx.services.redact(written.body_markdown)),
                    "labels": [SCAN_LABEL, context.category],
                    "severity": context.severity,
                    "prompt": written.prompt,
                    "prompt_version": written.prompt_version,
                    "model_id": written.model_id,
                    "locations": [
                        {"path": x.path, "start_line": x.start_line, "link": x.link} for x in context.locations
                    ],
                }
            )
        return {"write": {"drafts": drafts, "planner": planner.model_id}}
