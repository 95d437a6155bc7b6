"""Step ``file``: create or update one ticket per written draft through the ticket filer, within the run's
ticket budget and only when the policy allows ``tickets.file``. A dry run files nothing and keeps the drafts.

Safe to run again after a crash: the filer claims each fingerprint in the ledger before creating, so a draft
filed by the attempt that crashed comes back as already filed, never as a second ticket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.domain.tickets import TicketDraft
from service.errors import TicketsmithError
from service.orchestrator.workflow import Checkpoint, StepContext, StepStopped, guard
from service.tickets.filing import FilingAction, FilingOutcome

ACTION = "tickets.file"
PROGRESS = "file_progress"
CHARGED = frozenset(
    {FilingAction.CREATED, FilingAction.UPDATED, FilingAction.COMMENTED, FilingAction.REOPENED, FilingAction.LINKED}
)


def _draft(project_key: str, data: Mapping[str, Any]) -> TicketDraft:
    return TicketDraft(
        project_key=project_key,
        summary=str(data["summary"]),
        description=str(data["description"]),
        labels=tuple(str(x) for x in data.get("labels", ())),
        fingerprint=str(data["fingerprint"]),
    )


def _row(data: Mapping[str, Any], action: str, key: str | None, reason: str, url: str | None) -> dict[str, Any]:
    return {
        "fingerprint": data["fingerprint"],
        "summary": data["summary"],
        "severity": data.get("severity"),
        "action": action,
        "key": key,
        "url": url,
        "reason": reason,
    }


@dataclass(frozen=True)
class FileStep:
    name: str = "file"

    def run(self, ctx: StepContext) -> Checkpoint:
        drafts: list[Mapping[str, Any]] = list(ctx.checkpoint["write"]["drafts"])
        left_over = list(ctx.checkpoint["inspect"].get("left_over", ()))
        if ctx.dry_run:
            ctx.recorder.rationale(f"dry run: {len(drafts)} tickets are drafted and none is filed")
            rows = [_row(d, "drafted", None, "dry run: not filed", None) for d in drafts]
            for data in drafts:
                ctx.services.echo(f"would file: {data['summary']}")
            return self._done(ctx, rows, drafts, left_over)
        allowed, reason = guard(ctx, ACTION)
        if not allowed:
            rows = [_row(d, "denied", None, reason, None) for d in drafts]
            return self._done(ctx, rows, drafts, left_over)
        # What an earlier attempt of this step finished (saved after each ticket) is not filed again.
        finished = {row["fingerprint"]: row for row in ctx.checkpoint.get(PROGRESS, {}).get("tickets", ())}
        rows = []
        for number, data in enumerate(drafts, 1):
            if data["fingerprint"] in finished:
                rows.append(finished[data["fingerprint"]])
                continue
            if ctx.budget.tickets_left <= 0:
                spent = "the run's ticket budget is spent"
                rows.extend(_row(d, "not_filed", None, spent, None) for d in drafts[number - 1 :])
                break
            ctx.services.echo(f"filing {number}/{len(drafts)}: {data['summary']}")
            rows.append(self._file(ctx, data))
            ctx.progress({PROGRESS: {"tickets": list(rows)}})
        return self._done(ctx, rows, drafts, left_over)

    def _file(self, ctx: StepContext, data: Mapping[str, Any]) -> dict[str, Any]:
        filer = ctx.services.filer
        draft = _draft(ctx.services.project_key, data)
        with ctx.recorder.tool(
            ACTION, {"fingerprint": draft.fingerprint, "project_key": draft.project_key, "summary": draft.summary}
        ) as call:
            try:
                outcome = filer.file(draft)
            except TicketsmithError as exc:
                # Refused by the tracker (a field it will not take): nothing was kept; the others go on.
                outcome = FilingOutcome(FilingAction.SKIPPED, str(draft.fingerprint), None, exc.message)
                call.status = "error"
            call.observation = {"action": outcome.action.value, "key": outcome.ticket_key, "reason": outcome.reason}
        if outcome.action in CHARGED:
            ctx.budget.charge(tickets=1)
        url = None
        if outcome.ticket_key:
            try:
                url = filer.tracker.get(key=outcome.ticket_key).url
            except TicketsmithError:
                url = None
        return _row(data, outcome.action.value, outcome.ticket_key, outcome.reason, url)

    def _done(
        self,
        ctx: StepContext,
        rows: list[dict[str, Any]],
        drafts: list[Mapping[str, Any]],
        left_over: list[Any],
    ) -> Checkpoint:
        update: Checkpoint = {"file": {"tickets": rows, "left_over": left_over, "dry_run": ctx.dry_run}}
        unfiled = sum(1 for row in rows if row["action"] == "not_filed") + len(left_over)
        if unfiled:
            raise StepStopped("tickets", update)
        return update
